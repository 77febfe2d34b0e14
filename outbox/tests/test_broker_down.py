"""With the broker unreachable nothing fails and nothing is lost: webhooks are answered, closes
succeed, write-backs and follow-ups wait in the outbox; when the broker is back a worker does
each piece of work exactly once."""

import time
from collections import Counter
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.models import DealSync, WebhookEvent
from crm.tests.conftest import (
    HUBSPOT_SECRET,
    PIPEDRIVE_PASSWORD,
    PIPEDRIVE_USER,
    SALESFORCE_TOKEN,
    basic_auth,
    sign_hubspot,
)
from deals.models import DealEvent, DealStatus
from followups import services as followup_services
from followups.models import FollowUp, FollowUpState
from followups.tests.conftest import wait_for
from outbox.models import Message
from outbox.tests.conftest import broker_at
from tests.ports import free_port

pytestmark = pytest.mark.django_db(transaction=True)


def _deliver_webhooks(client, hubspot_body, pipedrive_body, salesforce_body) -> None:
    uri = "http://testserver/webhooks/hubspot/"
    response = client.post(
        "/webhooks/hubspot/", hubspot_body, content_type="application/json",
        **sign_hubspot(secret=HUBSPOT_SECRET, uri=uri, body=hubspot_body),
    )  # fmt: skip
    assert (response.status_code, response.json()) == (200, {"stored": 2})
    response = client.post(
        "/webhooks/pipedrive/", pipedrive_body, content_type="application/json",
        **basic_auth(PIPEDRIVE_USER, PIPEDRIVE_PASSWORD),
    )  # fmt: skip
    assert (response.status_code, response.json()) == (200, {"stored": 1})
    response = client.post(
        f"/webhooks/salesforce/?token={SALESFORCE_TOKEN}", salesforce_body, content_type="text/xml"
    )
    assert response.status_code == 200 and b"<Ack>true</Ack>" in response.content


def test_nothing_is_lost_while_the_broker_is_unreachable(
    client, world, fake_crm, sequence, lost_deal, workers, smtp_inbox, settings, monkeypatch,
    hubspot_body, pipedrive_body, salesforce_body,
):  # fmt: skip
    settings.OUTBOX_REPUBLISH_AFTER = 1  # this process writes the rows: due again a second later
    from_crm = [
        world.deal(hubspot_id="18442013567"),
        world.deal(pipedrive_id="4711"),
        world.deal(salesforce_id="0065e00000GhIjKAAV", amount=36000),  # the Amount its message carries
    ]
    by_rep = lost_deal(contacts=[("Noor Birch", "noor@birch.example")], hubspot_id="31337")
    by_api = lost_deal(contacts=[("Sam Oak", "sam@oak.example")], pipedrive_id="5150")

    with broker_at(f"redis://127.0.0.1:{free_port()}/0"):  # nothing listens there
        _deliver_webhooks(client, hubspot_body, pipedrive_body, salesforce_body)
        client.force_login(world.alice)
        form = {
            "reason": world.reasons["no-budget"].pk,
            "note": "",
            "revisit_on": "",
            "nurture_sequence": sequence.pk,
        }
        response = client.post(reverse("deals:mark-lost", args=[by_rep.pk]), form)
        assert response.status_code == 302
        response = client.post(
            f"/api/deals/{by_api.pk}/mark-lost/",
            {"reason": "no-budget", "nurture_sequence": sequence.pk},
            content_type="application/json",
        )
        assert response.status_code == 201, response.content
        # (How fast a publish gives up is the broker timeout's job and bench/'s to measure.)
        assert sorted(DealSync.objects.values_list("deal_id", "kind", "state")) == [
            (by_rep.pk, "hubspot", "pending"),
            (by_api.pk, "pipedrive", "pending"),
        ]
        # The follow-ups fall due while the broker is still away: the dispatcher claims them.
        FollowUp.objects.filter(deal__in=[by_rep, by_api]).update(
            due_at=timezone.now() - timedelta(minutes=1)
        )
        claimed = followup_services.followups_dispatch()
        assert claimed == 6  # per deal: the owner's task and two e-mails to the contact
        assert Message.objects.exists()
        assert not Message.objects.filter(published_at__isnull=False).exists()  # nothing got out
        health = client.get("/health/").json()
        assert health["broker"].startswith("error") and health["outbox_backlog_seconds"] > 0
        overview = client.get(reverse("crm:integrations"))
        assert overview.status_code == 403  # alice is a rep
        client.force_login(world.carol)
        page = client.get(reverse("crm:integrations")).content.decode()
        assert 'data-kind="crm.webhook"' in page and "not yet in the broker" in page

    # The broker is back; a worker with beat (the sweep every second here) takes over.
    monkeypatch.setenv("OUTBOX_SWEEP_EVERY", "1")
    workers.start(beat=True)
    wait_for(lambda: not Message.objects.exists(), timeout=90, message="the outbox to drain")
    wait_for(lambda: smtp_inbox.count() >= claimed + 1, timeout=30, message="every e-mail")
    time.sleep(3)  # three more sweeps: nothing may arrive twice

    events = list(WebhookEvent.objects.values_list("status", "attempts"))
    assert sorted(events) == [("done", 1), ("done", 1), ("done", 1), ("ignored", 1)]
    assert [DealEvent.objects.filter(deal=deal).count() for deal in from_crm] == [1, 1, 1]
    assert all(
        d.status == DealStatus.LOST for d in type(from_crm[0]).objects.filter(pk__in=[d.pk for d in from_crm])
    )
    paths = sorted(request.path for request in fake_crm.requests)
    assert paths == ["/api/v2/deals/5150", "/crm/v3/objects/deals/31337"]  # each write-back once
    assert set(DealSync.objects.values_list("state", flat=True)) == {"synced"}
    assert FollowUp.objects.filter(state=FollowUpState.SENT).count() == claimed
    message_ids = Counter(m["Message-ID"] for m in smtp_inbox.messages)
    assert len(message_ids) == claimed + 1 and set(message_ids.values()) == {1}  # + the needs-a-reason e-mail
    assert len(smtp_inbox.to("noor@birch.example")) == 2 and len(smtp_inbox.to("sam@oak.example")) == 2
    assert client.get("/health/").json()["outbox_backlog_seconds"] == 0
