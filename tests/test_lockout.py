"""Sign-in throttling a stranger cannot turn against a user: failures from one address lock that
account from that address only, the address read behind the configured proxy."""

import pytest
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.fixture
def behind_one_proxy(settings):
    settings.AXES_ENABLED = True
    settings.TRUSTED_PROXY_COUNT = 1  # one reverse proxy appends the client's address
    return settings


def _sign_in(client: Client, password: str, client_ip: str, spoofed: str = ""):
    # The proxy (10.0.0.2) appends the address it saw to whatever the client sent.
    forwarded = f"{spoofed}, {client_ip}" if spoofed else client_ip
    return client.post(
        reverse("login"), {"username": "alice", "password": password},
        REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded,
    )  # fmt: skip


def test_five_failures_from_one_address_leave_the_user_free_elsewhere(world, behind_one_proxy):
    world.alice.set_password("the-right-password-123")
    world.alice.save()
    attacker = Client()
    for _ in range(4):
        assert _sign_in(attacker, "wrong", "203.0.113.66").status_code == 200
    assert _sign_in(attacker, "wrong", "203.0.113.66").status_code == 429  # the fifth locks
    locked = _sign_in(attacker, "the-right-password-123", "203.0.113.66")
    assert locked.status_code == 429
    page = locked.content.decode()
    assert "Sign-in paused" in page and "60 minutes" in page and "Other devices and networks" in page
    # Spoofing the header does not move the attacker to a fresh address.
    assert (
        _sign_in(attacker, "the-right-password-123", "203.0.113.66", spoofed="198.51.100.1").status_code
        == 429
    )
    # Alice, from her own network, signs in.
    alice = Client()
    assert _sign_in(alice, "the-right-password-123", "198.51.100.23").status_code == 302


def test_without_a_trusted_proxy_the_header_is_ignored(world, settings):
    from django.test import RequestFactory

    from closedlost.clientip import client_ip

    settings.TRUSTED_PROXY_COUNT = 0
    request = RequestFactory().get("/", REMOTE_ADDR="192.0.2.10", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert client_ip(request) == "192.0.2.10"
    settings.TRUSTED_PROXY_COUNT = 2
    request = RequestFactory().get(
        "/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.9, 10.0.0.1"
    )
    assert client_ip(request) == "203.0.113.9"
