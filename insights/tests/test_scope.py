"""A manager of East sees nothing of West: not in the page, a CSV, a chart's data or the API."""

import json
from datetime import date

import pytest

from insights.selectors import FIGURES
from insights.tests import dataset

WEST_MARKERS = ["West-deal", "Dave", "Frank", "Grace", ">West<"]
PERIOD = {"period": "custom", "from": "2024-01-01", "to": "2026-12-31"}


def assert_nothing_of_west(text: str, where: str):
    for marker in WEST_MARKERS:
        assert marker not in text, f"{marker!r} in {where}"


@pytest.fixture
def data(world):
    dataset.build(world, deals=800, seed=5)
    return world


def test_manager_sees_only_their_team_everywhere(client, data):
    world = data
    client.force_login(world.bob)
    page = client.get("/insights/", PERIOD)
    assert page.status_code == 200
    html = page.content.decode()
    assert_nothing_of_west(html, "page")
    assert "Erin" in html and "Alice" in html  # East's reps are there

    for name in [*FIGURES, "deals"]:
        response = client.get(f"/insights/export/{name}.csv", PERIOD)
        assert response.status_code == 200
        body = b"".join(response.streaming_content).decode()
        assert_nothing_of_west(body, f"{name}.csv")
    deals_csv = b"".join(client.get("/insights/export/deals.csv", PERIOD).streaming_content).decode()
    assert "East-deal" in deals_csv

    api = client.get("/api/figures/", PERIOD)
    assert api.status_code == 200
    assert_nothing_of_west(json.dumps(api.json()), "API")
    expected = dataset.Expected(
        dataset.load_rows(), world.bob, dataset.period(date(2024, 1, 1), date(2026, 12, 31))
    )
    assert all(row.team_id == world.east.pk or row.owner_id == world.bob.pk for row in expected.scoped)
    assert api.json()["figures"]["headline"]["closed"] == len(expected.closed)


def test_asking_for_another_team_or_its_rep_is_refused_not_answered(client, data):
    world = data
    client.force_login(world.bob)
    for param in ({"team": world.west.pk}, {"owner": world.dave.pk}):
        page = client.get("/insights/", {**PERIOD, **param})
        assert page.status_code == 200
        html = page.content.decode()
        assert "Select a valid choice" in html
        assert_nothing_of_west(html, f"page with {param}")
        api = client.get("/api/figures/headline/", {**PERIOD, **param})
        assert api.status_code == 400
        assert_nothing_of_west(json.dumps(api.json()), f"API with {param}")


def test_rep_sees_a_personal_version(client, data):
    world = data
    client.force_login(world.alice)
    html = client.get("/insights/", PERIOD).content.decode()
    assert "My figures" in html
    assert "Erin" not in html  # not even a team-mate
    api = client.get("/api/figures/by-rep/", PERIOD).json()
    assert {row["owner_id"] for row in api["data"]["rows"]} == {world.alice.pk}


def test_api_needs_authentication(client, data):
    assert client.get("/api/figures/").status_code in (401, 403)
    client.force_login(data.carol)
    assert client.get("/api/figures/no-such-figure/").status_code == 404


def test_api_answers_a_token_with_the_tokens_users_scope(client, data):
    from teams.services import api_token_issue

    token = api_token_issue(user=data.grace, created_via="command")
    answer = client.get("/api/figures/by-rep/", PERIOD, HTTP_AUTHORIZATION=f"Token {token.key}")
    assert answer.status_code == 200
    owners = {row["owner_id"] for row in answer.json()["data"]["rows"]}
    assert owners and owners <= {data.dave.pk, data.grace.pk} | {u.pk for u in data.west.members.all()}
    assert data.alice.pk not in owners and data.erin.pk not in owners
