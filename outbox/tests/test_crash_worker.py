"""With a real worker and Redis: a hand-off whose handler raises on every call (the owner's
mail server refuses the needs-a-reason e-mail) is tried the configured number of times with
growing waits, then fails for good; the admins get one e-mail; other work keeps flowing; the
page shows the error; replay after the cause is fixed delivers it once; discard keeps a history."""

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.tests.conftest import HUBSPOT_SECRET, hubspot_event, sign_hubspot
from followups.tests.conftest import wait_for
from outbox.models import HandoffEvent, Message

pytestmark = pytest.mark.django_db(transaction=True)

ATTEMPTS, BACKOFF = 4, 2  # the worker's OUTBOX_MAX_ATTEMPTS and OUTBOX_RETRY_BACKOFF (seconds)
REMINDER = "crm.reminder"


def _close_lost_in_hubspot(client, deals) -> None:
    """HubSpot says each deal moved to closed-lost, without a reason: each owner is asked for one."""
    body = json.dumps(
        [hubspot_event(eventId=900 + n, objectId=int(deal.hubspot_id)) for n, deal in enumerate(deals)]
    ).encode()
    uri = "http://testserver/webhooks/hubspot/"
    response = client.post(
        "/webhooks/hubspot/", body, content_type="application/json",
        **sign_hubspot(secret=HUBSPOT_SECRET, uri=uri, body=body),
    )  # fmt: skip
    assert (response.status_code, response.json()) == (200, {"stored": len(deals)})


def test_a_handler_that_always_raises_ends_failed_for_good_and_is_replayed_once(
    client, world, connections, workers, smtp_inbox, monkeypatch
):
    monkeypatch.setenv("OUTBOX_MAX_ATTEMPTS", str(ATTEMPTS))
    monkeypatch.setenv("OUTBOX_RETRY_BACKOFF", str(BACKOFF))
    alice, dave, erin, carol = world.alice, world.dave, world.erin, world.carol
    smtp_inbox.refuse = {alice.email, dave.email}  # their mail server refuses: send() raises
    deals = [
        world.deal(owner="alice", hubspot_id="7001"),
        world.deal(owner="dave", hubspot_id="7002"),
        world.deal(owner="erin", hubspot_id="7003"),
    ]
    workers.start(concurrency=2)
    _close_lost_in_hubspot(client, deals)

    failed = Message.objects.filter(kind=REMINDER, failed_at__isnull=False)
    wait_for(lambda: failed.count() == 2, timeout=90, message="both reminders failed for good")

    # Tried ATTEMPTS times each, not fewer, with growing waits (each at least its backoff's floor).
    for address in (alice.email, dave.email):
        times = [at for to, at in smtp_inbox.refused if to == address]
        assert len(times) == ATTEMPTS, smtp_inbox.refused
        gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
        assert all(gap >= BACKOFF * 2**n / 2 for n, gap in enumerate(gaps)), gaps
    # The rest of the queue kept flowing meanwhile: erin's reminder went out at once.
    [to_erin] = smtp_inbox.to(erin.email)
    assert "Give a reason" in to_erin["Subject"]
    assert not Message.objects.filter(kind=REMINDER, failed_at__isnull=True).exists()
    for message in failed:
        assert message.crashes == ATTEMPTS and message.last_error.startswith("smtplib.SMTPRecipientsRefused:")

    # The admins get one e-mail (the second failure within the hour waits for the next one).
    wait_for(lambda: smtp_inbox.to(carol.email), timeout=30, message="the admins' e-mail")
    soon = Message.objects.filter(kind="outbox.alert", due_at__lt=timezone.now() + timedelta(minutes=30))
    wait_for(lambda: not soon.exists(), timeout=30, message="the alerts handled (a later one waits an hour)")
    [alert] = smtp_inbox.to(carol.email)
    assert "failed for good" in alert["Subject"]
    assert "SMTPRecipientsRefused" in alert.get_body(("plain",)).get_content()
    assert not smtp_inbox.to(world.bob.email)  # a manager is not an admin

    # The page shows both with their error.
    client.force_login(carol)
    page = client.get(reverse("outbox:failures")).content.decode()
    assert "2 crashed" in page and page.count("smtplib.SMTPRecipientsRefused") >= 2

    # The cause is fixed; alice's is replayed and delivered once. dave's is discarded.
    smtp_inbox.refuse = set()
    by_owner = {m.items[0]: m for m in failed}
    alice_message, dave_message = by_owner[deals[0].pk], by_owner[deals[1].pk]
    assert client.post(reverse("outbox:replay"), {"message": alice_message.pk}).status_code == 302
    wait_for(lambda: smtp_inbox.to(alice.email), timeout=30, message="alice's reminder")
    wait_for(lambda: not Message.objects.filter(pk=alice_message.pk).exists(), timeout=30, message="done")
    assert client.post(reverse("outbox:discard"), {"message": dave_message.pk}).status_code == 302
    assert not Message.objects.filter(kind=REMINDER).exists()
    actions = set(HandoffEvent.objects.filter(actor=carol).values_list("message_id", "action"))
    assert actions == {(alice_message.pk, "replayed"), (dave_message.pk, "discarded")}
    assert len(smtp_inbox.to(alice.email)) == 1 and not smtp_inbox.to(dave.email)
    assert len(smtp_inbox.to(carol.email)) == 1 and len(smtp_inbox.to(erin.email)) == 1
