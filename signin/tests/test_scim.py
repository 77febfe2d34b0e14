"""SCIM 2.0 from an identity provider's requests (Okta's and Entra ID's documented shapes): users
created, deactivated with the people pages' offboarding, and team membership that changes access."""

import json

import pytest
from knox.models import AuthToken

from deals.models import Closure, Deal
from deals.services import deal_mark_lost
from people.models import PersonEvent, TeamChange
from signin.models import ScimAccount
from signin.services import scim_token_issue
from teams.models import Membership, Team, User

SCIM = "application/scim+json"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"

# Okta's "Create User" request (Okta SCIM 2.0 guide), as Okta sends it.
OKTA_CREATE_USER = {
    "schemas": [USER_SCHEMA],
    "userName": "Ravi.Shah@acme.example",
    "name": {"givenName": "Ravi", "familyName": "Shah"},
    "emails": [{"primary": True, "value": "ravi.shah@acme.example", "type": "work"}],
    "displayName": "Ravi Shah",
    "locale": "en-US",
    "externalId": "00ujl29u0le5T6Aj10h7",
    "groups": [],
    "password": "1mz050nq",
    "active": True,
}
OKTA_DEACTIVATE = {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"active": False}}]}
ENTRA_DEACTIVATE = {
    "schemas": [PATCH_OP],
    "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
}


@pytest.fixture
def scim(client, world):
    token = scim_token_issue(actor=world.carol)

    def call(method: str, path: str, body: dict | None = None, token_header: str | None = f"Bearer {token}"):
        headers = {"HTTP_AUTHORIZATION": token_header} if token_header else {}
        data = json.dumps(body) if body is not None else None
        return getattr(client, method)(f"/scim/v2/{path}", data=data, content_type=SCIM, **headers)

    return call


@pytest.mark.django_db
@pytest.mark.parametrize("header", [None, "Bearer wrong-token", "Basic c2NpbTpzY2lt", "Bearer "])
def test_without_the_token_scim_answers_401_and_nothing_else(scim, header, world):
    people = User.objects.count()
    for method, path, body in [
        ("get", "Users", None),
        ("post", "Users", OKTA_CREATE_USER),
        ("get", "Groups", None),
    ]:
        response = scim(method, path, body, token_header=header)
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert "alice" not in response.content.decode() and "userName" not in response.content.decode()
    assert User.objects.count() == people


@pytest.mark.django_db
def test_signed_in_people_without_the_token_cannot_use_scim(client, world):
    for person in (world.alice, world.bob, world.carol):
        client.force_login(person)
        response = client.get("/scim/v2/Users")
        assert response.status_code == 401 and b"alice" not in response.content


@pytest.mark.django_db
def test_okta_creates_a_person_once_with_the_default_role_and_no_password(scim, world):
    created = scim("post", "Users", OKTA_CREATE_USER)
    assert created.status_code == 201, created.content
    body = created.json()
    ravi = User.objects.get(pk=body["id"])
    assert (ravi.username, ravi.email, ravi.first_name, ravi.role) == (
        "ravi.shah@acme.example",
        "ravi.shah@acme.example",
        "Ravi",
        "rep",
    )
    assert ravi.is_active and not ravi.has_usable_password() and not ravi.memberships.exists()
    assert ScimAccount.objects.get(user=ravi).external_id == "00ujl29u0le5T6Aj10h7"
    assert body["active"] is True and body["externalId"] == "00ujl29u0le5T6Aj10h7"
    assert created["Location"].endswith(f"/scim/v2/Users/{ravi.pk}")

    # Okta looks the person up before creating (case-insensitively), then a second create clashes.
    found = scim("get", "Users?filter=userName%20eq%20%22ravi.shah@ACME.example%22&startIndex=1&count=100")
    assert found.status_code == 200 and [r["id"] for r in found.json()["Resources"]] == [str(ravi.pk)]
    again = scim("post", "Users", OKTA_CREATE_USER)
    assert again.status_code in (400, 409) and "already" in again.json()["detail"]
    assert User.objects.filter(email="ravi.shah@acme.example").count() == 1
    assert scim("get", "Users/notanumber").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("patch", [OKTA_DEACTIVATE, ENTRA_DEACTIVATE], ids=["okta", "entra"])
def test_deactivating_in_the_provider_offboards_as_the_people_pages_do(client, scim, world, api_as, patch):
    open_deal = world.deal(owner="alice", name="Birch expansion")
    lost = world.deal(owner="alice", name="Birch pilot")
    deal_mark_lost(deal=lost, reason=world.reasons["no-budget"], actor=world.alice)
    from django.test import Client

    alices_browser = Client()
    alices_browser.force_login(world.alice)
    alices_api = api_as(world.alice)
    assert alices_api.get("/api/deals/").status_code == 200

    response = scim("patch", f"Users/{world.alice.pk}", patch)
    assert response.status_code == 200, response.content
    assert response.json()["active"] is False
    world.alice.refresh_from_db()
    assert not world.alice.is_active
    assert alices_browser.get("/deals/").status_code == 302  # her session ended
    assert alices_api.get("/api/deals/").status_code == 401  # her token too
    assert not AuthToken.objects.filter(user=world.alice).exists()
    assert Deal.objects.get(pk=open_deal.pk).owner == world.bob  # the manager of East takes over
    assert Closure.objects.get(deal=lost).actor == world.alice  # history keeps its actor
    event = PersonEvent.objects.get(person=world.alice, action=PersonEvent.Action.DEACTIVATED)
    assert event.actor is None and "bob" in event.note.lower()
    # Deactivating again changes nothing and is not an error.
    assert scim("patch", f"Users/{world.alice.pk}", patch).status_code == 200


@pytest.mark.django_db
def test_group_membership_from_the_provider_changes_what_a_manager_sees(client, scim, world):
    east_deal = world.deal(owner="alice", name="Birch expansion")
    client.force_login(world.grace)  # manager of West
    assert client.get(f"/deals/{east_deal.pk}/").status_code == 404

    group = scim("post", "Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Enterprise", "members": []})
    assert group.status_code == 201 and Team.objects.filter(name="Enterprise").exists()
    enterprise = Team.objects.get(name="Enterprise")
    rename = {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "value": {"displayName": "Enterprise EU"}}],
    }
    assert scim("patch", f"Groups/{enterprise.pk}", rename).status_code == 200
    # Made and renamed through the team services: the history the people pages show, no actor.
    history = TeamChange.objects.filter(team=enterprise).order_by("pk")
    assert list(history.values_list("action", "before", "after", "actor")) == [
        ("created", "", "Enterprise", None),
        ("renamed", "Enterprise", "Enterprise EU", None),
    ]
    add = {
        "schemas": [PATCH_OP],
        "Operations": [
            {"op": "add", "path": "members", "value": [{"value": str(world.grace.pk), "display": "grace"}]}
        ],
    }
    assert scim("patch", f"Groups/{world.east.pk}", add).status_code == 200
    assert Membership.objects.filter(team=world.east, user=world.grace, role="manager").exists()
    assert client.get(f"/deals/{east_deal.pk}/").status_code == 200
    listed = scim("get", f"Groups/{world.east.pk}").json()
    assert str(world.grace.pk) in [m["value"] for m in listed["members"]]

    # Okta's removal names the member in the path and sends no value.
    remove = {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "remove", "path": f'members[value eq "{world.grace.pk}"]'}],
    }
    assert scim("patch", f"Groups/{world.east.pk}", remove).status_code == 200
    assert client.get(f"/deals/{east_deal.pk}/").status_code == 404
    assert PersonEvent.objects.filter(person=world.grace, action=PersonEvent.Action.TEAM_REMOVED).exists()


@pytest.mark.django_db
def test_a_rep_pushed_into_a_second_team_is_refused_plainly(scim, world):
    add = {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": str(world.alice.pk)}]}],
    }
    response = scim("patch", f"Groups/{world.west.pk}", add)
    assert response.status_code == 400 and "one team" in response.json()["detail"]
    assert not Membership.objects.filter(team=world.west, user=world.alice).exists()


@pytest.mark.django_db
def test_okta_put_and_entra_patch_update_the_profile(scim, world):
    ravi = scim("post", "Users", OKTA_CREATE_USER).json()
    put = {**OKTA_CREATE_USER, "id": ravi["id"], "name": {"givenName": "Ravindra", "familyName": "Shah"}}
    assert scim("put", f"Users/{ravi['id']}", put).status_code == 200
    # Entra ID: one attribute per operation, by path, and values as strings.
    entra = {
        "schemas": [PATCH_OP],
        "Operations": [
            {"op": "Replace", "path": "name.familyName", "value": "Shah-Iyer"},
            {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "ravi.si@acme.example"},
            {"op": "Add", "path": "displayName", "value": "Ravi Shah-Iyer"},
            {"op": "Replace", "path": "externalId", "value": "a1b2c3"},
        ],
    }
    response = scim("patch", f"Users/{ravi['id']}", entra)
    assert response.status_code == 200, response.content
    person = User.objects.get(pk=ravi["id"])
    assert (person.first_name, person.last_name, person.email) == (
        "Ravindra",
        "Shah-Iyer",
        "ravi.si@acme.example",
    )
    assert ScimAccount.objects.get(user=person).external_id == "a1b2c3"


@pytest.mark.django_db
def test_a_delete_deactivates_and_keeps_the_person(scim, world):
    ravi = scim("post", "Users", OKTA_CREATE_USER).json()
    assert scim("delete", f"Users/{ravi['id']}").status_code == 204
    person = User.objects.get(pk=ravi["id"])
    assert not person.is_active
    assert PersonEvent.objects.filter(person=person, action=PersonEvent.Action.DEACTIVATED).exists()


@pytest.mark.django_db
def test_lists_page_and_bad_requests_are_plain_errors(scim, world):
    page = scim("get", "Users?startIndex=2&count=2").json()
    assert (
        page["totalResults"] == User.objects.count() and page["itemsPerPage"] == 2 and page["startIndex"] == 2
    )
    assert scim("get", "Users?count=abc").status_code == 400
    assert scim("post", "Users", {"schemas": [USER_SCHEMA]}).status_code == 400
    assert scim("patch", f"Users/{world.alice.pk}", {"Operations": []}).status_code == 400
    assert scim("get", "Users/999999").status_code == 404
    assert scim("get", "Bulk").status_code == 501
