import pytest
from django.core.cache import cache

from signin.services import signin_settings_update
from signin.tests.fake_idp import CLIENT_ID, CLIENT_SECRET, FakeIdp


@pytest.fixture
def idp(settings):
    settings.OIDC_INSECURE_HOSTS = ["127.0.0.1"]
    provider = FakeIdp()
    cache.clear()  # the discovery document is cached per issuer
    yield provider
    provider.stop()


@pytest.fixture
def sso(world, idp):
    """Single sign-on set up by carol on the settings page's service, for acme.example."""
    signin_settings_update(
        actor=world.carol,
        values={
            "sso_enabled": True,
            "sso_name": "Acme Okta",
            "issuer": idp.issuer,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "allowed_domains": ["acme.example"],
            "default_role": "rep",
        },
    )
    return idp
