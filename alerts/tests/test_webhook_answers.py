"""What the alerts do with each answer of Slack's or Teams' incoming webhook, through the outbox
(run here, without a worker) against the loopback fake: a revoked or removed webhook ends failed
for good at once, with plain words on the alerts page; 429 and 5xx are tried again."""

import pytest
from django.urls import reverse

from alerts import checks, services
from alerts.models import AlertDelivery
from alerts.tests.test_checks import TODAY, _west
from outbox import services as outbox
from outbox.models import Message

SLACK = "/services/T1/B1/revoked"
TEAMS = "/webhookb2/removed"


def _fire(world, hooks, kind: str, path: str) -> AlertDelivery:
    """A rule with a webhook that fires (West's win rate fell): its delivery and outbox item."""
    _west(world, then=(24, 6), now=(6, 24))
    rule = services.alert_rule_create(
        actor=world.carol, name="West drop", kind="win_rate_drop", threshold=10, team=world.west,
        recipients=[world.grace], webhook_kind=kind, webhook_url=f"{hooks.url}{path}",
    )  # fmt: skip
    assert checks.rule_check(rule_id=rule.pk, today=TODAY) is not None
    return AlertDelivery.objects.get(firing__rule=rule, channel=kind)


def _run_once(delivery: AlertDelivery) -> None:
    """The worker's turn: the delivery's waiting outbox message, once."""
    message = Message.objects.get(kind="alerts.webhook", items=[delivery.pk], failed_at__isnull=True)
    outbox.message_deliver(message_id=message.pk)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "path", "status", "body"),
    [
        ("slack", SLACK, 404, b"no_service"),
        ("slack", SLACK, 403, b"invalid_token"),
        ("slack", SLACK, 410, b"channel_is_archived"),
        ("slack", SLACK, 400, b"invalid_token"),
        ("slack", SLACK, 400, b"no_service"),
        ("teams", TEAMS, 404, b"Webhook Bad Request - Null or empty event"),
        ("teams", TEAMS, 410, b"Connector configuration not found"),
    ],
)
def test_a_revoked_webhook_fails_for_good_at_once(client, world, fake_hooks, kind, path, status, body):
    delivery = _fire(world, fake_hooks, kind, path)
    fake_hooks.answers[path] = [(status, body)] * 5
    _run_once(delivery)
    delivery.refresh_from_db()
    name = {"slack": "Slack", "teams": "Microsoft Teams"}[kind]
    assert (delivery.state, delivery.attempts) == ("failed", 1)
    assert delivery.last_error.startswith(f"The {name} webhook is revoked or removed (HTTP {status} ")
    assert "set a new webhook address on the rule" in delivery.last_error
    assert fake_hooks.refused == [path]  # asked once, never again
    # Failed for good in the outbox: nothing waits to be tried again, an admin may replay it.
    assert not Message.objects.filter(kind="alerts.webhook", failed_at__isnull=True).exists()
    failed = Message.objects.get(kind="alerts.webhook", items=[delivery.pk])
    assert failed.failed_at is not None and "revoked or removed" in failed.last_error
    client.force_login(world.carol)
    page = client.get(reverse("alerts:detail", args=[delivery.firing.rule_id])).content.decode()
    assert "Failed" in page and f"The {name} webhook is revoked or removed" in page
    assert "set a new webhook address on the rule" in page
    assert "1 failed" in client.get(reverse("alerts:index")).content.decode()
    assert path not in page  # the address itself is never shown


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "body"), [(429, b"rate_limited"), (503, b"service unavailable"), (500, b"")]
)
def test_a_busy_or_failing_webhook_is_tried_again(world, fake_hooks, status, body):
    delivery = _fire(world, fake_hooks, "slack", SLACK)
    fake_hooks.answers[SLACK] = [(status, body)]
    _run_once(delivery)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("pending", 1)
    assert f"HTTP {status}" in delivery.last_error
    retry = Message.objects.get(kind="alerts.webhook", items=[delivery.pk])
    assert retry.failed_at is None and retry.crashes == 1
    _run_once(delivery)  # the next try: Slack takes it
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_error) == ("sent", 2, "")
    assert len(fake_hooks.to(SLACK)) == 1 and fake_hooks.refused == [SLACK]
