"""The outbox's rules without a worker: claim, run each item once, retry later, sweep, and
what operators see (/health/, manage.py outbox, the integrations page)."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from outbox import kinds, services
from outbox.models import Message

CALLS: list = []


@pytest.fixture
def test_kind():
    def handle(item):
        CALLS.append(item)
        return 5.0 if item == "later" else None

    CALLS.clear()
    kinds.register("test.kind", label="Test work", handle=handle, failures=lambda: 7)
    yield "test.kind"
    kinds.KINDS.pop("test.kind")


def test_a_message_runs_each_item_once_and_what_must_wait_comes_back_as_its_own_row(db, test_kind):
    [pk] = services.handoff_enqueue(kind=test_kind, items=["a", "later", "b"])
    assert services.message_deliver(message_id=pk).startswith("2 finished, 1 to try again")
    assert CALLS == ["a", "later", "b"]
    assert services.message_deliver(message_id=pk) == "finished already"  # a second copy: nothing
    assert CALLS == ["a", "later", "b"]
    again = Message.objects.get()
    assert again.items == ["later"] and again.due_at > timezone.now()


def test_a_message_a_worker_holds_is_left_alone_until_its_lease_ends(db, test_kind):
    [pk] = services.handoff_enqueue(kind=test_kind, items=["a"])
    Message.objects.filter(pk=pk).update(claimed_until=timezone.now() + timedelta(seconds=30))
    assert services.message_deliver(message_id=pk) == "held by another worker"
    assert services.messages_sweep(now=timezone.now() + timedelta(seconds=25)) == 0  # still held
    Message.objects.filter(pk=pk).update(claimed_until=timezone.now() - timedelta(seconds=1))
    assert services.message_deliver(message_id=pk).startswith("1 finished")
    assert CALLS == ["a"]


def test_an_unknown_kind_fails_in_the_callers_transaction(db):
    with pytest.raises(KeyError):
        services.handoff_enqueue(kind="nobody.registered", items=[1])


def test_operators_see_the_backlog_per_kind(client, world, test_kind, settings, redis_clean):
    services.handoff_enqueue(kind=test_kind, items=[1, 2, 3])
    made = timezone.now()
    Message.objects.update(created_at=made - timedelta(seconds=90))

    health = client.get("/health/").json()
    # 90 s plus however long the request took (no bound on the machine's speed)
    waited = (timezone.now() - made).total_seconds()
    assert 89 < health["outbox_backlog_seconds"] <= 91 + waited

    out = io.StringIO()
    call_command("outbox", stdout=out)
    line = next(row for row in out.getvalue().splitlines() if row.startswith("test.kind"))
    kind, waiting, unpublished, oldest, failures, crashed = line.split()
    assert (kind, waiting, unpublished, failures, crashed) == ("test.kind", "3", "1", "7", "0")
    waited = (timezone.now() - made).total_seconds()
    assert oldest.endswith("s") and 90 <= int(oldest[:-1]) <= 91 + waited

    client.force_login(world.alice)
    publish = reverse("crm:handoffs-publish", args=[test_kind])
    assert client.post(publish).status_code == 403  # reps do not run the integrations
    client.force_login(world.carol)
    page = client.get(reverse("crm:integrations")).content.decode()
    assert "Test work" in page and "1 not yet in the broker" in page
    waited = (timezone.now() - made).total_seconds()
    assert any(f'data-field="oldest">{n}s<' in page for n in range(90, 92 + int(waited)))
    assert client.post(reverse("crm:handoffs-publish", args=["nobody.registered"])).status_code == 404
    assert client.post(publish).status_code == 302
    assert Message.objects.get().published_at is not None
    assert redis_clean.llen("celery") == 1
