"""Webhooks in: signatures, each CRM's sample payload, the "needs a reason" queue, dedupe,
retries and the dead-letter list."""

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from crm.models import CrmKind, CrmLostReason, ReasonMapping, UnmappedReason, WebhookEvent
from crm.tests.conftest import (
    HUBSPOT_SECRET,
    PIPEDRIVE_PASSWORD,
    PIPEDRIVE_USER,
    SALESFORCE_TOKEN,
    basic_auth,
    hubspot_event,
    process_stored,
    sign_hubspot,
)
from deals import services as deal_services
from deals.models import Closure, Deal, DealEvent, DealStatus
from tests.dates import days_ahead

HUBSPOT_URL = "/webhooks/hubspot/"
HUBSPOT_URI = "http://testserver/webhooks/hubspot/"


def post_hubspot(client, body: bytes, **headers):
    return client.post(HUBSPOT_URL, body, content_type="application/json", **headers)


# --- HubSpot v3 signatures ----------------------------------------------------------------


def test_hubspot_published_v3_test_vector(db):
    """The v3 vector HubSpot publishes with its official Python client's signature tests."""
    from crm.models import CrmConnection
    from crm.services import WebhookRejected, hubspot_signature_v3, hubspot_verify

    vector = {
        "secret": "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy",
        "method": "POST",
        "uri": "https://www.example.com/webhook_uri",
        "body": b"{'example_field':'example_value'}",
        "timestamp": "15000000",
    }
    expected = "HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw="
    assert hubspot_signature_v3(**vector) == expected
    connection = CrmConnection(kind="hubspot", webhook_secret=vector["secret"])
    headers = {"X-HubSpot-Signature-v3": expected, "X-HubSpot-Request-Timestamp": vector["timestamp"]}
    check = {"connection": connection, "method": "POST", "uri": vector["uri"], "body": vector["body"]}
    hubspot_verify(**check, headers=headers, now_ms=15_000_000 + 299_000)  # within five minutes
    with pytest.raises(WebhookRejected, match="five minutes"):
        hubspot_verify(**check, headers=headers, now_ms=15_000_000 + 301_000)


def test_hubspot_published_example_request_is_accepted(client, db, connections):
    """The request body and client secret of HubSpot's published validation example, signed
    with v3 (HMAC-SHA256 over method + URI + body + timestamp, base64) computed here by hand."""
    connection = connections[CrmKind.HUBSPOT]
    connection.webhook_secret = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
    connection.account_id = ""
    connection.save()
    body = (
        b'[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,'
        b'"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM",'
        b'"changeFlag":"NEW","appId":54321}]'
    )
    timestamp = str(int(time.time() * 1000))
    source = b"POST" + HUBSPOT_URI.encode() + body + timestamp.encode()
    signature = base64.b64encode(
        hmac.new(b"yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy", source, hashlib.sha256).digest()
    ).decode()
    response = post_hubspot(
        client, body, HTTP_X_HUBSPOT_SIGNATURE_V3=signature, HTTP_X_HUBSPOT_REQUEST_TIMESTAMP=timestamp
    )
    assert response.status_code == 200, response.content
    event = WebhookEvent.objects.get()
    # One change: portal, subscription, event, object, property (none here) and moment.
    assert event.dedupe_key == "hubspot:62515:12345:1:123::1564113600000"
    assert event.body == body.decode()  # stored exactly as received
    assert event.headers["X-Hubspot-Signature-V3"] == signature
    process_stored()
    event.refresh_from_db()
    assert event.status == WebhookEvent.Status.IGNORED  # a contact event: nothing to do, nothing broken


def test_hubspot_signature_uses_decoded_uri_with_query(client, db, connections, hubspot_body):
    uri = "http://testserver/webhooks/hubspot/?app=closed:lost"
    headers = sign_hubspot(secret=HUBSPOT_SECRET, uri=uri, body=hubspot_body)
    response = client.post(
        "/webhooks/hubspot/?app=closed%3Alost", hubspot_body, content_type="application/json", **headers
    )
    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    "tamper",
    ["changed body", "wrong secret", "old timestamp", "future timestamp", "no signature", "no timestamp"],
)
def test_hubspot_bad_signatures_get_401_and_store_nothing(client, db, connections, hubspot_body, tamper):
    secret = "not-the-secret" if tamper == "wrong secret" else HUBSPOT_SECRET
    now_ms = int(time.time() * 1000)
    timestamp = {"old timestamp": now_ms - 301_000, "future timestamp": now_ms + 301_000}.get(tamper, now_ms)
    headers = sign_hubspot(secret=secret, uri=HUBSPOT_URI, body=hubspot_body, timestamp=str(timestamp))
    body = (
        hubspot_body.replace(b"Price too high", b"Price too low")
        if tamper == "changed body"
        else hubspot_body
    )
    if tamper == "no signature":
        del headers["HTTP_X_HUBSPOT_SIGNATURE_V3"]
    if tamper == "no timestamp":
        del headers["HTTP_X_HUBSPOT_REQUEST_TIMESTAMP"]
    response = post_hubspot(client, body, **headers)
    assert response.status_code == 401
    assert "error" in response.json()
    assert not WebhookEvent.objects.exists()


def test_receivers_refuse_get_and_need_no_session_or_csrf(db, connections):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    assert client.get(HUBSPOT_URL).status_code == 405
    response = client.post("/webhooks/pipedrive/", b"{}", content_type="application/json")
    assert response.status_code == 401  # not a redirect to the sign-in page, not a CSRF 403
    assert response["WWW-Authenticate"].startswith("Basic")


# --- each CRM's sample payload closes the right deal with the right reason ------------------


def test_hubspot_sample_closes_the_deal_with_its_reason(client, world, connections, hubspot_body):
    deal = world.deal(hubspot_id="18442013567")
    other = world.deal(hubspot_id="999")
    response = post_hubspot(
        client, hubspot_body, **sign_hubspot(secret=HUBSPOT_SECRET, uri=HUBSPOT_URI, body=hubspot_body)
    )
    assert response.json() == {"stored": 2}
    process_stored()
    deal.refresh_from_db()
    assert deal.status == DealStatus.LOST
    assert deal.close_reason == world.reasons["price-too-high"]
    assert deal.closed_at == datetime(2026, 11, 20, 14, 30, tzinfo=UTC)  # occurredAt, not now
    assert not deal.needs_reason
    closure = Closure.objects.get(deal=deal)
    assert closure.actor is None
    assert "Closed lost in HubSpot" in closure.note
    event = DealEvent.objects.get(deal=deal)
    assert (event.actor_kind, event.to_value) == (DealEvent.ActorKind.CRM, "lost")
    assert Deal.objects.get(pk=other.pk).status == DealStatus.OPEN
    # The reason's own event (processed first here) is kept for the close, which also carries it.
    results = sorted(WebhookEvent.objects.values_list("status", "result"))
    assert results == [
        ("done", "closed lost: price-too-high"),
        ("done", "kept: the reason waits for the deal's close"),
    ]


def test_pipedrive_sample_closes_with_mapped_reason_and_competitor(
    client, world, connections, pipedrive_body, competitor
):
    ReasonMapping.objects.create(
        kind=CrmKind.PIPEDRIVE,
        crm_value="went with northwind crm - better fit",
        reason=world.reasons["competitor-better-fit"],
    )
    deal = world.deal(pipedrive_id="4711")
    response = client.post(
        "/webhooks/pipedrive/",
        pipedrive_body,
        content_type="application/json",
        **basic_auth(PIPEDRIVE_USER, PIPEDRIVE_PASSWORD),
    )
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert event.dedupe_key == "pipedrive:9d2f3c7e-6b1a-4e52-9a43-0f5e1d2c8b71"
    assert "Authorization" not in event.headers  # credentials are never stored
    process_stored()
    deal.refresh_from_db()
    assert deal.status == DealStatus.LOST
    assert deal.close_reason == world.reasons["competitor-better-fit"]
    assert Closure.objects.get(deal=deal).competitor == competitor  # named in the CRM's text
    assert deal.closed_at == datetime(2026, 11, 20, 15, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    "auth",
    [
        {},
        basic_auth(PIPEDRIVE_USER, "wrong"),
        basic_auth("someone", PIPEDRIVE_PASSWORD),
        {"HTTP_AUTHORIZATION": "Basic !!"},
    ],
)
def test_pipedrive_refuses_wrong_basic_auth(client, db, connections, pipedrive_body, auth):
    response = client.post("/webhooks/pipedrive/", pipedrive_body, content_type="application/json", **auth)
    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()


def test_salesforce_sample_is_acked_and_closes_the_opportunity(client, world, connections, salesforce_body):
    deal = world.deal(salesforce_id="0065e00000GhIjKAAV")
    url = f"/webhooks/salesforce/?token={SALESFORCE_TOKEN}"
    response = client.post(url, salesforce_body, content_type="text/xml")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    assert b"<Ack>true</Ack>" in response.content
    assert WebhookEvent.objects.get().dedupe_key == "salesforce:04l5e00000Q1w2eAAB"
    # Salesforce resends until it gets an Ack; the resend is acked again and stored once.
    assert b"<Ack>true</Ack>" in client.post(url, salesforce_body, content_type="text/xml").content
    assert WebhookEvent.objects.count() == 1
    process_stored()
    deal.refresh_from_db()
    assert (deal.status, deal.close_reason) == (DealStatus.LOST, world.reasons["no-budget"])


def test_salesforce_refuses_wrong_token_and_other_org(client, db, connections, salesforce_body):
    response = client.post("/webhooks/salesforce/?token=nope", salesforce_body, content_type="text/xml")
    assert response.status_code == 401
    assert b"<Ack>false</Ack>" in response.content
    other_org = salesforce_body.replace(b"00D5e000000AbCdEAK", b"00D000000000001AAA")
    response = client.post(
        f"/webhooks/salesforce/?token={SALESFORCE_TOKEN}", other_org, content_type="text/xml"
    )
    assert response.status_code == 403
    response = client.post(
        f"/webhooks/salesforce/?token={SALESFORCE_TOKEN}", b"<nope", content_type="text/xml"
    )
    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


def test_malformed_json_is_a_400_not_a_500(client, db, connections):
    for body in [b"{not json", b'{"an": "object"}', b"[1, 2]", b'[{"portalId": 62515}]']:
        response = post_hubspot(
            client, body, **sign_hubspot(secret=HUBSPOT_SECRET, uri=HUBSPOT_URI, body=body)
        )
        assert response.status_code == 400, body
    assert not WebhookEvent.objects.exists()


# --- without a reason that maps: the rep's "needs a reason" queue ---------------------------


def test_unknown_reason_fills_the_queue_and_the_rep_gives_one(client, world, connections):
    deal = world.deal(owner="alice", hubspot_id="18442013567")
    body = json.dumps(
        [
            hubspot_event(),
            hubspot_event(eventId=2, propertyName="closed_lost_reason", propertyValue="They hated the logo"),
        ]
    ).encode()
    post_hubspot(client, body, **sign_hubspot(secret=HUBSPOT_SECRET, uri=HUBSPOT_URI, body=body))
    process_stored()
    deal.refresh_from_db()
    assert (deal.status, deal.close_reason, deal.needs_reason) == (DealStatus.LOST, None, True)
    assert CrmLostReason.objects.get(deal=deal).text == "They hated the logo"
    unmapped = UnmappedReason.objects.get()
    assert (unmapped.kind, unmapped.example, unmapped.occurrences) == ("hubspot", "They hated the logo", 1)

    client.force_login(world.alice)
    page = client.get(reverse("crm:needs-reason")).content.decode()
    assert deal.name in page and "They hated the logo" in page
    assert (
        "The CRM closed this deal lost"
        in client.get(reverse("deals:detail", args=[deal.pk])).content.decode()
    )
    client.force_login(world.dave)  # another team's rep sees nothing and cannot open it
    assert deal.name not in client.get(reverse("crm:needs-reason")).content.decode()
    assert client.get(reverse("crm:give-reason", args=[deal.pk])).status_code == 404

    client.force_login(world.alice)
    refused = client.post(
        reverse("crm:give-reason", args=[deal.pk]), {"reason": world.reasons["other-loss"].pk}
    )
    assert refused.status_code == 400
    assert "needs a note" in refused.content.decode()
    response = client.post(
        reverse("crm:give-reason", args=[deal.pk]),
        {"reason": world.reasons["value-not-proven"].pk, "note": "", "revisit_on": days_ahead(150)},
    )
    assert response.status_code == 302
    deal.refresh_from_db()
    assert (deal.close_reason, deal.needs_reason) == (world.reasons["value-not-proven"], False)
    closure = Closure.objects.get(deal=deal)
    assert (closure.reason, closure.needs_reason, str(closure.revisit_on)) == (
        world.reasons["value-not-proven"],
        False,
        days_ahead(150),
    )
    assert "No deal is waiting for a reason." in client.get(reverse("crm:needs-reason")).content.decode()


def test_admin_classifies_a_queued_text_and_waiting_deals_get_it(client, world, connections):
    deals = [world.deal(hubspot_id=str(n)) for n in (501, 502)]
    events = [hubspot_event(eventId=n, objectId=int(d.hubspot_id)) for n, d in enumerate(deals, start=10)] + [
        hubspot_event(
            eventId=n,
            objectId=int(d.hubspot_id),
            propertyName="closed_lost_reason",
            propertyValue="Too pricey!",
        )
        for n, d in enumerate(deals, start=20)
    ]
    body = json.dumps(events).encode()
    post_hubspot(client, body, **sign_hubspot(secret=HUBSPOT_SECRET, uri=HUBSPOT_URI, body=body))
    process_stored()
    unmapped = UnmappedReason.objects.get()
    assert unmapped.occurrences >= 2
    client.force_login(world.alice)
    assert client.get(reverse("crm:unmapped")).status_code == 403
    client.force_login(world.carol)
    assert "Too pricey!" in client.get(reverse("crm:unmapped")).content.decode()
    response = client.post(
        reverse("crm:classify", args=[unmapped.pk]), {"reason": world.reasons["price-too-high"].pk}
    )
    assert response.status_code == 302
    for deal in deals:
        deal.refresh_from_db()
        assert (deal.close_reason, deal.needs_reason) == (world.reasons["price-too-high"], False)
    assert ReasonMapping.objects.get().crm_value == "too pricey!"
    # The next time the CRM says it, the mapping closes the deal directly.
    later = world.deal(hubspot_id="503")
    body = json.dumps(
        [
            hubspot_event(eventId=30, objectId=503),
            hubspot_event(
                eventId=31, objectId=503, propertyName="closed_lost_reason", propertyValue="TOO  pricey!"
            ),
        ]
    ).encode()
    post_hubspot(client, body, **sign_hubspot(secret=HUBSPOT_SECRET, uri=HUBSPOT_URI, body=body))
    process_stored()
    later.refresh_from_db()
    assert later.close_reason == world.reasons["price-too-high"]


def test_a_reason_arriving_later_fills_the_waiting_deal(client, world, connections):
    deal = world.deal(hubspot_id="777")
    for event in [
        hubspot_event(eventId=1, objectId=777),
        hubspot_event(eventId=2, objectId=777, propertyName="closed_lost_reason", propertyValue="no-budget"),
    ]:
        body = json.dumps([event]).encode()
        post_hubspot(client, body, **sign_hubspot(secret=HUBSPOT_SECRET, uri=HUBSPOT_URI, body=body))
        process_stored()
        deal.refresh_from_db()
    assert (deal.close_reason, deal.needs_reason) == (world.reasons["no-budget"], False)  # matched by code


def test_reminder_email_goes_to_the_owner(world, smtp_inbox):
    from crm.tasks import remind_needs_reason

    deal = world.deal(owner="alice")
    assert remind_needs_reason(deal.pk) is False  # not waiting for a reason: nothing sent
    deal_services.deal_mark_lost_from_crm(deal=deal, crm_reason_text="", closed_at=timezone.now())
    assert remind_needs_reason(deal.pk) is True
    [message] = smtp_inbox.messages
    assert message["To"] == world.alice.email
    assert deal.name in message["Subject"]
    assert f"http://testserver/crm/needs-reason/{deal.pk}/" in message.get_body(("plain",)).get_content()


# --- ten deliveries change the deal once ------------------------------------------------------


def test_ten_deliveries_of_one_event_change_the_deal_once(client, world, connections, hubspot_body):
    deal = world.deal(hubspot_id="18442013567")
    headers = sign_hubspot(secret=HUBSPOT_SECRET, uri=HUBSPOT_URI, body=hubspot_body)
    answers = [post_hubspot(client, hubspot_body, **headers).json()["stored"] for _ in range(10)]
    assert answers == [2] + [0] * 9
    assert WebhookEvent.objects.count() == 2
    for _ in range(3):
        process_stored()
    assert Closure.objects.filter(deal=deal).count() == 1
    assert DealEvent.objects.filter(deal=deal).count() == 1


def test_ten_different_events_for_the_same_close_change_the_deal_once(client, world, connections):
    deal = world.deal(hubspot_id="18442013567")
    for n in range(10):
        body = json.dumps([hubspot_event(eventId=100 + n)]).encode()
        post_hubspot(client, body, **sign_hubspot(secret=HUBSPOT_SECRET, uri=HUBSPOT_URI, body=body))
    process_stored()
    assert Closure.objects.filter(deal=deal).count() == 1
    assert DealEvent.objects.filter(deal=deal).count() == 1
    assert WebhookEvent.objects.filter(status="done").count() == 1
    assert WebhookEvent.objects.filter(status="ignored").count() == 9


def test_processing_an_event_twice_does_nothing_the_second_time(client, world, connections, hubspot_body):
    from crm import services

    world.deal(hubspot_id="18442013567")
    post_hubspot(
        client, hubspot_body, **sign_hubspot(secret=HUBSPOT_SECRET, uri=HUBSPOT_URI, body=hubspot_body)
    )
    first = WebhookEvent.objects.order_by("pk").first()
    assert services.webhook_event_process(event_id=first.pk).status == "done"
    assert services.webhook_event_process(event_id=first.pk).status == "not claimed"


# --- failures: retries, dead letters, replay ---------------------------------------------------


def test_failing_event_is_retried_then_dead_lettered_and_replayed(client, world, connections, settings):
    settings.CRM_MAX_ATTEMPTS = 3
    body = json.dumps([hubspot_event(eventId=900, objectId=424242)]).encode()
    post_hubspot(client, body, **sign_hubspot(secret=HUBSPOT_SECRET, uri=HUBSPOT_URI, body=body))
    outcomes = [process_stored()[0] for _ in range(3)]
    assert [o.status for o in outcomes] == ["failed", "failed", "dead"]
    assert outcomes[0].retry_in == 2 and outcomes[1].retry_in == 4 and outcomes[2].retry_in is None
    event = WebhookEvent.objects.get()
    assert (event.status, event.attempts) == ("dead", 3)
    assert "No deal has HubSpot id 424242" in event.last_error
    assert process_stored() == []  # dead letters are not retried on their own

    client.force_login(world.alice)
    assert client.get(reverse("crm:events")).status_code == 403
    assert client.post(reverse("crm:event-replay", args=[event.pk])).status_code == 403
    client.force_login(world.carol)
    page = client.get(reverse("crm:events")).content.decode()
    assert "hubspot:62515:2418817:900:424242:dealstage:" in page and "Replay" in page
    detail = client.get(reverse("crm:event", args=[event.pk])).content.decode()
    assert "424242" in detail  # the raw body is there to inspect

    deal = world.deal(hubspot_id="424242")  # e.g. imported meanwhile
    response = client.post(reverse("crm:event-replay", args=[event.pk]))
    assert response.status_code == 302
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("pending", 0)
    process_stored()
    event.refresh_from_db()
    assert event.status == "done" and event.deal == deal
    assert Deal.objects.get(pk=deal.pk).needs_reason


# --- the database holds "lost without a reason only while it needs one" -----------------------


def test_database_allows_a_reasonless_loss_only_with_the_flag(world):
    deal = world.deal()
    now = timezone.now()
    with pytest.raises(IntegrityError), transaction.atomic():
        Deal.objects.filter(pk=deal.pk).update(status=DealStatus.LOST, closed_at=now)
    with pytest.raises(IntegrityError), transaction.atomic():
        Deal.objects.filter(pk=deal.pk).update(needs_reason=True)  # open deals never need one
    with pytest.raises(IntegrityError), transaction.atomic():
        Deal.objects.filter(pk=deal.pk).update(
            status=DealStatus.NO_DECISION, closed_at=now, needs_reason=True
        )
    Deal.objects.filter(pk=deal.pk).update(status=DealStatus.LOST, closed_at=now, needs_reason=True)
    with pytest.raises(IntegrityError), transaction.atomic():  # a reason and the flag at once
        Deal.objects.filter(pk=deal.pk).update(
            close_reason=world.reasons["no-budget"], close_reason_kind="loss"
        )
    fields = {
        "deal": deal,
        "outcome": "lost",
        "stage_at_close": deal.stage,
        "amount_at_close": 1,
        "currency": "USD",
    }
    with pytest.raises(IntegrityError), transaction.atomic():
        Closure.objects.create(**fields)
    with pytest.raises(IntegrityError), transaction.atomic():
        Closure.objects.create(**{**fields, "outcome": "no_decision"}, needs_reason=True)
    Closure.objects.create(**fields, needs_reason=True)


def test_reopening_a_waiting_deal_clears_the_flag(world):
    deal = world.deal()
    deal_services.deal_mark_lost_from_crm(deal=deal, crm_reason_text="gone", closed_at=timezone.now())
    deal_services.deal_reopen(deal=deal, actor=world.alice)
    deal.refresh_from_db()
    assert (deal.status, deal.needs_reason) == (DealStatus.OPEN, False)
