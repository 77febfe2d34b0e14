"""TOTP (RFC 6238) as a second factor for password accounts, with recovery codes (django-otp)."""

import base64
import hashlib
import hmac
import re
import struct
import time

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from signin.models import SigninChange
from signin.services import signin_settings_update
from signin.tests.test_sso import sso_sign_in

PASSWORD = "a-long-test-password"


def totp(secret_b32: str, at: float | None = None, step: int = 30) -> str:
    """RFC 6238 written out here (HMAC-SHA1, 6 digits), independent of django-otp's own."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    counter = int((at or time.time()) // step)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{number % 1_000_000:06d}"


def sign_in(client, username: str):
    return client.post("/login/", {"username": username, "password": PASSWORD})


def set_up_authenticator(client) -> tuple[str, list[str]]:
    page = client.get("/signin/2fa/setup/").content.decode()
    assert "<svg" in page
    secret = re.search(r'<code class="user-select-all">([A-Z2-7]+)</code>', page).group(1)
    wrong = client.post("/signin/2fa/setup/", {"code": "000000" if totp(secret) != "000000" else "111111"})
    assert wrong.status_code == 400 and "not right" in wrong.content.decode()
    TOTPDevice.objects.update(throttling_failure_count=0, throttling_failure_timestamp=None)
    done = client.post("/signin/2fa/setup/", {"code": totp(secret)})
    assert done.status_code == 200, done.content.decode()
    codes = re.findall(r"<li>([a-z0-9]{8})</li>", done.content.decode())
    assert len(codes) == 10
    return secret, codes


@pytest.mark.django_db
def test_a_rep_turns_it_on_and_then_needs_a_code_after_the_password(client, world):
    sign_in(client, "alice")
    secret, _codes = set_up_authenticator(client)
    assert TOTPDevice.objects.get(user=world.alice).confirmed
    assert SigninChange.objects.filter(action="totp_added").exists()
    client.post("/logout/")

    assert sign_in(client, "alice").status_code == 302
    blocked = client.get("/deals/")
    assert blocked.status_code == 302 and blocked["Location"].startswith("/signin/2fa/verify/")
    assert client.get("/api/deals/").status_code == 403  # the session's API too
    # The code already used at set-up does not work twice (django-otp keeps the last time step).
    replay = client.post("/signin/2fa/verify/", {"code": totp(secret), "next": "/deals/"})
    assert replay.status_code == 400 and "not right" in replay.content.decode()
    TOTPDevice.objects.update(throttling_failure_count=0, throttling_failure_timestamp=None)
    right = client.post("/signin/2fa/verify/", {"code": totp(secret, at=time.time() + 30), "next": "/deals/"})
    assert right.status_code == 302 and right["Location"] == "/deals/"
    assert client.get("/deals/").status_code == 200


@pytest.mark.django_db
def test_a_wrong_code_makes_the_next_try_wait(client, world):
    sign_in(client, "alice")
    secret, _ = set_up_authenticator(client)
    client.post("/logout/")
    sign_in(client, "alice")
    client.post("/signin/2fa/verify/", {"code": "999999" if totp(secret) != "999999" else "888888"})
    # django-otp's throttle: right after a failure even the right code is refused for a moment.
    again = client.post("/signin/2fa/verify/", {"code": totp(secret, at=time.time() + 30)})
    assert again.status_code == 400 and "tried too often" in again.content.decode()
    assert client.get("/deals/").status_code == 302


@pytest.mark.django_db
def test_a_recovery_code_works_once(client, world):
    sign_in(client, "alice")
    _, codes = set_up_authenticator(client)
    client.post("/logout/")
    sign_in(client, "alice")
    used = client.post("/signin/2fa/verify/", {"code": codes[0]})
    assert used.status_code == 302 and client.get("/deals/").status_code == 200
    client.post("/logout/")
    sign_in(client, "alice")
    assert client.post("/signin/2fa/verify/", {"code": codes[0]}).status_code == 400
    assert client.get("/deals/").status_code == 302


@pytest.mark.django_db
def test_an_admin_setting_requires_it_for_admins_only(client, world):
    signin_settings_update(actor=world.carol, values={"require_totp_for_admins": True})
    sign_in(client, "carol")
    first = client.get("/taxonomy/")
    assert first.status_code == 302 and first["Location"].startswith("/signin/2fa/setup/")
    set_up_authenticator(client)
    assert client.get("/taxonomy/").status_code == 200
    refused = client.post("/signin/2fa/remove/", follow=True)
    assert "Admins must keep a second factor" in refused.content.decode()
    assert TOTPDevice.objects.filter(user=world.carol).exists()
    client.post("/logout/")
    sign_in(client, "bob")  # a manager: not asked
    assert client.get("/deals/").status_code == 200


@pytest.mark.django_db
def test_single_sign_on_leaves_the_second_factor_to_the_provider(client, world, sso):
    world.carol.email = "nina.ng@acme.example"
    world.carol.save()
    sign_in(client, "carol")
    set_up_authenticator(client)
    client.post("/logout/")
    assert sso_sign_in(client, sso).status_code == 302
    assert client.get("/deals/").status_code == 200


@pytest.mark.django_db
def test_an_api_token_needs_the_code_too_once_it_is_on(client, world):
    from rest_framework.test import APIClient

    api = APIClient()
    assert api.post("/api/token/", {"username": "alice", "password": PASSWORD}).status_code == 200
    sign_in(client, "alice")
    secret, _ = set_up_authenticator(client)
    assert api.post("/api/token/", {"username": "alice", "password": PASSWORD}).status_code == 400
    later = totp(secret, at=time.time() + 30)
    answer = api.post("/api/token/", {"username": "alice", "password": PASSWORD, "code": later})
    assert answer.status_code == 200 and answer.json()["token"]
