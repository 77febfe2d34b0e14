"""Items whose handler raises: counted attempts with growing waits, failed for good after the
kind's last, shown to admins (page, /health/, manage.py outbox, one e-mail per kind per hour),
replayed or discarded with a history row. The worker's side of the same: test_crash_worker.py."""

import io
from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from outbox import failures, kinds, services
from outbox.models import HandoffEvent, Message

CALLS: list = []
BROKEN = {"yes": True}


class TemplateBroken(ValueError):
    pass


@pytest.fixture
def crashing_kind(settings):
    """A kind whose handler raises for item "bad" while BROKEN says so (with a secret in a local)."""
    settings.OUTBOX_MAX_ATTEMPTS = 4
    settings.OUTBOX_RETRY_BACKOFF = 30
    settings.OUTBOX_REPUBLISH_AFTER = 10  # every wait here is longer: the sweep's, due_at exact

    def handle(item):
        password = "s3cret-in-a-frame"  # noqa: S105, F841 - must never reach the page or the e-mail
        CALLS.append(item)
        if item == "bad" and BROKEN["yes"]:
            raise TemplateBroken("the step's template no longer renders: 'deal.nme'")
        return None

    CALLS.clear()
    BROKEN["yes"] = True
    kinds.register("test.crashing", label="Crashing work", handle=handle)
    yield "test.crashing"
    kinds.KINDS.pop("test.crashing")


def _deliver_until_failed(kind: str, *, limit: int = 10) -> list[float]:
    """Deliver the crashing item each time it is due; the waits it was given, in seconds."""
    waits = []
    for _ in range(limit):
        message = Message.objects.filter(kind=kind, failed_at__isnull=True).first()
        if message is None:
            return waits
        before = timezone.now()
        services.message_deliver(message_id=message.pk)
        again = Message.objects.filter(kind=kind, failed_at__isnull=True).first()
        if again is not None:
            waits.append((again.due_at - before).total_seconds())
    raise AssertionError("never failed for good")


def test_an_item_that_raises_is_tried_with_growing_waits_then_fails_for_good(db, crashing_kind):
    services.handoff_enqueue(kind=crashing_kind, items=["a", "bad", "b"])
    waits = _deliver_until_failed(crashing_kind)

    assert CALLS == ["a", "bad", "b", "bad", "bad", "bad"]  # 4 attempts in all, not fewer, not more
    # Each wait is the backoff: 30 s doubling, with jitter in its upper half.
    assert len(waits) == 3 and waits[0] < waits[1] < waits[2]
    assert 15 <= waits[0] <= 31 and 30 <= waits[1] <= 61 and 60 <= waits[2] <= 121
    failed = Message.objects.get(kind=crashing_kind)
    assert failed.failed_at is not None and failed.crashes == 4 and failed.items == ["bad"]
    assert failed.last_error == (
        "outbox.tests.test_failures.TemplateBroken: the step's template no longer renders: 'deal.nme'"
    )
    assert "s3cret" not in failed.last_error and "Traceback" not in failed.last_error
    [event] = HandoffEvent.objects.all()
    assert (event.action, event.items, event.actor) == ("failed", ["bad"], None)
    # Failed for good: the sweep never publishes it again, and it leaves the backlog.
    assert services.messages_sweep(now=timezone.now() + timedelta(days=1), kind=crashing_kind) == 0
    assert CALLS.count("bad") == 4
    # ... and the admins are told, through the outbox itself.
    assert Message.objects.filter(kind=services.ALERT_KIND, items=[crashing_kind]).exists()


def test_a_reported_retry_is_not_a_crash(db, crashing_kind):
    kinds.register("test.later", label="Later", handle=lambda item: 5.0)
    try:
        [pk] = services.handoff_enqueue(kind="test.later", items=[1])
        for _ in range(6):
            services.message_deliver(message_id=pk)
            pk = Message.objects.get(kind="test.later").pk
        assert Message.objects.get(kind="test.later").failed_at is None  # its kind counts its own
    finally:
        kinds.KINDS.pop("test.later")


def test_admins_see_replay_and_discard_crashed_items(client, world, crashing_kind):
    for _ in range(3):
        services.handoff_enqueue(kind=crashing_kind, items=["bad"])
    while Message.objects.filter(kind=crashing_kind, failed_at__isnull=True).exists():
        for message in Message.objects.filter(kind=crashing_kind, failed_at__isnull=True):
            services.message_deliver(message_id=message.pk)
    services.handoff_enqueue(kind=crashing_kind, items=["waiting"])
    first, second, third = Message.objects.filter(failed_at__isnull=False).order_by("pk")

    page = reverse("outbox:failures")
    client.force_login(world.alice)
    assert client.get(page).status_code == 403  # reps and managers do not run the hand-offs
    assert client.post(reverse("outbox:replay"), {"message": first.pk}).status_code == 403
    client.force_login(world.bob)
    assert client.get(page).status_code == 403
    client.force_login(world.carol)
    html = client.get(page).content.decode()
    row = html[html.index('data-kind="test.crashing"') :].split("</tr>")[0]
    assert 'data-field="waiting">1 ' in row and ('data-field="oldest">0s<' in row or 'oldest">1s<' in row)
    assert "3 crashed" in row and "TemplateBroken: the step&#x27;s template no longer renders" in row
    assert "s3cret" not in html
    assert html.count('name="message"') >= 6  # replay and discard for each of the three

    # One item: replay after the cause is fixed runs it once, with a history row.
    BROKEN["yes"] = False
    CALLS.clear()
    response = client.post(reverse("outbox:replay"), {"message": first.pk}, follow=True)
    assert "1 hand-off sent round again." in response.content.decode()
    first.refresh_from_db()
    assert (first.failed_at, first.crashes) == (None, 0)
    assert services.message_deliver(message_id=first.pk).startswith("1 finished")
    assert services.message_deliver(message_id=first.pk) == "finished already"
    assert CALLS == ["bad"]
    replayed = HandoffEvent.objects.get(action="replayed")
    assert (replayed.message_id, replayed.actor, replayed.items) == (first.pk, world.carol, ["bad"])
    # Again: nothing failed any more, a clear message and no second history row.
    response = client.post(reverse("outbox:replay"), {"message": first.pk}, follow=True)
    assert "Nothing failed for good to replay" in response.content.decode()
    assert HandoffEvent.objects.filter(action="replayed").count() == 1

    # One item discarded: gone from the outbox, kept in the history with its error.
    client.post(reverse("outbox:discard"), {"message": second.pk})
    assert not Message.objects.filter(pk=second.pk).exists()
    discarded = HandoffEvent.objects.get(action="discarded")
    assert (discarded.message_id, discarded.actor) == (second.pk, world.carol)
    assert "TemplateBroken" in discarded.error

    # In bulk: every failed item of the kind.
    BROKEN["yes"] = True
    client.post(reverse("outbox:discard"), {"kind": crashing_kind})
    assert not Message.objects.filter(failed_at__isnull=False).exists()
    assert HandoffEvent.objects.filter(action="discarded").count() == 2
    assert client.post(reverse("outbox:discard"), {"kind": "nobody.registered"}).status_code == 404
    history = client.get(page).content.decode()
    assert history.count("Discarded") == 2 and "Replayed" in history and "Failed for good" in history


def test_bulk_replay_of_a_kind(db, world, crashing_kind):
    for _ in range(2):
        services.handoff_enqueue(kind=crashing_kind, items=["bad"])
    while Message.objects.filter(kind=crashing_kind, failed_at__isnull=True).exists():
        for message in Message.objects.filter(kind=crashing_kind, failed_at__isnull=True):
            services.message_deliver(message_id=message.pk)
    assert failures.failed_replay(actor=world.carol, kind=crashing_kind) == 2
    assert HandoffEvent.objects.filter(action="replayed").count() == 2
    assert not Message.objects.filter(failed_at__isnull=False).exists()
    with pytest.raises(failures.NothingToDo):
        failures.failed_replay(actor=world.carol, kind=crashing_kind)


def test_admins_get_one_email_per_kind_per_hour(db, world, crashing_kind, settings):
    settings.ADMINS = [("Ops", "ops@closedlost.invalid")]
    services.item_fail(kind=crashing_kind, item="bad", crashes=4, error="ValueError: first")
    assert failures.failures_alert(crashing_kind) is None
    [email] = mail.outbox
    assert set(email.to) == {world.carol.email, "ops@closedlost.invalid"}  # admins only, not reps
    assert email.subject == "Crashing work: 1 hand-off failed for good"
    assert "ValueError: first" in email.body and "/outbox/#kind-test.crashing" in email.body
    assert failures.failures_alert(crashing_kind) is None  # nothing new: nothing sent
    services.item_fail(kind=crashing_kind, item="bad2", crashes=4, error="ValueError: second")
    wait = failures.failures_alert(crashing_kind)
    assert 3590 < wait <= 3600 and len(mail.outbox) == 1  # within the hour: it waits
    an_hour_ago = timezone.now() - timedelta(hours=1)
    HandoffEvent.objects.filter(alerted_at__isnull=False).update(alerted_at=an_hour_ago)
    assert failures.failures_alert(crashing_kind) is None
    assert len(mail.outbox) == 2 and "ValueError: second" in mail.outbox[1].body
    assert "ValueError: first" not in mail.outbox[1].body


def test_health_reports_failures_with_200_and_a_stopped_sweep_with_503(client, db, crashing_kind, settings):
    assert client.get("/health/").status_code == 503  # the sweep never ran: beat is down
    assert client.get("/health/").json()["sweep"].startswith("error: never ran")
    services.sweep_heartbeat()
    services.item_fail(kind=crashing_kind, item="bad", crashes=4, error="ValueError: x")
    services.handoff_enqueue(kind=crashing_kind, items=["a", "b"])
    response = client.get("/health/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["sweep"], body["outbox_failed"]) == ("ok", "ok", 1)
    assert body["outbox_failed_by_kind"] == {crashing_kind: 1}
    assert body["outbox_waiting"] == 3  # two items and the admins' e-mail
    services.sweep_heartbeat(now=timezone.now() - timedelta(seconds=settings.OUTBOX_SWEEP_STALE_AFTER + 5))
    stale = client.get("/health/")
    assert stale.status_code == 503 and stale.json()["sweep"].startswith("error: last ran")


def test_manage_py_outbox_lists_replays_and_discards(db, crashing_kind):
    services.item_fail(kind=crashing_kind, item="bad", crashes=4, error="ValueError: broken")
    services.item_fail(kind=crashing_kind, item="worse", crashes=4, error="KeyError: 'x'")
    bad, worse = Message.objects.filter(failed_at__isnull=False).order_by("pk")
    out = io.StringIO()
    call_command("outbox", "--failed", stdout=out)
    text = out.getvalue()
    line = next(row for row in text.splitlines() if row.startswith("test.crashing"))
    assert line.split()[-1] == "2"  # crashed
    assert f"#{bad.pk} test.crashing [bad] 4 attempts" in text and "ValueError: broken" in text
    call_command("outbox", "--replay", str(bad.pk), stdout=io.StringIO())
    assert Message.objects.get(pk=bad.pk).failed_at is None
    call_command("outbox", "--discard", "--kind", crashing_kind, stdout=io.StringIO())
    assert not Message.objects.filter(pk=worse.pk).exists()
    assert list(HandoffEvent.objects.exclude(action="failed").values_list("action", "actor")) == [
        ("discarded", None),
        ("replayed", None),
    ]
    with pytest.raises(CommandError, match="Nothing failed for good"):
        call_command("outbox", "--discard", str(worse.pk), stdout=io.StringIO())


def test_a_follow_up_whose_email_crashes_fails_in_its_own_list_too_and_replays(
    world, sequence, lost_deal, settings, mailoutbox
):
    """The follow-ups' dispatcher hands out queued rows again after its lease: one whose e-mail
    crashed for good is failed there too (not handed out for ever), and a replay queues it again."""
    from deals import services as deal_services
    from followups import services as followup_services
    from followups.models import FollowUp, FollowUpKind, FollowUpState

    settings.OUTBOX_MAX_ATTEMPTS = 2
    deal = lost_deal()
    deal_services.deal_mark_lost(
        deal=deal, reason=world.reasons["no-budget"], actor=world.alice, nurture_sequence=sequence
    )
    email = FollowUp.objects.get(kind=FollowUpKind.CONTACT_EMAIL, step__position=2)
    FollowUp.objects.exclude(pk=email.pk).update(state=FollowUpState.CANCELLED)
    FollowUp.objects.filter(pk=email.pk).update(due_at=timezone.now() - timedelta(minutes=1))
    locmem = settings.EMAIL_BACKEND
    settings.EMAIL_BACKEND = f"{__name__}.CrashingBackend"  # the mail library raises: the handler crashes
    assert followup_services.followups_dispatch() == 1
    for _ in range(2):
        services.message_deliver(message_id=Message.objects.get(kind="followups.delivery").pk)
    email.refresh_from_db()
    assert email.state == FollowUpState.FAILED and "RuntimeError" in email.last_error
    later = timezone.now() + timedelta(seconds=settings.FOLLOWUPS_CLAIM_LEASE + 60)
    assert followup_services.followups_dispatch(now=later) == 0  # not handed out again

    settings.EMAIL_BACKEND = locmem
    failures.failed_replay(actor=world.carol, kind="followups.delivery")
    services.message_deliver(message_id=Message.objects.get(kind="followups.delivery").pk)
    email.refresh_from_db()
    assert email.state == FollowUpState.SENT and len(mailoutbox) == 1


class CrashingBackend:
    """An e-mail backend that raises what no handler expects (a bug in a library, say)."""

    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise RuntimeError("the mail library crashed")

    def open(self):
        pass

    def close(self):
        pass
