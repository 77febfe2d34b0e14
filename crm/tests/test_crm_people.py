"""Import people from the CRM, for each CRM against its loopback fake serving the CRM's own owner /
user payloads (HubSpot: /crm/v3/owners paged by `after`, active then archived; Pipedrive:
/api/v1/users; Salesforce: SOQL on User through nextRecordsUrl pages): the admin's page matches
owners to people by e-mail whatever its case, fills the connection's owner map with a history row,
invites the ticked unmatched (the e-mail goes through the outbox to the SMTP server), shows an
inactive CRM user without ticking it, refuses managers and reps, and the CRM's deals of an owner
invited this way then come in with that person as their owner."""

import pytest
from django.urls import reverse

from crm import services
from crm.models import CrmConnection, CrmKind, CrmSyncRun
from crm.sync.run import sync_run
from crm.tests.fake_salesforce import BATCH, sf_id
from crm.tests.test_sync_hubspot import HubSpotDriver
from crm.tests.test_sync_pipedrive import PipedriveDriver
from crm.tests.test_sync_salesforce import SalesforceDriver
from deals.factories import MembershipFactory, UserFactory
from deals.models import Deal
from outbox.models import Message
from outbox.services import message_deliver
from people.models import Invitation, PersonEvent
from teams.models import Membership, Team, User

pytestmark = pytest.mark.django_db

NORA, GIL = "nora.new@ourco.example", "gil.gone@ourco.example"


class HubSpotOwners(HubSpotDriver):
    ids = {"alice": "101", "dave": "102", "nora": "104", "gil": "105"}

    def add_owners(self):
        self.data.owner_page_size = 2  # HubSpot answers at most `limit`; a smaller page must be followed
        self.data.owner(self.ids["alice"], "Alice", "Ash", "ALICE@OurCo.Example")
        self.data.owner(self.ids["dave"], "Dave", "Dunn", "dave@ourco.example")
        self.data.owner(self.ids["nora"], "Nora", "New", NORA)
        self.data.owner("106", "Ops", "Bot", "")  # an owner without an e-mail address
        self.data.owner(self.ids["gil"], "Gil", "Gone", GIL, archived=True)

    def give_first_deal_to(self, crm_id: str) -> str:
        deal_id = sorted(self.data.deals, key=int)[0]
        self.data.deals[deal_id]["properties"]["hubspot_owner_id"] = crm_id
        return deal_id

    def owner_of(self, external_id: str) -> str:
        return self.data.deals[external_id]["properties"]["hubspot_owner_id"]


class PipedriveOwners(PipedriveDriver):
    ids = {"alice": "18487521", "dave": "18487522", "nora": "18487524", "gil": "18487525"}

    def add_owners(self):
        self.data.user(int(self.ids["alice"]), "Alice Ash", "Alice@ourco.example")
        self.data.user(int(self.ids["dave"]), "Dave Dunn", "DAVE@OURCO.EXAMPLE")
        self.data.user(int(self.ids["nora"]), "Nora New", NORA)
        self.data.user(int(self.ids["gil"]), "Gil Gone", GIL, active=False)

    def give_first_deal_to(self, crm_id: str) -> str:
        deal = self.data.deals[min(self.data.deals)]
        deal["owner_id"] = int(crm_id)
        return str(deal["id"])

    def owner_of(self, external_id: str) -> str:
        return str(self.data.deals[int(external_id)]["owner_id"])


class SalesforceOwners(SalesforceDriver):
    ids = {"alice": sf_id("005", 1), "dave": sf_id("005", 2), "nora": sf_id("005", 4), "gil": sf_id("005", 5)}

    def add_owners(self):
        self.data.batch = 2  # nextRecordsUrl pages of two records (Salesforce: up to 2,000)
        self.data.user(1, "Alice Ash", "alice@OURCO.example")
        self.data.user(2, "Dave Dunn", "dave@ourco.example")
        self.data.user(4, "Nora New", NORA)
        self.data.user(5, "Gil Gone", GIL, active=False)
        self.data.user(6, "Integration User", "integration@ourco.example", kind="AutomatedProcess")

    def give_first_deal_to(self, crm_id: str) -> str:
        opportunity = self.data.objects["Opportunity"][0]
        opportunity["OwnerId"] = crm_id
        return opportunity["Id"]

    def owner_of(self, external_id: str) -> str:
        return next(o for o in self.data.objects["Opportunity"] if o["Id"] == external_id)["OwnerId"]


DRIVERS = [HubSpotOwners, PipedriveOwners, SalesforceOwners]


@pytest.fixture(params=DRIVERS, ids=lambda d: d.kind)
def crm(request, people, fake_crm):
    """A connected CRM whose owner map is still empty, with its users."""
    driver = request.param()
    driver.setup(fake_crm)
    services.connection_save(kind=driver.kind, owner_map={})
    driver.add_owners()
    return driver


@pytest.fixture
def west_manager(people):
    manager = UserFactory(username="wendy", role=User.Role.MANAGER, email="wendy@ourco.example")
    MembershipFactory(team=Team.objects.get(name="West"), user=manager, role=Membership.Role.MANAGER)
    return manager


def test_owners_matched_mapped_and_invited_and_their_deals_come_in(client, people, crm, fake_crm, smtp_inbox):
    client.force_login(people["carol"])
    url = reverse("people:crm-import", args=[crm.kind])
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    rows = {
        crm_id: html.split(f'id="crm-owner-{crm_id}"')[1].split("</tr>")[0] for crm_id in crm.ids.values()
    }
    assert "Alice" in rows[crm.ids["alice"]] and 'href="/people/' in rows[crm.ids["alice"]]
    assert "will be mapped" in rows[crm.ids["dave"]]
    assert f'value="{crm.ids["nora"]}"' in rows[crm.ids["nora"]] and "checked" in rows[crm.ids["nora"]]
    assert "Deactivated" in rows[crm.ids["gil"]] and "checked" not in rows[crm.ids["gil"]]
    assert "nobody" in rows[crm.ids["gil"]]
    assert "Integration User" not in html  # Salesforce: only standard users
    if crm.kind == CrmKind.HUBSPOT:  # 4 active owners and 1 archived, 2 a page
        asked = [r.path for r in fake_crm.requests if r.path.startswith("/crm/v3/owners")]
        assert len(asked) == 2 + 1 and any("after=2" in p for p in asked)
    if crm.kind == CrmKind.SALESFORCE:
        asked = [r.path for r in fake_crm.requests if "/query/" in r.path]
        assert len(asked) >= 1  # the User list took nextRecordsUrl pages
    east = Team.objects.get(name="East")

    response = client.post(url, {"invite": [crm.ids["nora"]], "role": "rep", "team": east.pk})
    assert response.status_code == 302
    connection = CrmConnection.objects.get(kind=crm.kind)
    assert connection.owner_map == {
        crm.ids["alice"]: "alice",
        crm.ids["dave"]: "dave",
        crm.ids["nora"]: NORA,
    }
    nora = User.objects.get(email=NORA)
    assert (nora.get_full_name(), nora.role, nora.has_usable_password()) == ("Nora New", "rep", False)
    assert list(nora.memberships.values_list("team__name", flat=True)) == ["East"]
    assert not User.objects.filter(email=GIL).exists()  # inactive in the CRM: not invited
    label = connection.get_kind_display()
    events = PersonEvent.objects.filter(action=PersonEvent.Action.CRM_OWNER).order_by("person__username")
    assert [(e.person.username, e.after, e.actor) for e in events] == [
        ("alice", f"{label} {crm.ids['alice']}", people["carol"]),
        ("dave", f"{label} {crm.ids['dave']}", people["carol"]),
        (NORA, f"{label} {crm.ids['nora']}", people["carol"]),
    ]

    # The invite e-mail goes through the outbox, and the worker's delivery reaches the SMTP server.
    invitation = Invitation.objects.get(user=nora)
    message = Message.objects.get(kind="people.mail")
    message_deliver(message_id=message.pk)
    assert [m["To"] for m in smtp_inbox.messages] == [NORA]
    assert "/people/join/" in smtp_inbox.messages[0].get_body(("plain",)).get_content()
    assert invitation.pending

    # A second import changes nothing and invites nobody again.
    again = client.get(url).content.decode()
    assert again.count("(in the owner map)") == 3
    client.post(url, {"role": "rep", "team": east.pk})
    assert PersonEvent.objects.filter(action=PersonEvent.Action.CRM_OWNER).count() == 3
    assert Invitation.objects.count() == 1

    # The CRM's deals now come in with their owners: one of them is Nora's in the CRM.
    if crm.kind == CrmKind.SALESFORCE:
        crm.data.batch = BATCH
    external_id = crm.give_first_deal_to(crm.ids["nora"])
    client.post(reverse("crm:sync-start", args=[crm.kind]), {"window_months": 24})
    run = CrmSyncRun.objects.get()
    assert sync_run(run_id=run.pk) is None
    run.refresh_from_db()
    assert run.status == "done" and not [s for s in run.skipped if "owner" in s["why"]], run.skipped
    deal = Deal.objects.get(**{crm.id_field: external_id})
    assert deal.owner == nora
    owners = set(Deal.objects.values_list("owner__username", flat=True))
    assert owners == {"alice", "dave", NORA}


def test_a_person_deactivated_here_is_shown_not_invited(client, people, crm):
    gil = UserFactory(username="gil", email=GIL.upper(), is_active=False)
    client.force_login(people["carol"])
    url = reverse("people:crm-import", args=[crm.kind])
    html = client.get(url).content.decode()
    row = html.split(f'id="crm-owner-{crm.ids["gil"]}"')[1].split("</tr>")[0]
    assert "deactivated here" in row and 'type="checkbox"' not in row
    response = client.post(url, {"invite": [crm.ids["gil"]], "role": "rep", "team": ""})
    assert response.status_code == 400  # not a choice: the form says so
    assert crm.ids["gil"] not in CrmConnection.objects.get(kind=crm.kind).owner_map
    assert not PersonEvent.objects.filter(person=gil).exists()


def test_a_rep_invited_without_a_team_is_refused_naming_the_field(client, people, crm):
    client.force_login(people["carol"])
    url = reverse("people:crm-import", args=[crm.kind])
    response = client.post(url, {"invite": [crm.ids["nora"]], "role": "rep", "team": ""})
    assert response.status_code == 400
    assert "A rep sells in a team" in response.content.decode()
    assert not User.objects.filter(email=NORA).exists()
    assert CrmConnection.objects.get(kind=crm.kind).owner_map == {}


def test_managers_and_reps_cannot_see_or_use_the_import(client, people, crm, west_manager, fake_crm):
    connection_before = CrmConnection.objects.get(kind=crm.kind).owner_map
    reads = len(fake_crm.requests)
    for user in (west_manager, people["alice"]):
        client.force_login(user)
        for name, args in (("people:crm", []), ("people:crm-import", [crm.kind])):
            url = reverse(name, args=args)
            for response in (
                client.get(url),
                client.post(url, {"invite": [crm.ids["nora"]], "role": "admin"}),
            ):
                assert response.status_code == 403, (user, url)
                body = response.content.decode()
                assert NORA not in body and "dave@ourco.example" not in body.lower()
    assert CrmConnection.objects.get(kind=crm.kind).owner_map == connection_before
    assert not User.objects.filter(email=NORA).exists()
    assert len(fake_crm.requests) == reads  # the CRM was not even read for them


def test_a_crm_that_cannot_be_read_gives_a_clear_page(client, people, crm, fake_crm):
    fake_crm.fail_reads(50, status=503)
    client.force_login(people["carol"])
    response = client.get(reverse("people:crm-import", args=[crm.kind]))
    assert response.status_code == 502
    assert "could not be read" in response.content.decode()
