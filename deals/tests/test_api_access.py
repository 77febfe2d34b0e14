"""The JSON API's doors: a password exchanged for a token (with the sign-in lockout), rotation,
integration accounts and their tokens, session sign-in, the per-user rate limit, and the JSON 404."""

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from teams.models import User

LOST_URL = "/api/deals/{}/mark-lost/"


def _deal_ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_a_user_exchanges_password_for_a_token_and_rotates_it(world):
    client = APIClient()
    refused = client.post("/api/token/", {"username": "alice", "password": "wrong"}, format="json")
    assert refused.status_code == 400 and "non_field_errors" in refused.json()
    assert client.post("/api/token/", {"username": "alice"}, format="json").json() == {
        "password": ["This field is required."]
    }
    response = client.post(
        "/api/token/", {"username": "alice", "password": "a-long-test-password"}, format="json"
    )
    assert response.status_code == 200
    old = response.json()["token"]
    assert response.json()["prefix"] == old[:15] and response.json()["expires_at"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {old}")
    assert client.get("/api/deals/").status_code == 200
    rotated = client.post("/api/token/rotate/").json()["token"]
    assert rotated != old
    assert client.get("/api/deals/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION=f"Token {rotated}")
    assert client.get("/api/deals/").status_code == 200


def test_an_integration_token_sees_its_team_only(world, capsys, reasons):
    east, west = world.deal(owner="alice"), world.deal(owner="dave")
    call_command("create_integration_token", "hubspot", "--team", "East")
    token = capsys.readouterr().out.strip()
    account = User.objects.get(username="integration-hubspot")
    assert not account.has_usable_password()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert _deal_ids(client.get("/api/deals/")) == [east.pk]
    assert client.get(f"/api/deals/{west.pk}/").status_code == 404
    response = client.post(LOST_URL.format(east.pk), {"reason": "no-budget"}, format="json")
    assert response.status_code == 201
    assert response.json()["actor"]["name"] == "Integration: hubspot"
    # Only its hash is kept: running it again cannot show it, and says so; --rotate replaces it.
    call_command("create_integration_token", "hubspot", "--team", "East")
    again = capsys.readouterr()
    assert again.out == "" and f"already has a token ({token[:15]}..." in again.err
    call_command("create_integration_token", "hubspot", "--rotate")
    rotated = capsys.readouterr().out.strip()
    assert rotated != token
    assert client.get("/api/deals/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION=f"Token {rotated}")
    assert _deal_ids(client.get("/api/deals/")) == [east.pk]
    # No password: the token exchange refuses it.
    assert (
        APIClient()
        .post("/api/token/", {"username": account.username, "password": ""}, format="json")
        .status_code
        == 400
    )


def test_integration_command_says_what_is_wrong(world):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No team is named 'North'"):
        call_command("create_integration_token", "hubspot", "--team", "North")
    with pytest.raises(CommandError, match="at least one team"):
        call_command("create_integration_token", "hubspot")
    with pytest.raises(CommandError, match="lower-case letters"):
        call_command("create_integration_token", "Hub Spot!", "--team", "East")


def test_rate_limit_answers_429(world, api_as, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"user": "3/minute"}}
    client = api_as(world.grace)
    assert [client.get("/api/reasons/").status_code for _ in range(3)] == [200, 200, 200]
    response = client.get("/api/deals/")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "Request was throttled" in response.json()["detail"]
    assert api_as(world.dave).get("/api/deals/").status_code == 200  # per user, not global


def test_rate_limit_counts_in_redis_for_every_worker(world, api_as, settings):
    import redis

    if not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set: the counts stay in this process")
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"user": "2/minute"}}
    client = api_as(world.erin)
    assert [client.get("/api/reasons/").status_code for _ in range(3)] == [200, 200, 429]
    stamp = int(world.erin.date_joined.timestamp())
    keys = redis.Redis.from_url(settings.REDIS_URL).keys(f"*throttle_user_{world.erin.pk}-{stamp}")
    assert len(keys) == 1  # where another web worker (process) finds the same count


def test_rate_limit_lets_requests_through_when_its_cache_is_down(world, api_as, settings, caplog):
    settings.CACHES = {
        **settings.CACHES,
        "throttle": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        },
    }
    assert api_as(world.erin).get("/api/reasons/").status_code == 200
    assert "rate limit not checked" in caplog.text


def test_token_exchange_shares_the_sign_in_lockout(world, settings):
    settings.AXES_FAILURE_LIMIT = 3
    client = APIClient()
    codes = [
        client.post("/api/token/", {"username": "erin", "password": "guess"}, format="json").status_code
        for _ in range(3)
    ]
    assert codes == [400, 400, 429]  # the failure that reaches the limit locks out
    locked = client.post(
        "/api/token/", {"username": "erin", "password": "a-long-test-password"}, format="json"
    )
    assert locked.status_code == 429
    assert "token" not in locked.content.decode()


def test_all_teams_integration_account_is_an_admin(world, capsys):
    west = world.deal(owner="dave")
    call_command("create_integration_token", "warehouse", "--all-teams")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {capsys.readouterr().out.strip()}")
    assert west.pk in _deal_ids(client.get("/api/deals/"))
    assert User.objects.get(username="integration-warehouse").is_revops_admin


def test_session_sign_in_works_and_token_requests_are_not_sent_to_the_login_page(world, api_as):
    deal = world.deal()
    client = APIClient()
    client.force_login(world.alice)
    assert _deal_ids(client.get("/api/deals/")) == [deal.pk]
    response = api_as(world.alice).get("/api/deals/")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert bad.get("/api/deals/").status_code == 401


def test_an_unknown_api_address_is_a_json_404(world, api_as):
    for method in ("get", "post"):
        response = getattr(api_as(world.alice), method)("/api/no-such-thing/1.5/")
        assert response.status_code == 404
        assert response.json() == {"detail": "Not found."}
    assert APIClient().post("/api/deals/1.5/mark-lost/", {}, format="json").status_code == 404
