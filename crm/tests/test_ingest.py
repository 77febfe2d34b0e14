"""The receivers' fast path: the connection is read once per few seconds per process, and a
delivery is stored with its hand-off in one statement."""

import json

from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from crm.models import CrmConnection, CrmKind, WebhookEvent
from crm.tests.conftest import SALESFORCE_TOKEN, fixture_bytes


def test_receivers_keep_a_connection_briefly_and_read_a_saved_one_at_once(client, connections, settings):
    """A receiver reads the connection once per CRM_CONNECTION_CACHE_SECONDS in each process; a
    connection saved through the app (the form, crm_connect) is read again at once."""
    settings.CRM_CONNECTION_CACHE_SECONDS = 60
    body = fixture_bytes("salesforce_opportunity_closed_lost.xml")
    url = f"/webhooks/salesforce/?token={SALESFORCE_TOKEN}"
    assert client.post(url, body, content_type="text/xml").status_code == 200
    with CaptureQueriesContext(db) as queries:
        assert client.post(url, body, content_type="text/xml").status_code == 200  # a repeat: stores nothing
    assert len(queries) == 1  # the one statement that stores; the connection came from the cache
    salesforce = CrmConnection.objects.get(kind=CrmKind.SALESFORCE)
    salesforce.webhook_secret = "a-rotated-token"
    salesforce.save()
    assert client.post(url, body, content_type="text/xml").status_code == 401  # the old token is refused
    assert (
        client.post("/webhooks/salesforce/?token=a-rotated-token", body, content_type="text/xml").status_code
        == 200
    )


def test_a_new_delivery_is_one_statement_with_its_outbox_message(client, connections):
    from crm.tests.conftest import HUBSPOT_SECRET, hubspot_event, sign_hubspot
    from outbox.models import Message

    body = json.dumps([hubspot_event(eventId=1), hubspot_event(eventId=2, propertyName="amount")]).encode()
    headers = sign_hubspot(secret=HUBSPOT_SECRET, uri="http://testserver/webhooks/hubspot/", body=body)
    with CaptureQueriesContext(db) as queries:
        response = client.post("/webhooks/hubspot/", body, content_type="application/json", **headers)
    assert response.json() == {"stored": 2}
    assert len(queries) == 2  # the connection (then cached), and the one statement that stores
    assert "INSERT INTO outbox_message" in queries[1]["sql"]
    [message] = Message.objects.all()
    stored = sorted(WebhookEvent.objects.values_list("pk", flat=True))
    assert (message.kind, sorted(message.items)) == ("crm.webhook", stored)


def test_a_batch_about_several_deals_stores_each_event_with_its_deals_events(client, world, connections):
    """A HubSpot delivery about several deals: each event is stored with the events about its
    own deal (exactly as they were sent), and each still reads its reason from its sibling."""
    from crm.adapters.hubspot import _raw_elements
    from crm.tests.conftest import HUBSPOT_SECRET, hubspot_event, process_stored, sign_hubspot

    reason = "closed_lost_reason"
    first, second = world.deal(hubspot_id="7001"), world.deal(hubspot_id="7002")
    events = [
        hubspot_event(eventId=1, objectId=7001),
        hubspot_event(eventId=2, objectId=7002),
        hubspot_event(eventId=3, objectId=7001, propertyName=reason, propertyValue="No budget"),
        hubspot_event(eventId=4, objectId=7002, propertyName=reason, propertyValue="Bad timing"),
    ]
    body = json.dumps(events, indent=1).encode()  # whitespace as a sender may format it
    headers = sign_hubspot(secret=HUBSPOT_SECRET, uri="http://testserver/webhooks/hubspot/", body=body)
    response = client.post("/webhooks/hubspot/", body, content_type="application/json", **headers)
    assert response.json() == {"stored": 4}
    for event in WebhookEvent.objects.all():
        stored = json.loads(event.body)
        assert len(stored) == 2 and {e["objectId"] for e in stored} == {stored[event.item]["objectId"]}
        assert all(text in body.decode() for text in _raw_elements(event.body))  # each as sent
    process_stored()
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.close_reason.code) == ("lost", "no-budget")
    assert (second.status, second.close_reason.code) == ("lost", "bad-timing")
