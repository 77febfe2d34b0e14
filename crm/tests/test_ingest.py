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
