"""Replaying a pending, failed or dead event from the admin pages processes it once."""

import json

import pytest
from django.urls import reverse

from crm.models import WebhookEvent
from crm.tests.conftest import HUBSPOT_SECRET, hubspot_event, sign_hubspot, wait_for
from deals.models import DealEvent, DealStatus
from outbox.models import Message
from outbox.tests.conftest import broker_at
from tests.ports import free_port

pytestmark = pytest.mark.django_db(transaction=True)


def test_replaying_a_pending_failed_or_dead_event_processes_it_once(client, world, connections, crm_worker):
    deals = [world.deal(hubspot_id=f"9000{n}") for n in range(3)]
    body = json.dumps([hubspot_event(eventId=100 + n, objectId=int(f"9000{n}")) for n in range(3)]).encode()
    uri = "http://testserver/webhooks/hubspot/"
    with broker_at(f"redis://127.0.0.1:{free_port()}/0"):  # stored, never handed to the worker
        response = client.post("/webhooks/hubspot/", body, content_type="application/json",
                               **sign_hubspot(secret=HUBSPOT_SECRET, uri=uri, body=body))  # fmt: skip
        # The background publisher found no broker: the events wait in an outbox row.
        wait_for(lambda: Message.objects.filter(last_error__startswith="not published").exists())
    assert response.json() == {"stored": 3}
    Message.objects.all().delete()  # and no sweep to send them: only a replay will
    pending, failed, dead = WebhookEvent.objects.order_by("dedupe_key")
    WebhookEvent.objects.filter(pk=failed.pk).update(status="failed", attempts=2, last_error="boom")
    WebhookEvent.objects.filter(pk=dead.pk).update(status="dead", attempts=5, last_error="boom")

    client.force_login(world.carol)
    overview = client.get(reverse("crm:integrations")).content.decode()
    assert f'href="{reverse("crm:events")}"' in overview  # failures link to where they are replayed
    listing = client.get(reverse("crm:events") + "?status=all").content.decode()
    assert listing.count("Replay<span") == 3  # the pending one too
    for event in (pending, failed, dead):
        response = client.post(reverse("crm:event-replay", args=[event.pk]))
        assert response.status_code == 302
    client.post(reverse("crm:event-replay", args=[pending.pk]))  # a double click: queued twice

    wait_for(lambda: not Message.objects.exists(), message="the replays handled")
    assert sorted(WebhookEvent.objects.values_list("status", "attempts")) == [("done", 1)] * 3
    for deal in deals:
        deal.refresh_from_db()
        assert deal.status == DealStatus.LOST
        assert DealEvent.objects.filter(deal=deal).count() == 1  # closed once
