"""A team's own integration feeds deals, companies and buyers through the API, upserting by its
external ids; another team's rep sees none of it (404); bad input is a 400 naming the field."""

import pytest

from deals.models import Account, Contact, Deal, DealContact, DealEvent
from followups.models import ContactOptOut

pytestmark = pytest.mark.django_db


def _deal_payload(**overrides) -> dict:
    payload = {
        "external_id": "opp-1001",
        "name": "Juniper Labs: Platform rollout",
        "account": {"external_id": "acct-77", "name": "Juniper Labs", "domain": "juniper.example"},
        "pipeline": "New business",
        "stage": "Demo",
        "amount": "48000.00",
        "currency": "EUR",
        "contacts": [
            {"external_id": "p-1", "name": "Noor Haddad", "email": "Noor@Juniper.example", "role": "Champion",
             "is_primary": True},
            {"external_id": "p-2", "name": "Ines Varga", "email": "ines@juniper.example", "role": "CFO"},
        ],
    }  # fmt: skip
    payload.update(overrides)
    return payload


def test_a_rep_creates_a_deal_with_its_company_and_two_buyers_and_sending_it_again_updates(world, api_as):
    api = api_as(world.alice)
    answer = api.post("/api/deals/", _deal_payload(), format="json")
    assert answer.status_code == 201, answer.json()
    body = answer.json()
    assert body["external_id"] == "opp-1001" and body["owner"]["username"] == "alice"
    assert body["stage"]["name"] == "Demo" and body["account"]["name"] == "Juniper Labs"
    shown = [
        (c["name"], c["email"], c["role"], c["is_primary"], c["receives_email"]) for c in body["contacts"]
    ]
    assert shown == [
        ("Noor Haddad", "noor@juniper.example", "Champion", True, True),
        ("Ines Varga", "ines@juniper.example", "CFO", False, True),
    ]  # fmt: skip
    deal = Deal.objects.get(external_id="opp-1001")
    assert deal.team == world.east and str(deal.amount) == "48000.00" and deal.currency == "EUR"

    again = _deal_payload(amount="52000", stage="Proposal", contacts=_deal_payload()["contacts"][:1])
    answer = api.post("/api/deals/", again, format="json")
    assert answer.status_code == 200, answer.json()
    assert answer.json()["id"] == deal.pk
    assert Deal.objects.filter(external_id="opp-1001").count() == 1
    assert Account.objects.filter(external_id="acct-77").count() == 1
    assert Contact.objects.filter(external_id__in=["p-1", "p-2"]).count() == 2  # Ines stays a contact
    assert list(DealContact.objects.filter(deal=deal).values_list("contact__external_id", flat=True)) == [
        "p-1"
    ]
    deal.refresh_from_db()
    assert deal.stage.name == "Proposal" and str(deal.amount) == "52000.00"
    fields = set(DealEvent.objects.filter(deal=deal).values_list("field", flat=True))
    assert {"amount", "stage", "contact"} <= fields


def test_an_opted_out_buyer_is_shown_as_not_receiving_email(world, api_as):
    ContactOptOut.objects.create(email="ines@juniper.example")
    body = api_as(world.alice).post("/api/deals/", _deal_payload(), format="json").json()
    assert {c["name"]: c["receives_email"] for c in body["contacts"]} == {
        "Noor Haddad": True,
        "Ines Varga": False,
    }


def test_bad_addresses_and_references_are_400s_naming_the_field(world, api_as):
    api = api_as(world.alice)
    payload = _deal_payload()
    payload["contacts"][1]["email"] = "ines(at)juniper"
    answer = api.post("/api/deals/", payload, format="json")
    assert answer.status_code == 400
    assert "email" in answer.json()["contacts"]["1"]
    answer = api.post(
        "/api/contacts/", {"external_id": "p-9", "email": "nobody@", "name": "X"}, format="json"
    )
    assert answer.status_code == 400 and list(answer.json()) == ["email"]
    answer = api.post("/api/deals/", _deal_payload(stage="Signed"), format="json")
    assert answer.status_code == 400 and "stage" in answer.json()
    answer = api.post("/api/deals/", _deal_payload(owner="dave"), format="json")
    assert answer.status_code == 400 and "owner" in answer.json()
    answer = api.post("/api/deals/", _deal_payload(external_id="has space"), format="json")
    assert answer.status_code == 400 and "external_id" in answer.json()
    assert not Deal.objects.exists() and not Contact.objects.exists()  # nothing half-made


def test_another_teams_rep_gets_404_on_those_deals_contacts_and_companies(world, api_as):
    api_as(world.alice).post("/api/deals/", _deal_payload(), format="json")
    deal = Deal.objects.get(external_id="opp-1001")
    noor = Contact.objects.get(external_id="p-1")
    account = Account.objects.get(external_id="acct-77")
    dave = api_as(world.dave)
    assert dave.get(f"/api/contacts/{noor.pk}/").status_code == 404
    assert dave.patch(f"/api/contacts/{noor.pk}/", {"name": "Hacked"}, format="json").status_code == 404
    assert dave.get(f"/api/accounts/{account.pk}/").status_code == 404
    assert dave.get(f"/api/deals/{deal.pk}/").status_code == 404
    assert dave.patch(f"/api/deals/{deal.pk}/", {"name": "Mine"}, format="json").status_code == 404
    assert dave.get("/api/contacts/").json()["results"] == []
    assert dave.get("/api/accounts/").json()["results"] == []
    # Naming them by external id is a 404 too, and changes nothing.
    assert (
        dave.post("/api/contacts/", {"external_id": "p-1", "name": "Hacked"}, format="json").status_code
        == 404
    )
    assert (
        dave.post("/api/accounts/", {"external_id": "acct-77", "name": "Hacked"}, format="json").status_code
        == 404
    )
    assert dave.post("/api/deals/", _deal_payload(name="Mine"), format="json").status_code == 404
    other = _deal_payload(external_id="opp-2", account={"external_id": "acct-dave", "name": "Dave Co"},
                          contacts=[{"external_id": "p-1", "name": "Hacked"}])  # fmt: skip
    assert dave.post("/api/deals/", other, format="json").status_code == 404
    noor.refresh_from_db()
    account.refresh_from_db()
    assert noor.name == "Noor Haddad" and account.name == "Juniper Labs"
    assert not Deal.objects.filter(external_id="opp-2").exists()
    # Their own team's manager and the admin do see them.
    assert api_as(world.bob).get(f"/api/contacts/{noor.pk}/").status_code == 200
    assert api_as(world.carol).get(f"/api/accounts/{account.pk}/").status_code == 200
    assert api_as(world.grace).get(f"/api/contacts/{noor.pk}/").status_code == 404


def test_contacts_and_accounts_upsert_and_patch(world, api_as):
    api = api_as(world.alice)
    deal = world.deal(owner="alice")
    answer = api.post("/api/accounts/", {"external_id": "acct-1", "name": "Birch"}, format="json")
    assert answer.status_code == 201
    answer = api.post(
        "/api/contacts/",
        {
            "external_id": "c-1",
            "name": "Sam Oak",
            "email": "sam@oak.example",
            "deal": deal.pk,
            "is_primary": True,
        },
        format="json",
    )
    assert answer.status_code == 201, answer.json()
    contact = Contact.objects.get(external_id="c-1")
    assert DealContact.objects.get(deal=deal, contact=contact).is_primary
    answer = api.patch(f"/api/contacts/{contact.pk}/", {"title": "CTO"}, format="json")
    assert (
        answer.status_code == 200 and answer.json()["title"] == "CTO" and answer.json()["name"] == "Sam Oak"
    )
    answer = api.post("/api/contacts/", {"external_id": "c-1", "email": "sam@oak.example", "name": "Sam O."},
                      format="json")  # fmt: skip
    assert answer.status_code == 200 and answer.json()["name"] == "Sam O."
    # A rep's new contact goes on one of their deals.
    answer = api.post("/api/contacts/", {"external_id": "c-2", "name": "Lone"}, format="json")
    assert answer.status_code == 400 and "deal" in answer.json()
    dave_deal = world.deal(owner="dave")
    answer = api.post(
        "/api/contacts/", {"external_id": "c-2", "name": "Lone", "deal": dave_deal.pk}, format="json"
    )
    assert answer.status_code == 404


def test_list_query_counts_do_not_grow(world, api_as, django_assert_max_num_queries):
    api = api_as(world.alice)
    for n in range(6):
        people = [
            {"external_id": f"p-{n}-{i}", "name": f"Buyer {n}{i}", "email": f"b{n}{i}@x.example"}
            for i in range(2)
        ]
        payload = _deal_payload(external_id=f"opp-{n}", contacts=people)
        assert api.post("/api/deals/", payload, format="json").status_code == 201
    deal = Deal.objects.first()
    with django_assert_max_num_queries(6):
        assert len(api.get("/api/contacts/").json()["results"]) == 12
    with django_assert_max_num_queries(6):
        assert len(api.get("/api/accounts/").json()["results"]) == 1
    with django_assert_max_num_queries(10):
        assert len(api.get(f"/api/deals/{deal.pk}/").json()["contacts"]) == 2


def test_patch_changes_what_is_sent_and_keeps_the_rest(world, api_as):
    api = api_as(world.alice)
    deal_id = api.post("/api/deals/", _deal_payload(), format="json").json()["id"]
    answer = api.patch(f"/api/deals/{deal_id}/", {"name": "Juniper Labs: Phase 2", "stage": "Negotiation"},
                       format="json")  # fmt: skip
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert (body["name"], body["stage"]["name"], body["amount"]) == (
        "Juniper Labs: Phase 2",
        "Negotiation",
        "48000.00",
    )
    assert len(body["contacts"]) == 2  # not sent: kept
    answer = api.patch(f"/api/deals/{deal_id}/", {"stage": "Nowhere"}, format="json")
    assert answer.status_code == 400 and "stage" in answer.json()
