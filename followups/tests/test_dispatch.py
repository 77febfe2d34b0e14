"""The dispatcher's claim on PostgreSQL: due rows only, each once, even with two beats at once."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from deals import services as deal_services
from followups import services
from followups.models import FollowUp, FollowUpState


def _close_many(world, sequence, lost_deal, count: int):
    for n in range(count):
        deal_services.deal_mark_lost(
            deal=lost_deal(contacts=[(f"Buyer {n}", f"buyer{n}@birch.example")]),
            reason=world.reasons["no-budget"],
            actor=world.alice,
            nurture_sequence=sequence,
        )


def test_claim_takes_due_rows_marks_them_queued_and_hands_them_out_after_commit(
    world, sequence, lost_deal, django_capture_on_commit_callbacks
):
    _close_many(world, sequence, lost_deal, 3)
    handed = []
    with django_capture_on_commit_callbacks(execute=True):
        ids = services.followups_claim(now=timezone.now() + timedelta(days=1, hours=1), enqueue=handed.extend)
    assert len(ids) == 3  # the day-1 owner tasks; the emails are not due yet
    assert sorted(handed) == sorted(ids)
    claimed = FollowUp.objects.filter(pk__in=ids)
    assert set(claimed.values_list("state", "kind")) == {("queued", "owner_task")}
    assert FollowUp.objects.filter(state="pending").count() == 6
    # Claimed rows are not claimed again while their worker has them.
    assert (
        services.followups_claim(now=timezone.now() + timedelta(days=1, hours=1), enqueue=handed.extend) == []
    )


def test_a_snoozed_follow_up_comes_back_on_its_new_date(world, sequence, lost_deal):
    _close_many(world, sequence, lost_deal, 1)
    task = FollowUp.objects.get(kind="owner_task")
    FollowUp.objects.filter(pk=task.pk).update(due_at=timezone.now() - timedelta(hours=1))  # overdue now
    services.followup_snooze(followup=task, actor=world.alice, days=7)
    task.refresh_from_db()
    assert task.state == FollowUpState.SNOOZED
    assert timedelta(days=6, hours=23) < task.due_at - timezone.now() <= timedelta(days=7)
    noop = []
    assert task.pk not in services.followups_claim(
        now=timezone.now() + timedelta(days=6), enqueue=noop.extend
    )
    back = services.followups_claim(now=timezone.now() + timedelta(days=7, minutes=1), enqueue=noop.extend)
    assert task.pk in back


@pytest.mark.django_db(transaction=True)
def test_two_dispatchers_at_once_never_claim_the_same_row(world, sequence, lost_deal):
    assert connection.vendor == "postgresql"
    _close_many(world, sequence, lost_deal, 100)  # 300 follow-ups
    now = timezone.now() + timedelta(days=10)
    claims: dict[str, list[int]] = {"a": [], "b": []}
    start = threading.Barrier(2)
    errors = []

    def beat(name: str):
        try:
            start.wait()
            while True:
                ids = services.followups_claim(now=now, limit=7, enqueue=lambda ids: None)
                if not ids:
                    break
                claims[name].extend(ids)
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=beat, args=(name,)) for name in claims]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    a, b = set(claims["a"]), set(claims["b"])
    assert len(a) == len(claims["a"]) and len(b) == len(claims["b"])
    assert a.isdisjoint(b)
    assert a and b  # both really ran
    assert a | b == set(FollowUp.objects.values_list("pk", flat=True))
    assert FollowUp.objects.exclude(state=FollowUpState.QUEUED).count() == 0


def test_rows_handed_out_but_never_finished_are_handed_out_again_after_the_lease(
    world, sequence, lost_deal, settings
):
    _close_many(world, sequence, lost_deal, 2)
    now = timezone.now() + timedelta(days=1, hours=1)
    noop = []
    first = services.followups_claim(now=now, enqueue=noop.extend)
    assert len(first) == 2
    assert services.followups_claim(now=now + timedelta(minutes=5), enqueue=noop.extend) == []
    lease = timedelta(seconds=settings.FOLLOWUPS_CLAIM_LEASE)
    assert sorted(
        services.followups_claim(now=now + lease + timedelta(seconds=1), enqueue=noop.extend)
    ) == sorted(first)


def test_the_dispatcher_drains_every_batch(world, sequence, lost_deal, django_capture_on_commit_callbacks):
    _close_many(world, sequence, lost_deal, 5)
    handed = []
    with django_capture_on_commit_callbacks(execute=True):
        count = services.followups_dispatch(
            now=timezone.now() + timedelta(days=10), batch_size=4, enqueue=handed.extend
        )
    assert count == 15
    assert len(set(handed)) == 15


def test_the_claim_query_uses_the_partial_due_index(world, sequence, lost_deal):
    _close_many(world, sequence, lost_deal, 2)
    query = (
        FollowUp.objects.filter(state__in=["pending", "snoozed"], due_at__lte=timezone.now())
        .order_by("due_at")
        .values_list("pk", flat=True)[:500]
    )
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table: make the planner show its index
        plan = query.explain()
    assert "followup_due" in plan
