"""Every change made here reaches the CRM: a reason given later from the "needs a reason" queue,
and a reopen (back to the deal's stage there). Against the loopback fake CRM; the CRM's echo of
what we sent, and its later unrelated edits, leave the deal as it is here."""

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from crm import services
from crm.models import CrmConnection, CrmKind, DealSync, WebhookEvent
from crm.tests.conftest import HUBSPOT_SECRET, PIPEDRIVE_PASSWORD, PIPEDRIVE_USER, basic_auth, process_stored
from crm.tests.conftest import sign_hubspot as _sign
from crm.tests.crm_senders import Hubspot, Salesforce
from deals import services as deal_services
from deals.models import Deal, DealStatus

pytestmark = pytest.mark.django_db

IDS = {CrmKind.HUBSPOT: "5150", CrmKind.PIPEDRIVE: "5151", CrmKind.SALESFORCE: "0065e0000000515"}
FIELD = {
    CrmKind.HUBSPOT: "hubspot_id",
    CrmKind.PIPEDRIVE: "pipedrive_id",
    CrmKind.SALESFORCE: "salesforce_id",
}
# What the CRM receives for a reason given later (the deal is lost there already) and for a reopen
# of a deal in our stage "Proposal" (HubSpot's stage map says "contractsent").
REASON_BODY = {
    CrmKind.HUBSPOT: {"properties": {"dealstage": "closedlost", "closed_lost_reason": "Price too high"}},
    CrmKind.PIPEDRIVE: {"status": "lost", "lost_reason": "Price too high"},
    CrmKind.SALESFORCE: {"StageName": "Closed Lost", "Loss_Reason__c": "Price too high"},
}
REOPEN_BODY = {
    CrmKind.HUBSPOT: {"properties": {"dealstage": "contractsent"}},
    CrmKind.PIPEDRIVE: {"status": "open"},
    CrmKind.SALESFORCE: {"StageName": "Proposal"},
}


def _push(deal, kind):
    return services.deal_sync_push(deal_id=deal.pk, kind=kind, timeout=5)


def _webhook(client, kind, payload):
    if kind == CrmKind.HUBSPOT:
        body = json.dumps(payload).encode()
        headers = _sign(secret=HUBSPOT_SECRET, uri="http://testserver/webhooks/hubspot/", body=body)
        return client.post("/webhooks/hubspot/", body, content_type="application/json", **headers)
    if kind == CrmKind.PIPEDRIVE:
        auth = basic_auth(PIPEDRIVE_USER, PIPEDRIVE_PASSWORD)
        return client.post(
            "/webhooks/pipedrive/", json.dumps(payload), content_type="application/json", **auth
        )
    return Salesforce().post(client, [payload])


@pytest.mark.parametrize("kind", list(IDS), ids=str)
def test_a_reason_given_later_reaches_the_crm_and_its_echo_changes_nothing(client, world, fake_crm, kind):
    deal = world.deal(owner="alice", **{FIELD[kind]: IDS[kind]})
    deal_services.deal_mark_lost_from_crm(deal=deal, crm_reason_text="they went quiet", closed_at=None)
    assert not DealSync.objects.exists()  # the CRM's own close is not sent back
    client.force_login(world.alice)
    response = client.post(
        reverse("crm:give-reason", args=[deal.pk]),
        {"reason": world.reasons["price-too-high"].pk, "note": "", "revisit_on": ""},
    )
    assert response.status_code == 302
    assert DealSync.objects.get(deal=deal, kind=kind).state == "pending"
    assert _push(deal, kind).status == "synced"
    [request] = fake_crm.requests
    assert request.method == "PATCH" and request.body == REASON_BODY[kind]
    if kind == CrmKind.HUBSPOT:  # HubSpot announces the reason it was given as its own event
        echo = Hubspot().events(IDS[kind], "lost", "Price too high", timezone.now())[1:]
        assert _webhook(client, kind, echo).status_code == 200
        process_stored()
        assert WebhookEvent.objects.get().result == "ignored: the CRM echoed our own change"
    deal.refresh_from_db()
    assert (deal.status, deal.close_reason.code, deal.needs_reason) == ("lost", "price-too-high", False)
    assert len(fake_crm.requests) == 1


def _unrelated_edit(kind, at):
    """The CRM's next delivery for the deal after an edit that is not about its state."""
    stamp = at.isoformat().replace("+00:00", "Z")
    if kind == CrmKind.HUBSPOT:
        ms = int(at.timestamp() * 1000)
        return [{"portalId": 62515, "subscriptionId": 9, "eventId": 77, "objectId": int(IDS[kind]),
                 "occurredAt": ms, "subscriptionType": "deal.propertyChange", "propertyName": "dealname",
                 "propertyValue": "Birch Health - renewal"}]  # fmt: skip
    if kind == CrmKind.PIPEDRIVE:  # v1 shape: `previous` is the whole deal, still "lost" in the CRM
        data = {"id": int(IDS[kind]), "status": "lost", "title": "Birch - renewal", "update_time": stamp,
                "lost_reason": "No budget", "lost_time": stamp}  # fmt: skip
        previous = {**data, "title": "Birch"}
        meta = {"action": "change", "entity": "deal", "company_id": "12882925", "id": "edit-1",
                "entity_id": IDS[kind], "timestamp": stamp}  # fmt: skip
        return {"data": data, "previous": previous, "meta": meta}
    return Salesforce().events(IDS[kind], "Proposal", None, at)[0]  # the CRM after our reopen


@pytest.mark.parametrize("kind", list(IDS), ids=str)
def test_a_reopen_here_reaches_the_crm_and_a_later_crm_edit_leaves_it_open(client, world, fake_crm, kind):
    CrmConnection.objects.filter(kind=CrmKind.HUBSPOT).update(stage_map={"Proposal": "contractsent"})
    deal = world.deal(owner="alice", **{FIELD[kind]: IDS[kind]})
    deal_services.deal_mark_lost(deal=deal, reason=world.reasons["no-budget"], actor=world.alice)
    assert _push(deal, kind).status == "synced"
    client.force_login(world.alice)
    response = client.post(reverse("deals:reopen", args=[deal.pk]), {"stage": world.stages[3].pk})
    assert response.status_code == 302
    assert DealSync.objects.get(deal=deal, kind=kind).state == "pending"
    assert _push(deal, kind).status == "synced"
    close, reopen = fake_crm.requests
    assert reopen.method == "PATCH" and reopen.path == close.path and reopen.body == REOPEN_BODY[kind]

    # A delivery the CRM made before our reopen reached it (its time is before the reopen)...
    if kind == CrmKind.SALESFORCE:
        stale = Salesforce().events(IDS[kind], "lost", "No budget", timezone.now() - timedelta(seconds=30))[0]
        assert _webhook(client, kind, stale).status_code == 200
    # ... and an unrelated edit there afterwards leave the deal open.
    assert (
        _webhook(client, kind, _unrelated_edit(kind, timezone.now() + timedelta(minutes=1))).status_code
        == 200
    )
    process_stored()
    deal.refresh_from_db()
    assert deal.status == DealStatus.OPEN and deal.stage.name == "Proposal"
    assert not WebhookEvent.objects.filter(status__in=["failed", "dead"]).exists()
    assert len(fake_crm.requests) == 2  # nothing more was sent
    assert Deal.objects.get(pk=deal.pk).closures.get().reopened_at is not None


def test_a_reopen_to_a_stage_hubspot_has_no_id_for_fails_plainly_until_it_is_mapped(client, world, fake_crm):
    """HubSpot's dealstage takes stage ids: a reopen to a stage the connection's map leaves out
    is not sent as our stage's name. The sync fails saying which stage to map; once it is
    mapped, a retry sends the mapped id."""
    CrmConnection.objects.filter(kind=CrmKind.HUBSPOT).update(stage_map={})
    deal = world.deal(owner="alice", hubspot_id=IDS[CrmKind.HUBSPOT])
    deal_services.deal_mark_lost(deal=deal, reason=world.reasons["no-budget"], actor=world.alice)
    assert _push(deal, CrmKind.HUBSPOT).status == "synced"
    client.force_login(world.alice)
    assert (
        client.post(reverse("deals:reopen", args=[deal.pk]), {"stage": world.stages[3].pk}).status_code == 302
    )
    assert _push(deal, CrmKind.HUBSPOT).status == "failed"
    sync = DealSync.objects.get(deal=deal, kind=CrmKind.HUBSPOT)
    assert "“Proposal” has no HubSpot deal stage" in sync.last_error
    assert len(fake_crm.requests) == 1  # only the close went out

    client.force_login(world.carol)
    page = client.get(reverse("deals:detail", args=[deal.pk])).content.decode()
    assert "has no HubSpot deal stage in this connection" in page  # the admin sees why

    CrmConnection.objects.filter(kind=CrmKind.HUBSPOT).update(stage_map={"Proposal": "contractsent"})
    services.deal_sync_retry(sync=sync)
    assert _push(deal, CrmKind.HUBSPOT).status == "synced"
    assert fake_crm.requests[-1].body == REOPEN_BODY[CrmKind.HUBSPOT]
