"""Single sign-on against a real OpenID provider on loopback (signin/tests/fake_idp.py): the whole
authorization code flow with PKCE, and every refusal a clear page with nothing created."""

import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from signin.models import SigninChange, SsoIdentity
from signin.tests.fake_idp import CLIENT_ID
from teams.models import User


def sso_sign_in(client, idp, *, state: str | None = None):
    """The browser's trip: our start page → the provider's authorize endpoint → our callback."""
    start = client.get("/signin/sso/")
    assert start.status_code == 302, start.content
    assert start["Location"].startswith(idp.discovery()["authorization_endpoint"])
    answer = requests.get(start["Location"], allow_redirects=False, timeout=5)
    assert answer.status_code == 302, answer.text
    callback = answer.headers["Location"]
    if state is not None:
        parts = urlsplit(callback)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()} | {"state": state}
        callback = f"{parts.path}?{urlencode(query)}"
    return client.get(callback)


@pytest.mark.django_db
def test_a_good_sign_in_creates_the_user_once_with_the_default_role_and_no_team(client, sso):
    people = User.objects.count()
    response = sso_sign_in(client, sso)
    assert response.status_code == 302 and response["Location"] == "/deals/"
    nina = User.objects.get(email="nina.ng@acme.example")
    assert (nina.role, nina.first_name, nina.last_name) == ("rep", "Nina", "Ng")
    assert not nina.memberships.exists() and not nina.has_usable_password()
    assert SsoIdentity.objects.get(user=nina).subject == "00u1nina"
    assert SigninChange.objects.filter(action="sso_user_created").count() == 1
    assert client.get("/deals/").status_code == 200

    # The flow used PKCE (S256), a state and a nonce; the provider checked the verifier.
    authorize = sso.authorize_requests[-1]
    assert authorize["code_challenge_method"] == "S256" and authorize["nonce"] and authorize["state"]
    assert sso.token_requests[-1]["code_verifier"]

    client.post("/logout/")
    assert sso_sign_in(client, sso).status_code == 302
    assert User.objects.count() == people + 1
    assert SsoIdentity.objects.count() == 1


@pytest.mark.django_db
def test_the_sign_in_page_offers_the_provider_by_name(client, sso):
    page = client.get("/login/").content.decode()
    assert "Sign in with Acme Okta" in page and 'href="/signin/sso/"' in page


@pytest.mark.django_db
def test_a_known_e_mail_signs_in_as_that_person_and_is_linked(client, sso, world):
    world.alice.email = "Nina.Ng@acme.example"
    world.alice.save()
    assert sso_sign_in(client, sso).status_code == 302
    assert SsoIdentity.objects.get().user == world.alice
    assert not User.objects.filter(email="nina.ng@acme.example").exists()


def _past(seconds: int) -> int:
    return int(time.time()) - seconds


REFUSALS = [
    pytest.param({"_key": "other"}, "signature does not match", id="signed-by-another-key"),
    pytest.param({"nonce": "not-the-nonce-we-sent"}, "nonce does not match", id="wrong-nonce"),
    pytest.param({"exp": _past(600), "iat": _past(900)}, "has expired", id="expired"),
    pytest.param({"aud": "another-app"}, "another application (audience)", id="other-audience"),
    pytest.param({"aud": ["another-app", CLIENT_ID]}, "not issued to us (azp)", id="shared-audience"),
    pytest.param({"iss": "https://evil.example"}, "another provider (issuer)", id="other-issuer"),
    pytest.param({"iat": int(time.time()) + 3600}, "issued in the future", id="issued-in-the-future"),
    pytest.param({"exp": None}, "not valid", id="no-expiry"),
    pytest.param({"_alg": "HS256"}, "asymmetric algorithm is required", id="hs256-with-the-secret"),
    pytest.param({"email": "mallory@elsewhere.example"}, "not in a domain allowed", id="other-domain"),
    pytest.param({"email": "nina@sub.acme.example.evil"}, "not in a domain allowed", id="lookalike-domain"),
    pytest.param({"email_verified": False}, "has not verified", id="unverified-e-mail"),
    pytest.param({"email_verified": None}, "has not verified", id="no-verified-claim"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("tamper", "says"), REFUSALS)
def test_a_bad_id_token_is_refused_with_a_clear_page_and_nothing_created(client, sso, tamper, says):
    people = User.objects.count()
    sso.tamper = tamper
    response = sso_sign_in(client, sso)
    page = response.content.decode()
    assert response.status_code == 403, page
    assert "We could not sign you in" in page and says in page
    assert User.objects.count() == people and not SsoIdentity.objects.exists()
    assert "_auth_user_id" not in client.session
    assert client.get("/deals/").status_code == 302  # still signed out


@pytest.mark.django_db
def test_a_wrong_state_is_refused_and_its_code_never_exchanged(client, sso):
    people = User.objects.count()
    response = sso_sign_in(client, sso, state="forged-state")
    assert response.status_code == 403
    assert "state" in response.content.decode() and "We could not sign you in" in response.content.decode()
    assert sso.token_requests == [] and User.objects.count() == people


@pytest.mark.django_db
def test_a_replayed_callback_is_refused(client, sso):
    start = client.get("/signin/sso/")
    callback = requests.get(start["Location"], allow_redirects=False, timeout=5).headers["Location"]
    assert client.get(callback).status_code == 302
    client.post("/logout/")
    replay = client.get(callback)
    assert replay.status_code == 403 and "already used" in replay.content.decode()


@pytest.mark.django_db
def test_the_provider_saying_no_or_being_away_is_a_clear_page(client, sso):
    denied = client.get(
        "/signin/sso/callback/?error=access_denied&error_description=User+not+assigned&state=x"
    )
    assert denied.status_code == 403 and "User not assigned" in denied.content.decode()
    sso.stop()
    from django.core.cache import cache

    cache.clear()
    away = client.get("/signin/sso/")
    assert away.status_code == 502 and "could not be read" in away.content.decode()


@pytest.mark.django_db
def test_a_deactivated_person_is_refused(client, sso, world):
    world.alice.email, world.alice.is_active = "nina.ng@acme.example", False
    world.alice.save()
    response = sso_sign_in(client, sso)
    assert response.status_code == 403 and "deactivated" in response.content.decode()


@pytest.mark.django_db
def test_without_single_sign_on_set_up_the_start_page_is_a_404(client, world, idp):
    assert client.get("/signin/sso/").status_code == 404
    assert "Sign in with" not in client.get("/login/").content.decode()


@pytest.mark.django_db(transaction=True)
def test_two_first_sign_ins_at_once_make_one_account(world, sso):
    """Two tabs finishing the same person's first sign-in at the same moment, on two connections."""
    from signin import config as signin_config
    from signin.services import sso_user_for_claims
    from tests.concurrency import race

    claims = dict(sso.person)
    config = signin_config.current()
    results = race([lambda: sso_user_for_claims(issuer=sso.issuer, claims=claims, config=config)] * 2)
    assert [kind for kind, _ in results] == ["ok", "ok"], results
    assert results[0][1].pk == results[1][1].pk
    assert User.objects.filter(email="nina.ng@acme.example").count() == 1
    assert SsoIdentity.objects.count() == 1
