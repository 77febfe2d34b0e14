"""Shared fixtures: the starter taxonomy and a small world of two teams.

East: alice (rep), erin (rep), bob (manager). West: dave (rep), grace (manager).
carol is the admin (RevOps).
"""

import os
from types import SimpleNamespace

import pytest

from deals.factories import (
    AccountFactory,
    DealFactory,
    MembershipFactory,
    PipelineFactory,
    StageFactory,
    UserFactory,
)
from reasons.models import Competitor, Reason
from reasons.taxonomy import load_starter_taxonomy_now
from teams.models import Membership, Team, User

# Playwright's sync API runs an event loop in the test thread; Django's ORM calls made from
# that thread are still plain synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def reasons(db) -> dict[str, Reason]:
    """The starter taxonomy, by reason code (loaded again: transactional tests flush it)."""
    load_starter_taxonomy_now()
    return {reason.code: reason for reason in Reason.objects.all()}


@pytest.fixture
def competitor(reasons) -> Competitor:
    return Competitor.objects.get(name="Northwind CRM")


@pytest.fixture
def world(db, reasons):
    east, west = Team.objects.create(name="East"), Team.objects.create(name="West")
    people = {}
    for username, role, team, membership in [
        ("alice", User.Role.REP, east, Membership.Role.REP),
        ("erin", User.Role.REP, east, Membership.Role.REP),
        ("bob", User.Role.MANAGER, east, Membership.Role.MANAGER),
        ("dave", User.Role.REP, west, Membership.Role.REP),
        ("grace", User.Role.MANAGER, west, Membership.Role.MANAGER),
    ]:
        people[username] = UserFactory(username=username, role=role)
        MembershipFactory(team=team, user=people[username], role=membership)
    people["carol"] = UserFactory(username="carol", role=User.Role.ADMIN)
    pipeline = PipelineFactory(name="New business")
    stages = [
        StageFactory(pipeline=pipeline, name=name, order=order, win_probability=probability)
        for order, (name, probability) in enumerate(
            [("Qualification", 10), ("Discovery", 20), ("Demo", 40), ("Proposal", 60), ("Negotiation", 80)],
            start=1,
        )
    ]
    account = AccountFactory(name="Birch Health")

    def deal(owner: str = "alice", stage: int = 3, **kwargs):
        user = people[owner]
        team = east if user.memberships.filter(team=east).exists() else west
        return DealFactory(owner=user, team=team, stage=stages[stage], account=account, **kwargs)

    return SimpleNamespace(
        east=east,
        west=west,
        pipeline=pipeline,
        stages=stages,
        account=account,
        deal=deal,
        reasons=reasons,
        **people,
    )


@pytest.fixture
def api_as(db):
    """`api_as(user)`: a DRF test client sending the user's real API token (`api_as(None)`: anonymous).

    One token per user for the test: the token is shown only when issued."""
    from rest_framework.test import APIClient

    from teams.services import api_token_issue

    tokens: dict[int, str] = {}

    def client_for(user: User | None) -> APIClient:
        client = APIClient()
        if user is not None:
            if user.pk not in tokens:
                tokens[user.pk] = api_token_issue(user=user, created_via="command").key
            client.credentials(HTTP_AUTHORIZATION=f"Token {tokens[user.pk]}")
        return client

    return client_for


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
OUTPUT_DIR = os.path.join(os.path.dirname(__file__), "test-output")


@pytest.fixture(scope="session")
def browser():
    """Debian's headless chromium driven by Playwright (no browser download)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def browser_page(browser, live_server):
    """A fresh browser tab on the live server; `screenshot(name)` saves under test-output/."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    tab = context.new_page()
    console_errors = []
    # Script errors and CSP refusals; a form answered with 400 is expected, not an error.
    tab.on(
        "console",
        lambda message: (
            message.type == "error"
            and "status of 400" not in message.text
            and console_errors.append(message.text)
        ),
    )
    tab.on("pageerror", lambda error: console_errors.append(str(error)))

    def screenshot(name: str) -> str:
        os.makedirs(OUTPUT_DIR, exist_ok=True)
        path = os.path.join(OUTPUT_DIR, f"{name}.png")
        tab.screenshot(path=path, full_page=True)
        return path

    def sign_in(username: str, password: str = "a-long-test-password") -> None:
        tab.goto("/login/")
        tab.get_by_label("Username").fill(username)
        tab.get_by_label("Password").fill(password)
        tab.get_by_role("button", name="Sign in").click()
        tab.wait_for_url("**/deals/")

    tab.screenshot_to = screenshot
    tab.sign_in = sign_in
    tab.console_errors = console_errors
    yield tab
    context.close()


@pytest.fixture(autouse=True)
def _crm_connections_read_afresh():
    """Webhook receivers (and the write-back check) cache connections per process; no test sees
    another test's rows."""
    from crm.receiving import connections_forget

    connections_forget()
    yield
    connections_forget()
