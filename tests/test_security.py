"""Security basics: sign-in everywhere, CSP, brute-force lockout, health check."""

import pytest
from django.urls import reverse


def test_every_page_needs_sign_in(client, world):
    for url in ["/", reverse("deals:list"), reverse("deals:detail", args=[world.deal().pk])]:
        response = client.get(url, follow=False)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_content_security_policy_allows_no_inline_script(client, world):
    client.force_login(world.alice)
    response = client.get(reverse("deals:mark-lost", args=[world.deal().pk]))
    policy = response["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["script-src"] == "'self'"
    assert directives["default-src"] == "'self'"
    assert "unsafe-inline" not in policy
    html = response.content.decode()
    assert "<script>" not in html and " style=" not in html
    assert response["X-Frame-Options"] == "DENY"


def test_sign_in_and_out(client, world):
    response = client.post(reverse("login"), {"username": "alice", "password": "a-long-test-password"})
    assert response.status_code == 302
    assert client.get(reverse("deals:list")).status_code == 200
    assert client.get(reverse("logout")).status_code == 405  # sign-out is a POST (CSRF-protected)
    client.post(reverse("logout"))
    assert client.get(reverse("deals:list")).status_code == 302


def test_csrf_is_enforced(world):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(world.alice)
    deal = world.deal()
    response = strict.post(
        reverse("deals:mark-lost", args=[deal.pk]), {"reason": world.reasons["no-budget"].pk}
    )
    assert response.status_code == 403
    deal.refresh_from_db()
    assert deal.is_open


def test_repeated_failed_sign_ins_lock_the_account_for_that_address(client, world, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(3):
        client.post(reverse("login"), {"username": "alice", "password": "wrong"})
    locked = client.post(reverse("login"), {"username": "alice", "password": "a-long-test-password"})
    assert locked.status_code == 429
    assert client.get(reverse("deals:list")).status_code == 302  # still signed out


@pytest.mark.django_db
def test_health_checks_database_and_broker(client):
    from outbox.services import sweep_heartbeat

    sweep_heartbeat()  # beat's sweep ran (without it: 503, see outbox/tests/test_failures.py)
    response = client.get(reverse("health"))
    assert response.status_code == 200, response.content
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "broker": "ok",
        "sweep": "ok",
        "outbox_backlog_seconds": 0,
        "outbox_waiting": 0,
        "outbox_failed": 0,
        "outbox_failed_by_kind": {},
    }


@pytest.mark.django_db
def test_health_reports_a_broker_that_does_not_answer(client, settings):
    from closedlost.celery import app

    original = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    try:
        response = client.get(reverse("health"))
    finally:
        app.conf.broker_url = original
    assert response.status_code == 503
    assert response.json()["broker"].startswith("error")
