"""Providers that omit `email_verified` (Microsoft Entra ID): off by default such a sign-in is
refused; an admin's setting on the sign-in settings page (or OIDC_TRUST_EMAIL_WITHOUT_VERIFIED_CLAIM)
trusts the provider's e-mail without the claim; an explicit `email_verified: false` is refused
whatever it says. Against the loopback OpenID provider."""

import pytest

from signin.models import SigninChange, SigninSettings, SsoIdentity
from signin.tests.fake_idp import CLIENT_ID
from signin.tests.test_sso import sso_sign_in
from teams.models import User

pytestmark = pytest.mark.django_db


def _settings_form(idp, **values):
    form = {
        "sso_enabled": "on",
        "sso_name": "Contoso Entra ID",
        "issuer": idp.issuer,
        "client_id": CLIENT_ID,
        "client_secret": "",
        "allowed_domains": "acme.example",
        "default_role": "rep",
        "password_signin": "on",
    }
    form.update(values)
    return form


def test_off_by_default_an_e_mail_without_the_claim_is_refused(client, sso):
    assert SigninSettings.objects.get().trust_email_without_verified_claim is False
    sso.tamper = {"email_verified": None}  # the claim is left out, as Entra ID does
    response = sso_sign_in(client, sso)
    assert response.status_code == 403 and "has not verified" in response.content.decode()
    assert not SsoIdentity.objects.exists()


def test_an_admin_trusts_the_providers_e_mail_on_the_settings_page(client, sso, world):
    people = User.objects.count()
    client.force_login(world.carol)
    page = client.get("/signin/settings/").content.decode()
    assert "sends no “email_verified” (Microsoft Entra ID)" in page
    form = _settings_form(sso, trust_email_without_verified_claim="on")
    assert client.post("/signin/settings/", form).status_code == 302
    change = SigninChange.objects.filter(action="settings_changed").latest("pk")
    assert change.actor == world.carol
    assert change.detail["after"]["trust_email_without_verified_claim"] is True
    client.logout()
    sso.tamper = {"email_verified": None}
    response = sso_sign_in(client, sso)
    assert response.status_code == 302 and response["Location"] == "/deals/"
    assert User.objects.count() == people + 1
    assert SsoIdentity.objects.get().user.email == "nina.ng@acme.example"
    # Said to be unverified: refused whatever the setting says; nothing else is created.
    client.post("/logout/")
    sso.person = {**sso.person, "sub": "00u2omar", "email": "omar@acme.example"}
    sso.tamper = {"email_verified": False}
    refused = sso_sign_in(client, sso)
    assert refused.status_code == 403 and "has not verified" in refused.content.decode()
    assert User.objects.count() == people + 1


def test_the_environment_turns_it_on(client, sso, settings):
    settings.OIDC_TRUST_EMAIL_WITHOUT_VERIFIED_CLAIM = True
    sso.tamper = {"email_verified": None}
    assert sso_sign_in(client, sso).status_code == 302
    assert SsoIdentity.objects.count() == 1
