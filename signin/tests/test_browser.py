"""The sign-in journeys in a real browser (Debian's chromium), each new page checked with axe-core:
single sign-on through the loopback provider, a refusal, the admins' settings and SCIM token,
setting up and using the second factor, and the sign-in page with passwords turned off."""

import os
import re
import time

import pytest

from conftest import CHROMIUM_FLAGS, OUTPUT_DIR  # noqa: F401 - the browser fixture's flags
from signin.services import signin_settings_update
from signin.tests.test_second_factor import totp
from teams.models import User
from tests.test_accessibility import AXE, TAGS


def axe(tab) -> list[str]:
    tab.add_script_tag(path=str(AXE))
    result = tab.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", TAGS)
    return [f"{tab.url} {v['id']} {n['target']}" for v in result["violations"] for n in v["nodes"]]


def shot(tab, name: str) -> None:
    os.makedirs(OUTPUT_DIR, exist_ok=True)
    tab.screenshot(path=os.path.join(OUTPUT_DIR, f"signin-{name}.png"), full_page=True)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_sign_in_journeys_in_a_browser(browser, live_server, world, sso):
    context = browser.new_context(
        base_url=live_server.url, bypass_csp=True, viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(10_000)
    tab = context.new_page()
    violations: list[str] = []

    # Single sign-on: the button, the provider (on loopback), back signed in as a new rep.
    tab.goto("/login/")
    violations += axe(tab)
    shot(tab, "login-with-sso")
    tab.get_by_role("link", name="Sign in with Acme Okta").click()
    tab.wait_for_url("**/deals/")
    assert User.objects.get(email="nina.ng@acme.example").role == "rep"
    tab.get_by_role("button", name="Sign out").click()

    # A token for another application: a clear page, nobody signed in.
    sso.tamper = {"aud": "another-app"}
    tab.goto("/login/")
    tab.get_by_role("link", name="Sign in with Acme Okta").click()
    tab.get_by_role("heading", name="We could not sign you in").wait_for()
    assert "another application" in tab.content()
    violations += axe(tab)
    shot(tab, "refused")
    sso.tamper = {}

    # The admin: settings, a SCIM token, a second factor.
    tab.goto("/login/")
    tab.get_by_label("Username").fill("carol")
    tab.get_by_label("Password").fill("a-long-test-password")
    tab.get_by_role("button", name="Sign in", exact=True).click()
    tab.wait_for_url("**/deals/")
    tab.goto("/signin/settings/")
    violations += axe(tab)
    shot(tab, "settings")
    tab.get_by_role("button", name="Issue a token").click()
    tab.get_by_label("Bearer token").wait_for()
    violations += axe(tab)
    tab.goto("/signin/2fa/")
    violations += axe(tab)
    tab.get_by_role("link", name="Add an authenticator app").click()
    tab.wait_for_url("**/signin/2fa/setup/")
    violations += axe(tab)
    shot(tab, "2fa-setup")
    secret = re.search(r'<code class="user-select-all">([A-Z2-7]+)</code>', tab.content()).group(1)
    tab.get_by_label("Code").fill(totp(secret))
    tab.get_by_role("button", name="Turn on").click()
    tab.get_by_role("heading", name="Your recovery codes").wait_for()
    violations += axe(tab)
    shot(tab, "2fa-codes")
    tab.get_by_role("link", name="I have kept them").click()
    tab.goto("/deals/")
    tab.get_by_role("button", name="Sign out").click()

    tab.goto("/login/")
    tab.get_by_label("Username").fill("carol")
    tab.get_by_label("Password").fill("a-long-test-password")
    tab.get_by_role("button", name="Sign in", exact=True).click()
    tab.wait_for_url("**/signin/2fa/verify/**")
    violations += axe(tab)
    shot(tab, "2fa-verify")
    tab.get_by_label("Code").fill(totp(secret, at=time.time() + 30))
    tab.get_by_role("button", name="Continue").click()
    tab.wait_for_url("**/deals/")
    tab.get_by_role("button", name="Sign out").click()

    # Passwords off for all but the break-glass admin: the form folds away behind the SSO button.
    signin_settings_update(actor=world.carol, values={"password_signin": False}, break_glass=[world.carol])
    tab.goto("/login/")
    assert tab.get_by_text("Break-glass admin sign-in").is_visible()
    violations += axe(tab)
    shot(tab, "login-passwords-off")
    context.close()
    assert violations == [], "\n".join(violations)
