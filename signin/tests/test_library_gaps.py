"""What mozilla-django-oidc 5.0 leaves open on its own, pinned: if an upgrade closes a gap, this
says so; until then signin.oidc.SsoBackend.verify_token closes each one (test_sso.py shows it)."""

import time

import jwt
import pytest
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from signin.tests.fake_idp import CLIENT_ID


@pytest.fixture
def library_backend(settings, idp):
    metadata = idp.discovery()
    settings.OIDC_OP_TOKEN_ENDPOINT = metadata["token_endpoint"]
    settings.OIDC_OP_USER_ENDPOINT = metadata["userinfo_endpoint"]
    settings.OIDC_OP_JWKS_ENDPOINT = metadata["jwks_uri"]
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = "unused"
    settings.OIDC_RP_SIGN_ALGO = "RS256"
    return OIDCAuthenticationBackend()


def test_the_library_alone_accepts_another_audience_and_another_issuer(library_backend, idp):
    idp.tamper = {"aud": "another-app", "iss": "https://evil.example"}
    claims = library_backend.verify_token(idp.id_token("n-1"), nonce="n-1")
    assert claims["aud"] == "another-app" and claims["iss"] == "https://evil.example"


def test_the_library_alone_lets_an_expired_token_escape_as_an_exception(library_backend, idp):
    now = int(time.time())
    idp.tamper = {"exp": now - 600, "iat": now - 900}
    with pytest.raises(jwt.ExpiredSignatureError):  # uncaught by its callback view: a 500
        library_backend.verify_token(idp.id_token("n-1"), nonce="n-1")


def test_the_library_alone_does_not_look_at_email_verified(library_backend):
    assert library_backend.verify_claims({"email": "x@elsewhere.example", "email_verified": False})
