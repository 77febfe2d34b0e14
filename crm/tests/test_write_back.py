"""Write-back: a close made here is PATCHed to the CRM, against a real HTTP server on
loopback that plays the CRM (records requests, answers 429 / 500 when told to)."""

import json
from datetime import timedelta
from email.utils import format_datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from crm import services
from crm.models import CrmConnection, CrmKind, DealSync, WebhookEvent
from crm.tests.conftest import HUBSPOT_SECRET, hubspot_event, process_stored, sign_hubspot, wait_for
from deals import services as deal_services
from deals.models import Deal, DealStatus

HUBSPOT_URI = "http://testserver/webhooks/hubspot/"


def close_here(world, deal, code="price-too-high"):
    deal_services.deal_mark_lost(deal=deal, reason=world.reasons[code], actor=world.alice)


def test_hubspot_patch_body(world, fake_crm):
    deal = world.deal(hubspot_id="18442013567")
    close_here(world, deal)
    outcome = services.deal_sync_push(deal_id=deal.pk, kind=CrmKind.HUBSPOT)
    assert outcome.status == "synced"
    [request] = fake_crm.requests
    assert (request.method, request.path) == ("PATCH", "/crm/v3/objects/deals/18442013567")
    assert request.body == {"properties": {"dealstage": "closedlost", "closed_lost_reason": "Price too high"}}
    assert request.headers["Authorization"] == "Bearer hs-token-1234"
    assert request.headers["Content-Type"] == "application/json"
    sync = DealSync.objects.get(deal=deal)
    assert sync.state == "synced" and sync.last_pushed["stage"] == "closedlost"


def test_pipedrive_patch_body(world, fake_crm):
    """A personal API token (a new Pipedrive connection's default) goes in x-api-token, never as
    a bearer token."""
    deal = world.deal(pipedrive_id="4711")
    close_here(world, deal, "no-budget")
    services.deal_sync_push(deal_id=deal.pk, kind=CrmKind.PIPEDRIVE)
    [request] = fake_crm.requests
    assert request.path == "/api/v2/deals/4711"
    assert request.body == {"status": "lost", "lost_reason": "No budget"}
    headers = {name.lower(): value for name, value in request.headers.items()}
    assert headers["x-api-token"] == "pd-token-5678"
    assert "authorization" not in headers


def test_pipedrive_oauth_token_is_a_bearer_token_and_a_win_reason_a_custom_field(world, fake_crm):
    key = "5b7e2c9d0a1f4e3b8c6d2a9f1e0b7c4d5a6e8f01"  # a Pipedrive custom field's key
    CrmConnection.objects.filter(kind=CrmKind.PIPEDRIVE).update(
        token_kind=CrmConnection.TokenKind.OAUTH, win_reason_field=key
    )
    deal = world.deal(pipedrive_id="4712")
    deal_services.deal_mark_won(deal=deal, reason=world.reasons["win-best-fit"], actor=world.alice)
    services.deal_sync_push(deal_id=deal.pk, kind=CrmKind.PIPEDRIVE)
    [request] = fake_crm.requests
    assert request.body == {"status": "won", "custom_fields": {key: "Best product fit"}}
    headers = {name.lower(): value for name, value in request.headers.items()}
    assert headers["authorization"] == "Bearer pd-token-5678"
    assert "x-api-token" not in headers


def test_salesforce_patch_body_with_reason_codes(world, fake_crm):
    CrmConnection.objects.filter(kind=CrmKind.SALESFORCE).update(reason_value="code", api_version="v61.0")
    deal = world.deal(salesforce_id="0065e00000GhIjKAAV")
    close_here(world, deal, "bad-timing")
    services.deal_sync_push(deal_id=deal.pk, kind=CrmKind.SALESFORCE)
    [request] = fake_crm.requests
    assert request.path == "/services/data/v61.0/sobjects/Opportunity/0065e00000GhIjKAAV"
    assert request.body == {"StageName": "Closed Lost", "Loss_Reason__c": "bad-timing"}


def test_a_win_reason_goes_to_the_win_reason_field_or_nowhere(world, fake_crm):
    """Never into the loss-reason field: Salesforce has no win-reason field until one is named."""
    CrmConnection.objects.filter(kind=CrmKind.SALESFORCE).update(reason_value="code", win_reason_field="")
    first, second = (
        world.deal(salesforce_id="0065e00000GhIjKAAA"),
        world.deal(salesforce_id="0065e00000GhIjKAAB"),
    )
    deal_services.deal_mark_won(deal=first, reason=world.reasons["win-best-fit"], actor=world.alice)
    services.deal_sync_push(deal_id=first.pk, kind=CrmKind.SALESFORCE)
    CrmConnection.objects.filter(kind=CrmKind.SALESFORCE).update(win_reason_field="Win_Reason__c")
    deal_services.deal_mark_won(deal=second, reason=world.reasons["win-best-fit"], actor=world.alice)
    services.deal_sync_push(deal_id=second.pk, kind=CrmKind.SALESFORCE)
    assert [r.body for r in fake_crm.requests] == [
        {"StageName": "Closed Won"},
        {"StageName": "Closed Won", "Win_Reason__c": "win-best-fit"},
    ]


def test_won_and_needs_reason_push_the_stage(world, fake_crm):
    won = world.deal(hubspot_id="1")
    deal_services.deal_mark_won(deal=won, reason=world.reasons["win-best-fit"], actor=world.alice)
    services.deal_sync_push(deal_id=won.pk, kind=CrmKind.HUBSPOT)
    waiting = world.deal(hubspot_id="2")
    deal_services.deal_mark_lost_from_crm(deal=waiting, crm_reason_text="", closed_at=None)
    services.deal_sync_push(deal_id=waiting.pk, kind=CrmKind.HUBSPOT)
    bodies = [r.body for r in fake_crm.requests]
    assert bodies == [
        {"properties": {"dealstage": "closedwon", "closed_won_reason": "Best product fit"}},  # its own field
        {"properties": {"dealstage": "closedlost"}},
    ]


def test_429_is_retried_after_retry_after_and_the_state_is_shown(client, world, fake_crm):
    deal = world.deal(owner="alice", hubspot_id="55")
    close_here(world, deal)
    fake_crm.answer((429, {"Retry-After": "7"}, {"status": "error", "category": "RATE_LIMITS"}))
    outcome = services.deal_sync_push(deal_id=deal.pk, kind=CrmKind.HUBSPOT)
    assert (outcome.status, outcome.retry_in) == ("retrying", 7.0)
    client.force_login(world.alice)
    page = client.get(reverse("deals:detail", args=[deal.pk])).content.decode()
    assert "CRM sync" in page and "Retrying" in page and "HTTP 429" in page
    outcome = services.deal_sync_push(deal_id=deal.pk, kind=CrmKind.HUBSPOT)
    assert outcome.status == "synced"
    assert len(fake_crm.requests) == 2 and fake_crm.requests[0].body == fake_crm.requests[1].body
    page = client.get(reverse("deals:detail", args=[deal.pk])).content.decode()
    assert "In sync" in page


def test_retry_after_as_an_http_date():
    when = format_datetime(timezone.now() + timedelta(seconds=30), usegmt=True)
    assert 25 <= services._retry_after(when) <= 31
    assert services._retry_after("garbage") == 30.0


def test_500s_back_off_then_fail_and_can_be_sent_again(client, world, fake_crm, settings):
    settings.CRM_MAX_ATTEMPTS = 3
    deal = world.deal(owner="alice", hubspot_id="66")
    close_here(world, deal)
    fake_crm.answer(*[(500, {}, {"message": "internal error"})] * 3)
    outcomes = [services.deal_sync_push(deal_id=deal.pk, kind=CrmKind.HUBSPOT) for _ in range(3)]
    assert [(o.status, o.retry_in) for o in outcomes] == [
        ("retrying", 2.0),
        ("retrying", 4.0),
        ("failed", None),
    ]
    client.force_login(world.alice)
    page = client.get(reverse("deals:detail", args=[deal.pk])).content.decode()
    assert "Failed" in page and "Send again" in page
    sync = DealSync.objects.get(deal=deal)
    client.force_login(world.dave)  # another team's rep cannot touch it
    assert client.post(reverse("crm:sync-retry", args=[sync.pk])).status_code == 404
    client.force_login(world.alice)
    assert client.post(reverse("crm:sync-retry", args=[sync.pk])).status_code == 302
    assert DealSync.objects.get(pk=sync.pk).state == "pending"


def test_a_client_error_fails_at_once(world, fake_crm):
    deal = world.deal(hubspot_id="77")
    close_here(world, deal)
    fake_crm.answer((400, {}, {"message": "Property values were not valid"}))
    assert services.deal_sync_push(deal_id=deal.pk, kind=CrmKind.HUBSPOT).status == "failed"
    assert "Property values were not valid" in DealSync.objects.get(deal=deal).last_error


def test_unreachable_crm_is_retried(world, connections, settings):
    settings.CRM_ALLOWED_HOSTS = ["127.0.0.1"]  # an on-premise CRM the operator allowed, down for now
    CrmConnection.objects.update(base_url="http://127.0.0.1:9")  # nothing listens there
    deal = world.deal(hubspot_id="88")
    close_here(world, deal)
    outcome = services.deal_sync_push(deal_id=deal.pk, kind=CrmKind.HUBSPOT, timeout=2)
    assert outcome.status == "retrying"
    assert "Network error" in DealSync.objects.get(deal=deal).last_error


def test_no_echo_loop(client, world, fake_crm, django_capture_on_commit_callbacks, redis_clean):
    """We push our close; the CRM's webhook echoes it back after the rep reopened the deal here.
    The echo must neither close the deal again nor send anything back to the CRM."""
    deal = world.deal(hubspot_id="18442013567")
    close_here(world, deal)
    services.deal_sync_push(deal_id=deal.pk, kind=CrmKind.HUBSPOT)
    deal_services.deal_reopen(deal=deal, actor=world.alice)
    body = json.dumps(
        [
            hubspot_event(eventId=1, changeSource="INTEGRATION"),
            hubspot_event(eventId=2, propertyName="closed_lost_reason", propertyValue="Price too high"),
        ]
    ).encode()
    client.post(
        "/webhooks/hubspot/",
        body,
        content_type="application/json",
        **sign_hubspot(secret=HUBSPOT_SECRET, uri=HUBSPOT_URI, body=body),
    )
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        process_stored()
    assert callbacks == []  # nothing queued: no write-back, no reminder
    assert Deal.objects.get(pk=deal.pk).status == DealStatus.OPEN
    results = set(WebhookEvent.objects.values_list("result", flat=True))
    assert results == {"ignored: the CRM echoed our own change"}
    assert len(fake_crm.requests) == 1


def test_a_crm_close_is_not_written_back(
    client, world, fake_crm, django_capture_on_commit_callbacks, redis_clean
):
    deal = world.deal(hubspot_id="18442013567")
    body = json.dumps([hubspot_event()]).encode()
    client.post(
        "/webhooks/hubspot/",
        body,
        content_type="application/json",
        **sign_hubspot(secret=HUBSPOT_SECRET, uri=HUBSPOT_URI, body=body),
    )
    with django_capture_on_commit_callbacks(execute=True):
        process_stored()
    assert Deal.objects.get(pk=deal.pk).status == DealStatus.LOST
    assert not DealSync.objects.exists()  # the close came from the CRM: nothing to send back


def test_a_close_here_queues_a_sync_only_for_linked_crms(
    world, connections, django_capture_on_commit_callbacks, redis_clean
):
    linked = world.deal(hubspot_id="123")
    unlinked = world.deal()
    with django_capture_on_commit_callbacks(execute=True):
        close_here(world, linked)
        close_here(world, unlinked)
    assert list(DealSync.objects.values_list("deal_id", "kind", "state")) == [
        (linked.pk, "hubspot", "pending")
    ]
    assert redis_clean.llen("celery") == 1  # one push task queued, for the linked deal


@pytest.mark.django_db(transaction=True)
def test_end_to_end_with_a_real_worker(client, world, fake_crm, crm_worker):
    """A rep closes through the page; a real Celery worker PATCHes HubSpot, which first answers
    429 Retry-After: 1; the retry waits at least that long. Then HubSpot's webhook closes another
    deal through the same worker."""
    deal = world.deal(owner="alice", hubspot_id="31337")
    fake_crm.answer((429, {"Retry-After": "1"}, {"status": "error"}))
    client.force_login(world.alice)
    response = client.post(
        reverse("deals:mark-lost", args=[deal.pk]),
        {"reason": world.reasons["no-budget"].pk, "note": "", "revisit_on": ""},
    )
    assert response.status_code == 302
    first, second = fake_crm.wait_for_requests(2)
    assert second.at - first.at >= 1.0
    assert second.body == {"properties": {"dealstage": "closedlost", "closed_lost_reason": "No budget"}}
    wait_for(lambda: DealSync.objects.filter(deal=deal, state="synced").exists(), message="the sync state")
    assert "In sync" in client.get(reverse("deals:detail", args=[deal.pk])).content.decode()

    other = world.deal(owner="alice", hubspot_id="18442013567")
    body = (
        json.dumps(
            [
                hubspot_event(eventId=5),
                hubspot_event(eventId=6, propertyName="closed_lost_reason", propertyValue="missing-feature"),
            ]
        )
    ).encode()
    response = client.post(
        "/webhooks/hubspot/",
        body,
        content_type="application/json",
        **sign_hubspot(secret=HUBSPOT_SECRET, uri=HUBSPOT_URI, body=body),
    )
    assert response.json() == {"stored": 2}
    wait_for(
        lambda: Deal.objects.filter(pk=other.pk, status="lost").exists(),
        message="the worker to close the deal",
    )
    assert Deal.objects.get(pk=other.pk).close_reason == world.reasons["missing-feature"]
    wait_for(
        lambda: not WebhookEvent.objects.filter(status__in=["pending", "processing"]).exists(),
        message="events",
    )
    assert len(fake_crm.requests) == 2  # the CRM's own close was not sent back


def test_the_write_back_is_recorded_in_the_closes_own_transaction(world, connections):
    from django.db import transaction

    from outbox.models import Message

    deal = world.deal(hubspot_id="123")
    close_here(world, deal)  # (inside the test's transaction: nothing after commit runs here)
    assert list(DealSync.objects.values_list("deal_id", "state")) == [(deal.pk, "pending")]
    assert list(Message.objects.values_list("kind", "items")) == [("crm.write_back", [[deal.pk, "hubspot"]])]

    undone = world.deal(hubspot_id="456")
    with pytest.raises(RuntimeError), transaction.atomic():
        close_here(world, undone)
        raise RuntimeError("the close fails after the write-back was recorded")
    assert not DealSync.objects.filter(deal=undone).exists()
    assert Message.objects.count() == 1  # the write-back went with the close
