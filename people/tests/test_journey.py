"""The whole life of a rep, in a real browser, with a real Celery worker and SMTP server:
invited into East, joins, sees only their deals, forgets and resets the password, gets an API
token; the admin deactivates them choosing a successor, and their access ends at once."""

import re

import pytest
from django.conf import settings
from django.urls import reverse

from conftest import OUTPUT_DIR
from deals.details import deal_create
from deals.models import Closure, Deal, DealStatus
from followups.models import FollowUp
from followups.tests.conftest import wait_for
from people.models import PersonEvent
from teams.models import User

PASSWORD = "quiet-harbour-7781"
NEW_PASSWORD = "amber-lantern-5520"


def _sign_in(tab, username: str, password: str) -> None:
    tab.goto("/login/")
    tab.get_by_label("Username").fill(username)
    tab.get_by_label("Password").fill(password)
    tab.get_by_role("button", name="Sign in").click()
    tab.wait_for_url("**/deals/")


def _link_in(message, path: str) -> str:
    """The link of the e-mail's text part (a mail client's view), as a path on the live server."""
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    url = re.search(rf"https?://\S+({re.escape(path)}\S+)", text)
    assert url and url.group(0) in html
    return url.group(1)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_invite_join_reset_and_offboard_a_rep(
    browser, browser_page, live_server, world, workers, smtp_inbox, sequence
):
    workers.start(concurrency=1)
    admin = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900}).new_page()
    alice_deal = world.deal(owner="alice", name="Alice's own deal")

    # The admin invites Noor into East.
    _sign_in(admin, "carol", "a-long-test-password")
    admin.get_by_role("link", name="People", exact=True).click()
    admin.get_by_role("link", name="Invite", exact=True).click()
    admin.get_by_label("Name").fill("Noor Birch")
    admin.get_by_label("E-mail").fill("noor@birch.example")
    admin.get_by_label("Role").select_option(label="Sales rep")
    admin.get_by_label("Team").select_option(label="East")
    admin.get_by_role("button", name="Send invite").click()
    admin.wait_for_url("**/people/*/")
    assert "Invite sent to noor@birch.example" in admin.content()
    noor = User.objects.get(email="noor@birch.example")

    invite = wait_for(lambda: smtp_inbox.to("noor@birch.example"), timeout=60, message="the invite e-mail")[0]
    assert invite["Subject"] == "Carol invited you to closedlost"
    join = _link_in(invite, "/people/join/")

    # Noor sets a password (Django's rules first), signs in and sees only her deals.
    rep = browser_page
    rep.goto(join)
    rep.locator("#id_new_password1").fill("noor")
    rep.locator("#id_new_password2").fill("noor")
    rep.get_by_role("button", name="Set password").click()
    assert "This password is too short" in rep.content()
    rep.locator("#id_new_password1").fill(PASSWORD)
    rep.locator("#id_new_password2").fill(PASSWORD)
    rep.screenshot_to("people-join")
    rep.get_by_role("button", name="Set password").click()
    rep.wait_for_url("**/login/**")
    stage = world.stages[2]
    for name in ("Noor open deal", "Noor lost deal"):
        deal_create(name=name, account=world.account, owner=noor, team=world.east, stage=stage, amount=5000)
    _sign_in(rep, "noor@birch.example", PASSWORD)
    deals = rep.locator("main").inner_text()
    assert "Noor open deal" in deals and "Noor lost deal" in deals and alice_deal.name not in deals
    lost = Deal.objects.get(name="Noor lost deal")
    rep.goto(f"/deals/{lost.pk}/mark-lost/")
    rep.get_by_label("Reason", exact=True).select_option(label="No budget")
    rep.get_by_label("Nurture sequence").select_option(label="Test nurture")
    rep.get_by_role("button", name="Mark lost").click()
    rep.wait_for_url(f"**/deals/{lost.pk}/")
    assert FollowUp.objects.filter(deal=lost, assignee=noor, state="pending").exists()

    # She forgets her password: the reset link comes by e-mail and works once.
    rep.get_by_role("button", name="Sign out").click()
    rep.get_by_role("link", name="Forgot your password?").click()
    rep.get_by_label("Email").fill("noor@birch.example")
    rep.get_by_role("button", name="Send the link").click()
    assert "If an account uses that address" in rep.content()
    reset = wait_for(lambda: smtp_inbox.to("noor@birch.example")[1:], timeout=60, message="the reset e-mail")[
        0
    ]
    assert reset["Subject"] == "Reset your closedlost password"
    rep.goto(_link_in(reset, "/password/reset/"))
    rep.locator("#id_new_password1").fill(NEW_PASSWORD)
    rep.locator("#id_new_password2").fill(NEW_PASSWORD)
    rep.screenshot_to("people-reset")
    rep.get_by_role("button", name="Set new password").click()
    assert "Your password is changed" in rep.content()
    rep.goto(_link_in(reset, "/password/reset/"))
    assert "This link does not work" in rep.content()
    _sign_in(rep, "noor@birch.example", NEW_PASSWORD)
    token = rep.request.post("/api/token/", data={"username": "noor@birch.example", "password": NEW_PASSWORD})
    auth = {"Authorization": f"Token {token.json()['token']}"}
    assert rep.request.get("/api/deals/", headers=auth).status == 200

    # The admin deactivates her, handing her work to Erin.
    pending = FollowUp.objects.filter(assignee=noor, state="pending").count()
    admin.goto(reverse("people:detail", args=[noor.pk]))
    admin.get_by_role("link", name="Deactivate Noor Birch…").click()
    assert "<strong>1</strong> open deal(s), <strong>1</strong> closed deal(s)" in admin.content()
    admin.get_by_label("Their open deals and follow-ups go to").select_option(label="Erin (Sales rep)")
    admin.screenshot(path=f"{OUTPUT_DIR}/people-deactivate.png", full_page=True)
    admin.get_by_role("button", name="Deactivate").click()
    admin.wait_for_url(f"**/people/{noor.pk}/")
    moved = admin.locator("[role=status]").first.inner_text()
    assert f"Noor Birch is deactivated: 2 deal(s) and {pending} follow-up(s) moved to Erin" in moved
    admin.screenshot(path=f"{OUTPUT_DIR}/people-person.png", full_page=True)

    # At once: her page session goes to sign-in, her token answers 401.
    response = rep.goto("/deals/")
    assert rep.url.startswith(f"{live_server.url}/login/") and response.status == 200
    assert rep.request.get("/api/deals/", headers=auth).status == 401
    assert rep.request.post(
        "/api/token/", data={"username": "noor@birch.example", "password": NEW_PASSWORD}
    ).status == 400  # fmt: skip
    assert set(Deal.objects.filter(name__startswith="Noor").values_list("owner__username", flat=True)) == {
        "erin"
    }
    assert not FollowUp.objects.filter(assignee=noor, state="pending").exists()
    assert FollowUp.objects.filter(deal=lost, assignee=world.erin, state="pending").count() == pending
    closure = Closure.objects.get(deal=lost)
    assert closure.actor == noor and Deal.objects.get(pk=lost.pk).status == DealStatus.LOST
    erin = browser.new_context(base_url=live_server.url).new_page()
    _sign_in(erin, "erin", "a-long-test-password")
    erin.goto(f"/deals/{lost.pk}/")
    assert "Noor Birch" in erin.locator("main").inner_text()  # the closure still names her
    actions = set(PersonEvent.objects.filter(person=noor).values_list("action", flat=True))
    assert actions == {"invited", "joined", "password_reset", "deactivated"}
    assert rep.console_errors == []
    assert settings.PEOPLE_INVITE_MAX_AGE_DAYS == 7
