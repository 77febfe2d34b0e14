"""Owner changes from offboarding are written back to each CRM like closes: a person deactivated on
the people page hands their open deals to a successor, and each CRM's record (a loopback fake CRM
that keeps its records: HubSpot's hubspot_owner_id, Pipedrive's owner_id, Salesforce's OwnerId)
then names the successor's CRM owner id from the owner map, sent through the outbox. A successor
without a CRM owner id is not written back, and the offboarding and deal pages say so."""

import pytest
from django.urls import reverse

from crm import services
from crm.models import CrmConnection, CrmKind, CrmSyncRun, DealOwnerSync
from crm.owner_sync import HANDOFF_OWNER_WRITE_BACK
from crm.sync.run import sync_run
from crm.tests.fake_salesforce import sf_id
from crm.tests.test_crm_people import HubSpotOwners, PipedriveOwners, SalesforceOwners
from deals.factories import MembershipFactory, UserFactory
from deals.models import Deal, DealStatus
from deals.services import deal_change_owner
from outbox.models import Message
from outbox.services import handoff_enqueue, message_deliver
from people.models import PersonEvent
from teams.models import Membership, Team, User

pytestmark = pytest.mark.django_db

SAM_IDS = {CrmKind.HUBSPOT: "107", CrmKind.PIPEDRIVE: "18487527", CrmKind.SALESFORCE: sf_id("005", 7)}
PATCH_BODY = {
    CrmKind.HUBSPOT: lambda crm_id: {"properties": {"hubspot_owner_id": crm_id}},
    CrmKind.PIPEDRIVE: lambda crm_id: {"owner_id": int(crm_id)},
    CrmKind.SALESFORCE: lambda crm_id: {"OwnerId": crm_id},
}


@pytest.fixture(params=[HubSpotOwners, PipedriveOwners, SalesforceOwners], ids=lambda d: d.kind)
def synced(request, client, people, fake_crm):
    """A CRM brought in by a first sync (alice's and dave's deals), and Sam, a rep of East."""
    driver = request.param()
    driver.setup(fake_crm)
    client.force_login(people["carol"])
    client.post(reverse("crm:sync-start", args=[driver.kind]), {"window_months": 24})
    assert sync_run(run_id=CrmSyncRun.objects.get().pk) is None
    sam = UserFactory(username="sam", role=User.Role.REP, email="sam@ourco.example", first_name="Sam")
    MembershipFactory(team=Team.objects.get(name="East"), user=sam, role=Membership.Role.REP)
    driver.sam = sam
    return driver


def _deliver_owner_write_backs() -> int:
    messages = list(Message.objects.filter(kind=HANDOFF_OWNER_WRITE_BACK).order_by("pk"))
    for message in messages:
        message_deliver(message_id=message.pk)
    return len(messages)


def _deactivate(client, people, successor) -> str:
    client.force_login(people["carol"])
    response = client.post(
        reverse("people:deactivate", args=[people["alice"].pk]), {"successor": successor.pk}, follow=True
    )
    assert response.status_code == 200
    people["alice"].refresh_from_db()
    assert not people["alice"].is_active
    return response.content.decode()


def test_offboarding_writes_the_successor_back_to_the_crm(client, people, synced, fake_crm):
    kind, sam_id = synced.kind, SAM_IDS[synced.kind]
    owner_map = {**CrmConnection.objects.get(kind=kind).owner_map, sam_id: "sam"}
    services.connection_save(kind=kind, owner_map=owner_map)
    field = CrmConnection.objects.get(kind=kind).external_id_field
    moved = list(Deal.objects.filter(owner=people["alice"], status=DealStatus.OPEN).order_by("pk"))
    kept = list(Deal.objects.filter(owner=people["alice"]).exclude(status=DealStatus.OPEN))
    assert moved and kept
    patches_before = len([r for r in fake_crm.requests if r.method == "PATCH"])

    page = _deactivate(client, people, synced.sam)
    assert "keep their previous owner" not in page

    assert _deliver_owner_write_backs() >= 1
    for deal in moved:
        deal.refresh_from_db()
        assert deal.owner == synced.sam
        assert synced.owner_of(getattr(deal, field)) == sam_id  # the CRM's record changed
    for deal in kept:  # closed deals keep their owner here and in the CRM
        assert synced.owner_of(getattr(deal, field)) == synced.ids["alice"]
    patches = [r for r in fake_crm.requests if r.method == "PATCH"][patches_before:]
    assert len(patches) == len(moved)
    assert all(p.body == PATCH_BODY[kind](sam_id) for p in patches)
    syncs = DealOwnerSync.objects.filter(kind=kind)
    assert sorted(s.deal_id for s in syncs) == [d.pk for d in moved]
    assert {(s.state, s.crm_owner_id) for s in syncs} == {(DealOwnerSync.State.SYNCED, sam_id)}
    detail = client.get(reverse("deals:detail", args=[moved[0].pk])).content.decode()
    assert "Owner written back" in detail

    # The same hand-off delivered again sends nothing twice.
    handoff_enqueue(kind=HANDOFF_OWNER_WRITE_BACK, items=[[deal.pk, kind] for deal in moved])
    _deliver_owner_write_backs()
    assert len([r for r in fake_crm.requests if r.method == "PATCH"][patches_before:]) == len(moved)


def test_a_successor_without_a_crm_id_is_not_written_back_and_the_pages_say_so(
    client, people, synced, fake_crm
):
    kind, sam_id = synced.kind, SAM_IDS[synced.kind]
    label = CrmConnection.objects.get(kind=kind).get_kind_display()
    field = CrmConnection.objects.get(kind=kind).external_id_field
    moved = list(Deal.objects.filter(owner=people["alice"], status=DealStatus.OPEN).order_by("pk"))
    patches_before = len([r for r in fake_crm.requests if r.method == "PATCH"])

    page = _deactivate(client, people, synced.sam)
    assert f"{len(moved)} deal(s) keep their previous owner in {label}" in page
    note = PersonEvent.objects.get(person=people["alice"], action=PersonEvent.Action.DEACTIVATED).note
    assert f"the successor has no {label} owner id" in note
    assert _deliver_owner_write_backs() == 0
    assert len([r for r in fake_crm.requests if r.method == "PATCH"]) == patches_before
    syncs = list(DealOwnerSync.objects.filter(kind=kind))
    assert {s.state for s in syncs} == {DealOwnerSync.State.SKIPPED} and len(syncs) == len(moved)
    detail = client.get(reverse("deals:detail", args=[moved[0].pk])).content.decode()
    assert f"Sam has no {label} owner id in the connection&#x27;s owner map" in detail
    assert "Send owner again" in detail
    assert synced.owner_of(getattr(moved[0], field)) == synced.ids["alice"]

    # Once Sam is mapped, "send owner again" on the deal's page writes him back.
    owner_map = {**CrmConnection.objects.get(kind=kind).owner_map, sam_id: "sam"}
    services.connection_save(kind=kind, owner_map=owner_map)
    sync = DealOwnerSync.objects.get(deal=moved[0], kind=kind)
    assert client.post(reverse("crm:owner-sync-retry", args=[sync.pk])).status_code == 302
    assert _deliver_owner_write_backs() == 1
    assert synced.owner_of(getattr(moved[0], field)) == sam_id
    sync.refresh_from_db()
    assert sync.state == DealOwnerSync.State.SYNCED


def test_another_teams_rep_cannot_send_an_owner_again(client, people, synced):
    page = _deactivate(client, people, synced.sam)
    assert "keep their previous owner" in page
    sync = DealOwnerSync.objects.filter(kind=synced.kind).first()
    client.force_login(people["dave"])  # a rep of West; the deal is East's
    assert client.post(reverse("crm:owner-sync-retry", args=[sync.pk])).status_code == 404
    sync.refresh_from_db()
    assert sync.state == DealOwnerSync.State.SKIPPED
    assert not Message.objects.filter(kind=HANDOFF_OWNER_WRITE_BACK).exists()


def test_an_owner_change_from_the_crm_is_not_sent_back(people, synced):
    deal = Deal.objects.filter(owner=people["alice"], status=DealStatus.OPEN).first()
    deal_change_owner(deal=deal, owner=synced.sam, actor=None, via_crm=True)
    assert not DealOwnerSync.objects.exists()
    assert not Message.objects.filter(kind=HANDOFF_OWNER_WRITE_BACK).exists()
