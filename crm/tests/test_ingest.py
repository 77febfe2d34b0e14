"""The receivers' fast path: the connection is read once per few seconds per process, and a
delivery is stored with its hand-off in one statement."""

import json
from datetime import timedelta

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

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


def test_a_new_delivery_is_one_statement_and_its_rows_are_the_hand_off(client, connections):
    """The events are stored by one INSERT and nothing else is written: the pending rows are
    the worker's intent (the background publisher hands their ids over after commit)."""
    from crm.tests.conftest import HUBSPOT_SECRET, hubspot_event, sign_hubspot
    from outbox.models import Message

    body = json.dumps([hubspot_event(eventId=1), hubspot_event(eventId=2, propertyName="amount")]).encode()
    headers = sign_hubspot(secret=HUBSPOT_SECRET, uri="http://testserver/webhooks/hubspot/", body=body)
    with CaptureQueriesContext(db) as queries:
        response = client.post("/webhooks/hubspot/", body, content_type="application/json", **headers)
    assert response.json() == {"stored": 2}
    assert len(queries) == 2  # the connection (then cached), and the one statement that stores
    assert queries[1]["sql"].startswith("INSERT INTO crm_webhookevent")
    assert not Message.objects.exists()
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"pending"}


@pytest.mark.django_db(transaction=True)
def test_a_delivery_on_a_connection_the_database_dropped_is_stored_on_a_fresh_one(connections):
    """Receivers skip Django's per-request health check (a SELECT 1 before the first query):
    when the kept connection turns out closed by the server, the one statement, safe to repeat,
    runs again on a fresh connection. The CRM gets its 200, and the event is stored once."""
    import threading

    from crm.receiving import webhook_receive
    from crm.tests.conftest import hubspot_event

    hubspot = connections[CrmKind.HUBSPOT]
    first = json.dumps([hubspot_event(eventId=1)]).encode()
    assert webhook_receive(connection=hubspot, body=first, headers={}) == 1
    backend = db.connection.get_backend_pid()

    def terminate():  # on its own thread, so on its own connection
        from django.db import connections as all_connections

        with all_connections["default"].cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [backend])
        all_connections.close_all()

    killer = threading.Thread(target=terminate)
    killer.start()
    killer.join()
    second = json.dumps([hubspot_event(eventId=2)]).encode()
    assert webhook_receive(connection=hubspot, body=second, headers={}) == 1
    assert db.connection.get_backend_pid() != backend
    assert WebhookEvent.objects.count() == 2
    assert webhook_receive(connection=hubspot, body=second, headers={}) == 0  # a retry stores nothing


@pytest.mark.django_db(transaction=True)
def test_the_store_statement_is_prepared_once_per_connection_and_heals_when_it_is_gone(connections):
    """On a kept connection the first delivery sends PREPARE and EXECUTE in one round trip, the
    next ones only EXECUTE. If the connection's prepared statements vanish (a pooler, DISCARD
    ALL), the delivery still stores on a fresh connection."""
    from crm.receiving import webhook_receive
    from crm.tests.conftest import hubspot_event

    hubspot = connections[CrmKind.HUBSPOT]

    def deliver(event_id: int) -> tuple[int, list[str]]:
        body = json.dumps([hubspot_event(eventId=event_id)]).encode()
        with CaptureQueriesContext(db) as queries:
            stored = webhook_receive(connection=hubspot, body=body, headers={})
        return stored, [q["sql"].split("(", 1)[0] for q in queries]

    assert deliver(1) == (1, ["PREPARE crm_webhook_store_1"])  # its EXECUTE rides in the same string
    assert deliver(2) == (1, ["EXECUTE crm_webhook_store_1"])
    with db.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    assert deliver(3) == (1, ["EXECUTE crm_webhook_store_1", "PREPARE crm_webhook_store_1"])
    assert deliver(3)[0] == 0  # a repeat stores nothing
    assert sorted(WebhookEvent.objects.values_list("dedupe_key", flat=True)) == sorted(
        f"hubspot:62515:2418817:{n}:18442013567:dealstage:1795185000000" for n in (1, 2, 3)
    )


@pytest.mark.django_db(transaction=True)
def test_events_whose_hand_off_was_lost_are_swept_once_and_processed_once(
    world, connections, crm_worker, settings
):
    """A process that died before publishing (the rows pending, no outbox row) and a worker
    that died mid-event (processing, claimed long ago): the sweep hands both over once, even
    when it runs again before a worker gets to them, and the worker applies each once."""
    from crm.tests.conftest import hubspot_event, wait_for
    from deals.models import DealEvent
    from outbox.models import Message
    from outbox.services import messages_sweep
    from outbox.tests.conftest import broker_at
    from tests.ports import free_port

    deals = [world.deal(hubspot_id="8101"), world.deal(hubspot_id="8102"), world.deal(hubspot_id="8103")]
    long_ago = timezone.now() - timedelta(minutes=10)

    def stored(event_id: int, object_id: int, **fields) -> WebhookEvent:
        body = json.dumps([hubspot_event(eventId=event_id, objectId=object_id)])
        return WebhookEvent.objects.create(
            kind="hubspot", dedupe_key=f"hs:{event_id}", body=body, headers={}, **fields
        )

    lost_publish = stored(1, 8101, received_at=long_ago)
    dead_worker = stored(2, 8102, received_at=long_ago, status="processing", claimed_at=long_ago, attempts=1)
    stored(3, 8103)  # its publish may still be on its way: not the sweep's yet
    with broker_at(f"redis://127.0.0.1:{free_port()}/0"):  # the outbox row stays unpublished
        assert messages_sweep() == 2
        assert messages_sweep() == 0  # handed over already: the outbox row carries them now
    [message] = Message.objects.all()
    assert sorted(message.items) == sorted([lost_publish.pk, dead_worker.pk])
    assert message.last_error.startswith("not published")

    # The broker is back and the row falls due; by then the third event is late as well.
    later = timezone.now() + timedelta(seconds=settings.OUTBOX_REPUBLISH_AFTER + 1)
    assert messages_sweep(now=later) == 2  # the third event handed over, the row published again
    wait_for(lambda: not Message.objects.exists(), message="the outbox rows handled")
    assert set(WebhookEvent.objects.values_list("status", "attempts")) == {("done", 1), ("done", 2)}
    assert [DealEvent.objects.filter(deal=deal).count() for deal in deals] == [1, 1, 1]


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


def test_a_salesforce_message_stores_each_notification_in_its_own_envelope(client, world, connections):
    """An outbound message carries up to 100 notifications: each row keeps the envelope and its
    own notification exactly as sent (not the whole message once per notification), and each
    closes its own deal."""
    from crm.tests.conftest import process_stored
    from crm.tests.crm_senders import Salesforce

    deals = [world.deal(salesforce_id=f"0065e00000Batch{n}") for n in range(3)]
    sender = Salesforce()
    single = [sender.events(d.salesforce_id, "lost", "Price too high", timezone.now())[0] for d in deals]
    notifications = [text[text.index("<Notification>") : text.index("</notifications>")] for text in single]
    head, tail = (
        single[0][: single[0].index("<Notification>")],
        single[0][single[0].index("</notifications>") :],
    )
    body = head + "".join(notifications) + tail
    response = client.post(f"/webhooks/salesforce/?token={SALESFORCE_TOKEN}", body, content_type="text/xml")
    assert response.status_code == 200 and b"<Ack>true</Ack>" in response.content
    stored = list(WebhookEvent.objects.order_by("dedupe_key"))
    assert len(stored) == 3
    for event, notification in zip(stored, notifications, strict=True):
        assert event.item == 0 and event.body.count("<Notification>") == 1
        assert event.body == head + notification + tail  # the envelope and its own notification, as sent
    process_stored()
    for deal in deals:
        deal.refresh_from_db()
        assert (deal.status, deal.close_reason.code) == ("lost", "price-too-high")
