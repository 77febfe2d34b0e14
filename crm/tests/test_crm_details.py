"""Amount and owner changes from each CRM (its own payloads, and reconciliation) reach the deal
through the deal services, in the CRM's own order; the deal's follow-ups move with its owner."""

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from crm.models import CrmConnection, CrmKind, WebhookEvent
from crm.reconcile import crm_reconcile
from crm.tests.conftest import PIPEDRIVE_PASSWORD, PIPEDRIVE_USER, basic_auth, process_stored
from crm.tests.test_write_back_here import _webhook
from deals import services as deal_services
from deals.models import DealEvent
from followups.models import FollowUp

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
OWNERS = {CrmKind.HUBSPOT: "311", CrmKind.PIPEDRIVE: "18487522", CrmKind.SALESFORCE: "0055e000001ErInAAA"}


def _hubspot(deal_id: str, name: str, value: str, at: datetime, event_id: int) -> list[dict]:
    return [{"portalId": 62515, "subscriptionId": 5, "eventId": event_id, "objectId": int(deal_id),
             "occurredAt": int(at.timestamp() * 1000), "subscriptionType": "deal.propertyChange",
             "propertyName": name, "propertyValue": value}]  # fmt: skip


def _pipedrive(deal_id: str, at: datetime, *, value=None, owner=None, previous: dict, key: str) -> dict:
    stamp = at.isoformat().replace("+00:00", "Z")
    data = {"id": int(deal_id), "status": "open", "title": "Birch", "value": value, "owner_id": owner,
            "update_time": stamp}  # fmt: skip
    meta = {"action": "change", "entity": "deal", "company_id": "12882925", "version": "2.0", "id": key,
            "entity_id": deal_id, "timestamp": stamp}  # fmt: skip
    return {"data": data, "previous": {"status": "open", **previous}, "meta": meta}


def _salesforce(deal_id: str, at: datetime, *, amount: str, owner: str, number: int) -> str:
    modified = at.isoformat().replace("+00:00", ".000Z")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body><notifications xmlns="http://soap.sforce.com/2005/09/outbound">
  <OrganizationId>00D5e000000AbCdEAK</OrganizationId>
  <Notification><Id>04l5e00000D{number:05d}</Id>
   <sObject xsi:type="sf:Opportunity" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
    <sf:Id>{deal_id}</sf:Id><sf:LastModifiedDate>{modified}</sf:LastModifiedDate>
    <sf:Amount>{amount}</sf:Amount><sf:OwnerId>{owner}</sf:OwnerId><sf:StageName>Proposal</sf:StageName>
   </sObject></Notification>
 </notifications></soapenv:Body></soapenv:Envelope>"""


def _deliveries(kind, deal_id):
    """(newer amount 52,000 and new owner at T0+10 min; an older amount 40,000 from T0+5 min)."""
    new, old = T0 + timedelta(minutes=10), T0 + timedelta(minutes=5)
    if kind == CrmKind.HUBSPOT:
        return [
            _hubspot(deal_id, "amount", "52000", new, 1),
            _hubspot(deal_id, "hubspot_owner_id", OWNERS[kind], new, 2),
            _hubspot(deal_id, "amount", "40000", old, 3),
        ]
    if kind == CrmKind.PIPEDRIVE:
        return [
            _pipedrive(deal_id, new, value=52000, owner=int(OWNERS[kind]), key="m1",
                       previous={"value": 40000, "owner_id": 18487521}),
            _pipedrive(deal_id, old, value=40000, owner=18487521, key="m2", previous={"value": 30000}),
        ]  # fmt: skip
    return [
        _salesforce(deal_id, new, amount="52000.0", owner=OWNERS[kind], number=1),
        _salesforce(deal_id, old, amount="40000.0", owner="0055e000001AlIcAAA", number=2),
    ]


def _post(client, kind, payload):
    if kind == CrmKind.PIPEDRIVE:
        auth = basic_auth(PIPEDRIVE_USER, PIPEDRIVE_PASSWORD)
        return client.post(
            "/webhooks/pipedrive/", json.dumps(payload), content_type="application/json", **auth
        )
    return _webhook(client, kind, payload)


def _lost_with_a_reminder(world, **external):
    deal = world.deal(owner="alice", **external)
    deal_services.deal_mark_lost(
        deal=deal,
        reason=world.reasons["bad-timing"],
        actor=world.alice,
        revisit_on=date.today() + timedelta(days=60),
    )
    assert FollowUp.objects.filter(deal=deal, assignee=world.alice).count() == 3  # nurture tasks, reminder
    return deal


@pytest.mark.parametrize("kind", list(OWNERS), ids=str)
def test_amount_and_owner_from_each_crm_in_its_own_order(client, world, connections, kind):
    CrmConnection.objects.filter(kind=kind).update(owner_map={OWNERS[kind]: "erin"})
    field = {
        CrmKind.HUBSPOT: "hubspot_id",
        CrmKind.PIPEDRIVE: "pipedrive_id",
        CrmKind.SALESFORCE: "salesforce_id",
    }
    external_id = "0065e0000000901" if kind == CrmKind.SALESFORCE else "901"
    deal = _lost_with_a_reminder(world, **{field[kind]: external_id})
    for payload in _deliveries(kind, external_id):
        assert _post(client, kind, payload).status_code == 200
        process_stored()
    deal.refresh_from_db()
    assert (deal.amount, deal.owner) == (Decimal("52000.00"), world.erin)
    assert deal.status == "lost"  # details do not touch the close
    # The tasks and the reminder moved with the deal.
    assert set(FollowUp.objects.filter(deal=deal).values_list("assignee__username", flat=True)) == {"erin"}
    events = {(e.field, e.to_value, e.actor_kind) for e in deal.events.exclude(field="status")}
    assert events == {("amount", "52000.00", "crm"), ("owner", "erin", "crm")}
    assert not WebhookEvent.objects.filter(status__in=["failed", "dead"]).exists()


def test_an_owner_the_crm_names_but_nobody_here_is_reported(client, world, connections):
    deal = world.deal(owner="alice", hubspot_id="902")
    _post(client, CrmKind.HUBSPOT, _hubspot("902", "hubspot_owner_id", "999", T0, 1))
    process_stored()
    event = WebhookEvent.objects.get()
    assert event.status == "done" and "owner '999' is mapped to no user" in event.result
    deal.refresh_from_db()
    assert deal.owner == world.alice and not DealEvent.objects.filter(field="owner").exists()


def test_an_amount_out_of_range_is_reported_not_applied(client, world, connections):
    deal = world.deal(owner="alice", hubspot_id="904")
    before = deal.amount
    _post(client, CrmKind.HUBSPOT, _hubspot("904", "amount", "-5", T0, 1))
    process_stored()
    event = WebhookEvent.objects.get()
    assert event.status == "done" and "amount: ignored, The amount cannot be negative." in event.result
    deal.refresh_from_db()
    assert deal.amount == before and not DealEvent.objects.filter(field="amount").exists()


def test_reconciliation_brings_amount_and_owner(world, fake_crm):
    CrmConnection.objects.filter(kind=CrmKind.HUBSPOT).update(owner_map={"311": "erin"})
    deal = _lost_with_a_reminder(world, hubspot_id="903")
    changed = "2026-11-27T10:00:00.000Z"
    result = {"id": "903", "properties": {"dealstage": "closedlost", "closed_lost_reason": "Bad timing",
                                          "amount": "61000.5", "hubspot_owner_id": "311",
                                          "hs_lastmodifieddate": changed}}  # fmt: skip
    fake_crm.serve("POST", "/crm/v3/objects/deals/search", lambda path, body: (200, {"results": [result]}))
    report = crm_reconcile(
        connection=CrmConnection.objects.get(kind=CrmKind.HUBSPOT), now=T0 + timedelta(days=8)
    )
    assert report["drift"] == [] and report["applied"] == [
        {"deal": deal.pk, "result": "amount: 61000.50; owner: erin"}
    ]
    deal.refresh_from_db()
    assert (deal.amount, deal.owner, deal.status) == (Decimal("61000.50"), world.erin, "lost")
    assert set(FollowUp.objects.filter(deal=deal).values_list("assignee__username", flat=True)) == {"erin"}
    search = next(r for r in fake_crm.requests if r.path.endswith("/deals/search")).body
    assert {"amount", "hubspot_owner_id"} <= set(search["properties"])
