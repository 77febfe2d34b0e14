"""The admins' sign-in settings page: who may reach it, the encrypted secret, its history, and
turning password sign-in off for all but the break-glass admins."""

import pytest
from django.db import connection

from signin.models import SigninChange, SigninSettings
from signin.tests.fake_idp import CLIENT_ID, CLIENT_SECRET

PASSWORD = "a-long-test-password"


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["alice", "bob"])
def test_reps_and_managers_cannot_reach_the_sign_in_settings(client, world, who):
    client.force_login(getattr(world, who))
    for method, path in [
        ("get", "/signin/settings/"),
        ("post", "/signin/settings/"),
        ("post", "/signin/settings/scim-token/"),
        ("post", "/signin/settings/scim-token/revoke/"),
    ]:
        response = getattr(client, method)(path, {"sso_enabled": "on"})
        assert response.status_code == 403
        assert b"Client secret" not in response.content and b"SCIM" not in response.content
    assert not SigninSettings.objects.filter(scim_token_digest__gt="").exists()


@pytest.mark.django_db
def test_an_admin_sets_up_single_sign_on_with_the_secret_encrypted(client, world, idp):
    client.force_login(world.carol)
    assert client.get("/signin/settings/").status_code == 200
    form = {
        "sso_enabled": "on",
        "sso_name": "Acme Okta",
        "issuer": idp.issuer,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "allowed_domains": "acme.example, @Acme.Example\nbirch.example",
        "default_role": "rep",
        "password_signin": "on",
    }
    bad = client.post("/signin/settings/", {**form, "allowed_domains": "not a domain"})
    assert bad.status_code == 400 and "is not an e-mail domain" in bad.content.decode()
    assert client.post("/signin/settings/", form).status_code == 302
    row = SigninSettings.objects.get()
    assert row.allowed_domains == ["acme.example", "birch.example"] and row.client_secret == CLIENT_SECRET
    with connection.cursor() as cursor:
        cursor.execute("SELECT client_secret FROM signin_signinsettings")
        stored = cursor.fetchone()[0]
    assert CLIENT_SECRET not in stored
    change = SigninChange.objects.get(action="settings_changed")
    assert change.actor == world.carol and change.detail["after"]["client_secret"] == "(set)"
    assert CLIENT_SECRET not in str(change.detail)
    # Saving again with the secret left blank keeps it.
    assert client.post("/signin/settings/", {**form, "client_secret": ""}).status_code == 302
    assert SigninSettings.objects.get().client_secret == CLIENT_SECRET
    page = client.get("/signin/settings/").content.decode()
    assert CLIENT_SECRET not in page and "/signin/sso/callback/" in page


@pytest.mark.django_db
def test_the_scim_token_is_shown_once_and_kept_only_as_a_hash(client, world):
    client.force_login(world.carol)
    shown = client.post("/signin/settings/scim-token/").content.decode()
    token = shown.split('readonly value="')[1].split('"')[0]
    assert token.startswith("scim_")
    row = SigninSettings.objects.get()
    assert (
        token not in row.scim_token_digest and token not in client.get("/signin/settings/").content.decode()
    )
    assert client.get("/scim/v2/Users", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    client.post("/signin/settings/scim-token/revoke/")
    assert client.get("/scim/v2/Users", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401


@pytest.mark.django_db
def test_password_sign_in_off_leaves_only_the_break_glass_admin(client, world, sso):
    from signin.services import SigninSettingsError, signin_settings_update

    with pytest.raises(SigninSettingsError, match="break-glass"):
        signin_settings_update(actor=world.carol, values={"password_signin": False}, break_glass=[])
    signin_settings_update(actor=world.carol, values={"password_signin": False}, break_glass=[world.carol])

    refused = client.post("/login/", {"username": "alice", "password": PASSWORD})
    assert refused.status_code == 200 and "Password sign-in is turned off here" in refused.content.decode()
    assert "Sign in with Acme Okta" in refused.content.decode()
    assert client.get("/deals/").status_code == 302
    api = client.post("/api/token/", {"username": "alice", "password": PASSWORD})
    assert api.status_code == 400  # the API's password exchange is closed too

    assert client.post("/login/", {"username": "carol", "password": PASSWORD}).status_code == 302
    assert client.get("/deals/").status_code == 200
