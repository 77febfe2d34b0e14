"""An existing deal is linked to its CRM records by an admin: on the deal page or by API PATCH."""

import pytest
from django.urls import reverse

from deals import services
from deals.models import Deal, DealEvent
from tests.concurrency import race

pytestmark = pytest.mark.django_db


def test_admin_links_unlinks_and_the_history_records_it(world, api_as):
    deal = world.deal()
    api = api_as(world.carol)
    answer = api.patch(
        f"/api/deals/{deal.pk}/", {"hubspot_id": "18442013567", "pipedrive_id": "4711"}, format="json"
    )
    assert answer.status_code == 200, answer.content
    assert (answer.json()["hubspot_id"], answer.json()["pipedrive_id"]) == ("18442013567", "4711")
    deal.refresh_from_db()
    assert (deal.hubspot_id, deal.pipedrive_id, deal.salesforce_id) == ("18442013567", "4711", None)
    assert api.patch(f"/api/deals/{deal.pk}/", {"pipedrive_id": None}, format="json").status_code == 200
    deal.refresh_from_db()
    assert (deal.hubspot_id, deal.pipedrive_id) == ("18442013567", None)
    history = list(
        DealEvent.objects.filter(deal=deal, field=DealEvent.Field.CRM_LINK)
        .order_by("pk")
        .values_list("from_value", "to_value")
    )
    assert history == [
        ("HubSpot (none)", "HubSpot 18442013567"),
        ("Pipedrive (none)", "Pipedrive 4711"),
        ("Pipedrive 4711", "Pipedrive (none)"),
    ]


def test_bad_links_are_refused_naming_the_field_and_nothing_changes(world, api_as):
    taken, deal = world.deal(hubspot_id="111"), world.deal()
    api = api_as(world.carol)
    for body, field, words in [
        ({"hubspot_id": "111"}, "hubspot_id", "already linked"),
        ({"salesforce_id": "006/../admin"}, "salesforce_id", "only letters, digits"),
        ({"salesforce_id": "x" * 65}, "salesforce_id", "64"),
        # (a name, stage, owner or buyers sent alone change the deal: deals/tests/test_record_api.py)
        ({"external_id": "x", "hubspot_id": "222"}, "external_id", "set once"),
        ({}, "non_field_errors", "at least one"),
    ]:
        answer = api.patch(f"/api/deals/{deal.pk}/", body, format="json")
        assert answer.status_code == 400, (body, answer.content)
        assert words in " ".join(answer.json()[field]), answer.json()
    deal.refresh_from_db()
    assert (deal.hubspot_id, deal.salesforce_id, deal.name) == (None, None, Deal.objects.get(pk=deal.pk).name)
    assert Deal.objects.get(pk=taken.pk).hubspot_id == "111"


def test_only_admins_link_and_other_teams_see_nothing(world, api_as, client):
    deal = world.deal(owner="alice")
    assert (
        api_as(world.bob).patch(f"/api/deals/{deal.pk}/", {"hubspot_id": "1"}, format="json").status_code
        == 403
    )
    assert (
        api_as(world.alice).patch(f"/api/deals/{deal.pk}/", {"hubspot_id": "1"}, format="json").status_code
        == 403
    )
    assert (
        api_as(world.grace).patch(f"/api/deals/{deal.pk}/", {"hubspot_id": "1"}, format="json").status_code
        == 404
    )
    assert api_as(None).patch(f"/api/deals/{deal.pk}/", {"hubspot_id": "1"}, format="json").status_code in (
        401,
        403,
    )
    url = reverse("deals:link-crm", args=[deal.pk])
    client.force_login(world.alice)
    assert "CRM records" not in client.get(reverse("deals:detail", args=[deal.pk])).content.decode()
    assert client.post(url, {"hubspot_id": "1"}).status_code == 403
    client.force_login(world.dave)
    assert client.post(url, {"hubspot_id": "1"}).status_code == 404
    assert client.get(url).status_code in (404, 405)
    assert Deal.objects.get(pk=deal.pk).hubspot_id is None


def test_admin_links_on_the_deal_page_and_a_bad_id_keeps_what_was_typed(world, client):
    deal, other = world.deal(), world.deal(salesforce_id="0065e00000GhIjKAAV")
    client.force_login(world.carol)
    page = client.get(reverse("deals:detail", args=[deal.pk])).content.decode()
    assert "CRM records" in page and 'name="hubspot_id"' in page
    url = reverse("deals:link-crm", args=[deal.pk])
    refused = client.post(url, {"hubspot_id": "999", "salesforce_id": "0065e00000GhIjKAAV"})
    assert refused.status_code == 400
    html = refused.content.decode()
    assert f"already linked to “{other}”" in html and 'value="999"' in html
    assert Deal.objects.get(pk=deal.pk).hubspot_id is None  # nothing half-saved
    saved = client.post(url, {"hubspot_id": "999", "salesforce_id": "", "pipedrive_id": ""})
    assert saved.status_code == 302
    assert Deal.objects.get(pk=deal.pk).hubspot_id == "999"


@pytest.mark.django_db(transaction=True)
def test_two_admins_linking_one_id_to_two_deals_at_once_link_it_once(world):
    first, second = world.deal(), world.deal()
    results = race(
        [
            lambda deal=deal: services.deal_link_crm(
                deal=deal, actor=world.carol, links={"hubspot_id": "777"}
            )
            for deal in (first, second)
        ]
    )
    outcomes = sorted(kind for kind, _ in results)
    assert outcomes == ["error", "ok"], results
    error = next(value for kind, value in results if kind == "error")
    assert isinstance(error, services.DealError) and error.field == "hubspot_id"
    assert Deal.objects.filter(hubspot_id="777").count() == 1
