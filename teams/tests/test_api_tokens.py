"""API tokens: only a hash is stored, each expires, rotation revokes, and scoping is unchanged."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from teams.services import api_token_issue

PASSWORD = "a-long-test-password"


def _exchange(username: str) -> dict:
    response = APIClient().post("/api/token/", {"username": username, "password": PASSWORD}, format="json")
    assert response.status_code == 200
    return response.json()


def _client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_only_a_hash_of_the_token_is_stored(world):
    token = _exchange("alice")["token"]
    assert token.startswith("cl_") and len(token) == 67
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM knox_authtoken")
        rows = cursor.fetchall()
    assert len(rows) == 1
    stored = " ".join(str(value) for value in rows[0])
    assert token not in stored and token[15:] not in stored  # the prefix names it, no more
    assert token[:15] in stored
    assert "authtoken_token" not in connection.introspection.table_names()  # the plain-text table


def test_a_token_expires_after_the_configured_days_and_then_answers_401(world, settings):
    settings.API_TOKEN_TTL_DAYS = 30
    answer = _exchange("alice")
    expires = AuthToken.objects.get().expiry
    assert abs(expires - (timezone.now() + timedelta(days=30))) < timedelta(minutes=1)
    assert answer["expires_at"].startswith(expires.strftime("%Y-%m-%dT%H:%M"))
    client = _client(answer["token"])
    assert client.get("/api/deals/").status_code == 200

    AuthToken.objects.update(expiry=timezone.now() - timedelta(seconds=1))
    for _ in range(2):  # it stays expired (not "invalid") on every try
        response = client.get("/api/deals/")
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == "Token"
        assert response.json()["detail"].startswith("This token expired on ")
        assert "POST /api/token/" in response.json()["detail"]
    # A new one works, and getting it clears the expired one away.
    assert _client(_exchange("alice")["token"]).get("/api/deals/").status_code == 200
    assert AuthToken.objects.count() == 1


def test_rotation_revokes_the_old_tokens_and_the_new_one_works(world):
    first, second = _exchange("alice")["token"], _exchange("alice")["token"]
    response = _client(first).post("/api/token/rotate/")
    assert response.status_code == 200
    new = response.json()["token"]
    assert _client(first).get("/api/deals/").status_code == 401
    assert _client(second).get("/api/deals/").status_code == 401
    assert _client(new).get("/api/deals/").status_code == 200
    assert AuthToken.objects.filter(user=world.alice).count() == 1


def test_rotation_of_one_chosen_token_leaves_the_others(world):
    script, laptop = _exchange("alice"), _exchange("alice")
    rotate = {"prefix": script["prefix"]}
    response = _client(laptop["token"]).post("/api/token/rotate/", rotate, format="json")
    assert response.status_code == 200
    assert _client(script["token"]).get("/api/deals/").status_code == 401
    assert _client(laptop["token"]).get("/api/deals/").status_code == 200
    assert _client(response.json()["token"]).get("/api/deals/").status_code == 200
    # Another person's token cannot be named: it is not one of yours.
    daves = _exchange("dave")
    refused = _client(laptop["token"]).post("/api/token/rotate/", {"prefix": daves["prefix"]}, format="json")
    assert refused.status_code == 400
    assert refused.json() == {"prefix": ["You have no live token that starts with this."]}
    assert _client(daves["token"]).get("/api/deals/").status_code == 200


def test_issuing_beyond_the_limit_revokes_the_oldest(world, settings):
    settings.API_TOKENS_PER_USER = 2
    oldest, middle, newest = (api_token_issue(user=world.alice, created_via="command").key for _ in range(3))
    assert [_client(t).get("/api/reasons/").status_code for t in (oldest, middle, newest)] == [401, 200, 200]


def test_a_token_of_another_team_still_sees_nothing_of_this_one(world):
    deal = world.deal(owner="alice")
    intruder = _client(_exchange("dave")["token"])
    assert intruder.get(f"/api/deals/{deal.pk}/").status_code == 404
    response = intruder.post(f"/api/deals/{deal.pk}/mark-lost/", {"reason": "no-budget"}, format="json")
    assert response.status_code == 404
    assert _client(_exchange("alice")["token"]).get(f"/api/deals/{deal.pk}/").status_code == 200


def test_a_deactivated_users_token_stops_working(world):
    token = _exchange("erin")["token"]
    world.erin.is_active = False
    world.erin.save(update_fields=["is_active"])
    assert _client(token).get("/api/deals/").status_code == 401


def test_integration_token_takes_its_lifetime_in_days(world, capsys):
    call_command("create_integration_token", "looker", "--team", "West", "--days", "7")
    captured = capsys.readouterr()
    token = captured.out.strip()
    assert "it is shown only now" in captured.err and token[:15] in captured.err
    expiry = AuthToken.objects.get(user__username="integration-looker").expiry
    assert abs(expiry - (timezone.now() + timedelta(days=7))) < timedelta(minutes=1)
    assert _client(token).get("/api/deals/").status_code == 200
    with pytest.raises(CommandError, match="--days: A token lives between 1 and 3650 days"):
        call_command("create_integration_token", "looker", "--team", "East", "--rotate", "--days", "0")
    # A refused run changes nothing: the token still works, and the account did not get East.
    assert _client(token).get("/api/deals/").status_code == 200
    assert list(world.east.members.filter(username="integration-looker")) == []


def test_a_garbled_token_is_refused_not_an_error(world):
    for header in ("Token cl_not-a-token", "Token \u00e9\u00e9\u00e9", "Token"):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=header)
        assert client.get("/api/deals/").status_code == 401


def test_the_admin_lists_tokens_by_prefix_and_revokes_but_cannot_mint_one(world, admin_client):
    issued = api_token_issue(user=world.alice, created_via="command")
    page = admin_client.get("/admin/knox/authtoken/").content.decode()
    assert issued.prefix in page and "alice" in page
    assert issued.key not in page  # (its hash names the row in links: useless without the token)
    assert admin_client.get("/admin/knox/authtoken/add/").status_code == 403
    digest = AuthToken.objects.get().digest
    response = admin_client.post(f"/admin/knox/authtoken/{digest}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert _client(issued.key).get("/api/deals/").status_code == 401
