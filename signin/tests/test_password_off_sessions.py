"""Turning password sign-in off ends the password sessions already running (not only new sign-ins),
except the break-glass admins'; single sign-on sessions go on."""

import pytest
from django.test import Client

from signin.models import SigninChange
from signin.tests.fake_idp import CLIENT_ID
from signin.tests.test_sso import sso_sign_in

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-test-password"


def _signed_in_with_password(username: str) -> Client:
    client = Client()
    response = client.post("/login/", {"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.content.decode()[:500]
    assert client.get("/deals/").status_code == 200
    return client


def test_turning_passwords_off_ends_the_password_sessions_but_the_break_glass_admins(client, sso, world):
    alice, bob = _signed_in_with_password("alice"), _signed_in_with_password("bob")
    carol = _signed_in_with_password("carol")
    assert sso_sign_in(client, sso).status_code == 302  # Nina, by single sign-on
    form = {
        "sso_enabled": "on", "sso_name": "Acme Okta", "issuer": sso.issuer, "client_id": CLIENT_ID,
        "client_secret": "", "allowed_domains": "acme.example", "default_role": "rep",
        "break_glass": [world.carol.pk],
    }  # fmt: skip
    response = carol.post("/signin/settings/", form)  # password_signin left unticked: off
    assert response.status_code == 302, response.content.decode()[:1000]
    for ended in (alice, bob):
        response = ended.get("/deals/")
        assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert carol.get("/deals/").status_code == 200  # the break-glass admin stays
    assert client.get("/deals/").status_code == 200  # single sign-on stays
    change = SigninChange.objects.filter(action="settings_changed").latest("pk")
    assert change.detail["after"]["password_signin"] is False
    assert change.detail["after"]["password_sessions_ended"] == 2
    # And they cannot sign in again with a password.
    again = Client().post("/login/", {"username": "alice", "password": PASSWORD})
    assert again.status_code != 302


def test_saving_other_settings_with_passwords_on_ends_no_session(sso, world):
    alice, carol = _signed_in_with_password("alice"), _signed_in_with_password("carol")
    form = {
        "sso_enabled": "on", "sso_name": "Acme", "issuer": sso.issuer, "client_id": CLIENT_ID,
        "client_secret": "", "allowed_domains": "acme.example", "default_role": "rep",
        "password_signin": "on",
    }  # fmt: skip
    assert carol.post("/signin/settings/", form).status_code == 302
    assert alice.get("/deals/").status_code == 200


def _token_with_password(username: str) -> str:
    response = Client().post("/api/token/", {"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.content
    return response.json()["token"]


def _answers(token: str) -> int:
    return Client().get("/api/deals/", HTTP_AUTHORIZATION=f"Token {token}").status_code


def test_turning_passwords_off_revokes_the_password_tokens_but_the_break_glass_admins(client, sso, world):
    alice, carol = _signed_in_with_password("alice"), _signed_in_with_password("carol")
    alice_token, carol_token = _token_with_password("alice"), _token_with_password("carol")
    assert sso_sign_in(client, sso).status_code == 302  # Nina, by single sign-on
    rotated = client.post("/api/token/rotate/")  # her token, made from her single sign-on session
    assert rotated.status_code == 200, rotated.content
    nina_token = rotated.json()["token"]
    # And a token rotated with a password token is a password token still.
    rotated = Client().post("/api/token/rotate/", HTTP_AUTHORIZATION=f"Token {alice_token}")
    assert rotated.status_code == 200 and _answers(alice_token) == 401
    alice_token = rotated.json()["token"]
    assert {_answers(t) for t in (alice_token, carol_token, nina_token)} == {200}

    form = {
        "sso_enabled": "on", "sso_name": "Acme Okta", "issuer": sso.issuer, "client_id": CLIENT_ID,
        "client_secret": "", "allowed_domains": "acme.example", "default_role": "rep",
        "break_glass": [world.carol.pk],
    }  # fmt: skip
    # Before saving, the page says what turning passwords off ends (no break-glass admin saved yet:
    # alice's and carol's sessions and tokens).
    page = carol.get("/signin/settings/").content.decode()
    assert "ends at once 2 password session(s) and revokes 2 API token(s)" in page
    response = carol.post("/signin/settings/", form)  # password_signin left unticked: off
    assert response.status_code == 302, response.content.decode()[:1000]

    assert alice.get("/deals/")["Location"].startswith("/login/")
    assert _answers(alice_token) == 401
    assert carol.get("/deals/").status_code == 200 and _answers(carol_token) == 200  # break-glass
    assert client.get("/deals/").status_code == 200 and _answers(nina_token) == 200  # single sign-on
    change = SigninChange.objects.filter(action="settings_changed").latest("pk")
    assert change.detail["after"]["password_tokens_revoked"] == 1
    assert change.detail["after"]["password_sessions_ended"] == 1
    # No new password token either.
    refused = Client().post("/api/token/", {"username": "alice", "password": PASSWORD})
    assert refused.status_code == 400
