"""After the first sync, what the CRM changes keeps arriving through its own payloads (webhook only,
or reconciliation only, against the loopback fake CRM; no row made by the test): a deal closed lost
carries the competitor the connection's competitor field names, as the first sync reads it, and the
dashboard's competitor figure counts it; a person deleted in Pipedrive is erased; a person taken
off a Pipedrive deal leaves it at the next reconciliation."""

import copy
from datetime import timedelta

import pytest
from django.urls import reverse

from crm.models import CrmKind, CrmSyncRun, WebhookEvent
from crm.reconcile import crm_reconcile
from crm.sync.run import sync_run
from crm.tests import test_sync_hubspot as hs
from crm.tests import test_sync_pipedrive as pd
from crm.tests.conftest import HUBSPOT_SECRET, PIPEDRIVE_PASSWORD, PIPEDRIVE_USER, process_stored
from crm.tests.crm_events import (
    hubspot_association_removed,
    hubspot_creation,
    hubspot_property,
    pipedrive_event,
    post_hubspot,
    post_pipedrive,
)
from crm.tests.fake_hubspot import iso
from crm.tests.fake_pipedrive import stamp
from crm.tests.sync_world import NOW, connect, period_query
from deals.models import Contact, ContactErasure, Deal, DealContact, DealEvent, DealStatus
from followups.tests.test_erasure import _every_text_column_holding

pytestmark = pytest.mark.django_db

HS_FIELD = "lost_to_competitor"  # the portal's deal property naming the competitor
PD_FIELD = "9f0c1d2e3b4a5968778695a4b3c2d1e0f9a8b7c6"  # the company's custom field key


def _synced(client, people, kind: str) -> None:
    client.force_login(people["carol"])
    assert client.post(reverse("crm:sync-start", args=[kind]), {"window_months": 24}).status_code == 302
    assert sync_run(run_id=CrmSyncRun.objects.get().pk) is None


@pytest.fixture
def portal(client, people, fake_crm):
    portal, expected = hs.build_portal(deals=12)
    portal.serve(fake_crm)
    connect(
        CrmKind.HUBSPOT, fake_crm, api_token="hs-token", webhook_secret=HUBSPOT_SECRET, account_id="62515",
        owner_map=hs.OWNERS, competitor_field=HS_FIELD,
    )  # fmt: skip
    _synced(client, people, "hubspot")
    return portal, [e["id"] for e in expected if e["outcome"] == "open" and not e["skipped"]]


@pytest.fixture
def company(client, people, fake_crm):
    company, expected = pd.build_company(deals=12)
    company.person(777, "Noor Haddad", "noor@juniper.example", 300)
    company.participants[1].append(777)
    company.serve(fake_crm)
    connect(
        CrmKind.PIPEDRIVE, fake_crm, api_token="pd-token", webhook_username=PIPEDRIVE_USER,
        webhook_secret=PIPEDRIVE_PASSWORD, account_id="12882925", owner_map=pd.OWNERS,
        competitor_field=PD_FIELD,
    )  # fmt: skip
    _synced(client, people, "pipedrive")
    return company, [int(e["id"]) for e in expected if e["outcome"] == "open" and not e["skipped"]]


def _lose_in_hubspot(portal, deal_id: str, competitor: str, minutes: int) -> None:
    at = NOW + timedelta(minutes=minutes)  # after the first sync read the deal
    portal.move(deal_id, "closedlost", at, closed_lost_reason="Price too high", closedate=iso(at),
                **{HS_FIELD: competitor})  # fmt: skip


def _new_lost_in_hubspot(portal, deal_id: str, competitor: str) -> None:
    portal.deal(
        deal_id, name=f"New {deal_id}", pipeline="default", stages=["qualifiedtobuy", "closedlost"],
        owner="101", amount="5000", created=NOW - timedelta(days=20), changed=NOW + timedelta(minutes=3),
        closed=NOW - timedelta(days=1), reason="Price too high", company="901", contacts=[("2001", "")],
    )  # fmt: skip
    portal.deals[deal_id]["properties"][HS_FIELD] = competitor


def _lost_to(competitor) -> int:
    return Deal.objects.filter(status=DealStatus.LOST, closures__competitor=competitor).distinct().count()


def _figure_counts(api_as, people, competitor, lost: int) -> None:
    figures = api_as(people["carol"]).get("/api/figures/", period_query()).json()["figures"]
    rows = {r["competitor"]: r["lost"] for r in figures["by-competitor"]["rows"]}
    assert rows == {competitor.name: lost}


def test_hubspot_competitor_by_webhook_only(client, api_as, people, portal, competitor):
    """The property in the dealstage's delivery, on its own before the close, and with a deal the
    CRM created: each close carries it."""
    portal, open_ids = portal
    first, second = open_ids[:2]
    _lose_in_hubspot(portal, first, competitor.name.upper(), 1)
    post_hubspot(client, [hubspot_property(first, "dealstage", "closedlost"),
                          hubspot_property(first, "closed_lost_reason", "Price too high"),
                          hubspot_property(first, HS_FIELD, competitor.name.upper())])  # fmt: skip
    _lose_in_hubspot(portal, second, competitor.name, 2)
    post_hubspot(client, [hubspot_property(second, HS_FIELD, competitor.name)])  # before its close
    process_stored()
    post_hubspot(client, [hubspot_property(second, "dealstage", "closedlost")])
    _new_lost_in_hubspot(portal, "1901", competitor.name)
    post_hubspot(client, [hubspot_creation("1901")])
    process_stored()
    assert not WebhookEvent.objects.filter(status__in=["failed", "dead"]).exists()
    for deal_id in (first, second, "1901"):
        deal = Deal.objects.get(hubspot_id=deal_id)
        assert deal.status == DealStatus.LOST and deal.closures.get().competitor == competitor, deal_id
    assert _lost_to(competitor) == 3
    _figure_counts(api_as, people, competitor, 3)


def test_hubspot_competitor_by_reconciliation_only(client, api_as, people, portal, competitor):
    portal, open_ids = portal
    connection = CrmKind.HUBSPOT
    _lose_in_hubspot(portal, open_ids[0], competitor.name, 1)
    _new_lost_in_hubspot(portal, "1902", competitor.name)
    already_lost = Deal.objects.filter(status=DealStatus.LOST, hubspot_id__isnull=False).first()
    portal.deals[already_lost.hubspot_id]["properties"].update(
        {HS_FIELD: competitor.name, "hs_lastmodifieddate": iso(NOW + timedelta(minutes=4))}
    )  # named in HubSpot after the first sync brought the close
    from crm.models import CrmConnection

    crm_reconcile(connection=CrmConnection.objects.get(kind=connection))
    assert not WebhookEvent.objects.exists()
    for deal_id in (open_ids[0], "1902", already_lost.hubspot_id):
        deal = Deal.objects.get(hubspot_id=deal_id)
        assert deal.status == DealStatus.LOST and deal.closures.get().competitor == competitor, deal_id
    _figure_counts(api_as, people, competitor, 3)


def _lose_in_pipedrive(company, deal_id: int, competitor: str, minutes: int) -> dict:
    before = copy.deepcopy(company.deals[deal_id])
    at = stamp(NOW + timedelta(minutes=minutes))
    company.deals[deal_id].update(status="lost", lost_reason="Price too high", lost_time=at, close_time=at,
                                  update_time=at)  # fmt: skip
    company.deals[deal_id]["custom_fields"][PD_FIELD] = competitor
    return before


def _new_lost_in_pipedrive(company, deal_id: int, competitor: str) -> None:
    company.deal(
        deal_id, title=f"New {deal_id}", pipeline=1, stage=3, owner=18487521, value=700, status="lost",
        created=NOW - timedelta(days=9), updated=NOW + timedelta(minutes=3), closed=NOW - timedelta(days=1),
        lost_reason="Price too high", person=501, org=301,
    )  # fmt: skip
    company.deals[deal_id]["custom_fields"][PD_FIELD] = competitor


def test_pipedrive_competitor_by_webhook_only(client, api_as, people, company, competitor):
    company, open_ids = company
    before = _lose_in_pipedrive(company, open_ids[0], competitor.name, 1)
    deal = company.deals[open_ids[0]]
    previous = {"status": before["status"], "update_time": before["update_time"], "lost_reason": None}
    post_pipedrive(client, pipedrive_event("change", "deal", open_ids[0], deal, previous))
    _new_lost_in_pipedrive(company, 8101, competitor.name)
    post_pipedrive(client, pipedrive_event("create", "deal", 8101, company.deals[8101], None))
    process_stored()
    assert not WebhookEvent.objects.filter(status__in=["failed", "dead"]).exists()
    for deal_id in (open_ids[0], 8101):
        deal = Deal.objects.get(pipedrive_id=str(deal_id))
        assert deal.status == DealStatus.LOST and deal.closures.get().competitor == competitor, deal_id
    _figure_counts(api_as, people, competitor, 2)


def test_pipedrive_competitor_by_reconciliation_only(client, api_as, people, company, competitor):
    from crm.models import CrmConnection

    company, open_ids = company
    _lose_in_pipedrive(company, open_ids[0], competitor.name, 1)
    _new_lost_in_pipedrive(company, 8102, competitor.name)
    crm_reconcile(connection=CrmConnection.objects.get(kind=CrmKind.PIPEDRIVE))
    assert not WebhookEvent.objects.exists()
    for deal_id in (open_ids[0], 8102):
        deal = Deal.objects.get(pipedrive_id=str(deal_id))
        assert deal.status == DealStatus.LOST and deal.closures.get().competitor == competitor, deal_id
    _figure_counts(api_as, people, competitor, 2)


def test_a_person_deleted_in_pipedrive_is_erased_everywhere(client, people, company):
    company, _open_ids = company
    contact = Contact.objects.get(pipedrive_id="777")
    assert DealContact.objects.filter(contact=contact).exists() and contact.email == "noor@juniper.example"
    person = company.persons.pop(777)  # deleted in Pipedrive: its webhook carries what it was
    company.participants[1].remove(777)
    post_pipedrive(client, pipedrive_event("delete", "person", 777, None, person))
    process_stored()
    contact.refresh_from_db()
    event = WebhookEvent.objects.get()
    assert contact.erased_at is not None and event.result == f"contact {contact.pk} erased"
    assert ContactErasure.objects.get(contact=contact).source == "crm"
    for needle in ["Noor Haddad", "noor@juniper.example", "Haddad"]:
        assert _every_text_column_holding(needle) == [], needle


def test_a_person_taken_off_a_pipedrive_deal_leaves_it_at_reconciliation(client, people, company):
    from crm.models import CrmConnection

    company, _open_ids = company
    deal = Deal.objects.get(pipedrive_id="1")
    noor = Contact.objects.get(pipedrive_id="777")
    assert DealContact.objects.filter(deal=deal, contact=noor).exists()
    company.participants[1].remove(777)  # taken off the deal in Pipedrive
    company.deals[1]["update_time"] = stamp(NOW + timedelta(minutes=1))
    crm_reconcile(connection=CrmConnection.objects.get(kind=CrmKind.PIPEDRIVE))
    assert not DealContact.objects.filter(deal=deal, contact=noor).exists()
    assert DealContact.objects.filter(deal=deal).exists()  # the others stay
    assert DealEvent.objects.filter(
        deal=deal, field="contact", from_value=str(noor.pk), actor_kind="crm"
    ).exists()


def test_a_contact_taken_off_a_hubspot_deal_leaves_it_by_webhook(client, people, portal):
    """deal.associationChange with associationRemoved: the link goes (history kept); a company
    association changing is not followed; a repeated removal changes nothing."""
    portal, _open_ids = portal
    deal = Deal.objects.get(hubspot_id="1001")
    links = list(DealContact.objects.filter(deal=deal).select_related("contact"))
    assert len(links) == 2
    gone, kept = links[0].contact, links[1].contact
    portal.deal_contacts["1001"] = [c for c in portal.deal_contacts["1001"] if c[0] != gone.hubspot_id]
    removed = hubspot_association_removed("1001", gone.hubspot_id)
    company = {**hubspot_association_removed("1001", "901"), "associationType": "DEAL_TO_COMPANY"}
    post_hubspot(client, [removed, company])
    post_hubspot(client, [{**removed, "eventId": removed["eventId"] + 1000}])  # HubSpot told us twice
    process_stored()
    assert list(DealContact.objects.filter(deal=deal).values_list("contact", flat=True)) == [kept.pk]
    assert (
        DealEvent.objects.filter(
            deal=deal, field="contact", from_value=str(gone.pk), actor_kind="crm"
        ).count()
        == 1
    )
    results = sorted(WebhookEvent.objects.values_list("status", "result"))
    assert results == [
        ("done", f"contact {gone.pk} left deal {deal.pk}"),
        ("ignored", "association DEAL_TO_COMPANY is not followed"),
        ("ignored", f"ignored: contact {gone.pk} is not on deal {deal.pk}"),
    ], results
