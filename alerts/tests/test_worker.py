"""Alerts end to end: rules set on the page, deals closed through the services in the last two
full weeks, a real Celery worker with beat checking the rules every two seconds (and this process
checking at the same time), a real SMTP server and a loopback fake Slack and Teams.

Each rule fires once for its period however often the check runs; a rule scoped to West holds
nothing of East; a webhook that is down is tried again through the outbox and then delivered."""

from datetime import UTC, datetime, time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from alerts import checks
from alerts.models import AlertDelivery, AlertFiring, AlertRule
from alerts.tests.conftest import wait_for
from deals import services
from outbox.models import Message
from reasons.models import Competitor, Reason, ReasonKind

pytestmark = pytest.mark.django_db(transaction=True)


def _close(world, owner, *, when, outcome, reason, competitor=None):
    deal = world.deal(owner=owner, created_at=when - timedelta(days=60))
    if outcome == "won":
        services.deal_mark_won(deal=deal, reason=reason, actor=deal.owner, closed_at=when)
    else:
        services.deal_mark_lost(
            deal=deal,
            reason=reason,
            actor=deal.owner,
            competitor=competitor,
            closed_at=when,
            skip_nurture=True,
        )


def _plant(world):
    """The last full week against the one before: East loses to Globex far more often (4 of 40
    losses → 26 of 40); West's win rate falls from 80% to 20%. Five East deals the CRM closed
    lost with words nobody mapped wait for a reason."""
    start, _end = checks.period_bounds("weekly", timezone.localdate())
    now_day = datetime.combine(start + timedelta(days=2), time(12), tzinfo=UTC)
    then_day = now_day - timedelta(days=7)
    globex = Competitor.objects.create(name="Globex")
    price = world.reasons["price-too-high"]
    lost_to = Reason.objects.filter(kind=ReasonKind.LOSS, requires_competitor=True).first() or price
    win = Reason.objects.filter(kind=ReasonKind.WIN, active=True).first()
    for when, to_globex, other in ((then_day, 4, 36), (now_day, 26, 14)):
        for i in range(to_globex):
            _close(
                world, ("alice", "erin")[i % 2], when=when, outcome="lost", reason=lost_to, competitor=globex
            )
        for i in range(other):
            _close(world, ("alice", "erin")[i % 2], when=when, outcome="lost", reason=price)
        for i in range(20):
            _close(world, ("alice", "erin")[i % 2], when=when, outcome="won", reason=win)
    for when, won, lost in ((then_day, 24, 6), (now_day, 6, 24)):
        for _ in range(won):
            _close(world, "dave", when=when, outcome="won", reason=win)
        for _ in range(lost):
            _close(world, "dave", when=when, outcome="lost", reason=price)
    for _ in range(5):
        services.deal_mark_lost_from_crm(deal=world.deal(owner="erin"), crm_reason_text="Went dark")
    return globex


def _set_rules(client, world, hooks, globex) -> dict[str, AlertRule]:
    client.force_login(world.carol)
    base = {"period": "weekly", "webhook_kind": "", "webhook_url": "", "subject": "", "competitor": ""}
    forms = {
        "west": {
            **base, "name": "West win rate", "kind": "win_rate_drop", "threshold": "10",
            "team": world.west.pk, "recipients": [world.grace.pk, world.carol.pk], "webhook_kind": "slack",
            "webhook_url": f"{hooks.url}/services/T1/B1/west-secret",
        },
        "globex": {
            **base, "name": "Globex anywhere", "kind": "finding", "subject": "competitor",
            "competitor": globex.pk, "team": "", "recipients": [world.carol.pk], "webhook_kind": "teams",
            "webhook_url": f"{hooks.url}/webhookb2/teams-secret",
        },
        "backlog": {
            **base, "name": "East backlog", "kind": "backlog", "threshold": "3", "team": world.east.pk,
            "recipients": [world.bob.pk],
        },
        "quiet": {  # West's own Globex losses did not move: it never fires
            **base, "name": "Globex in West", "kind": "finding", "subject": "competitor",
            "competitor": globex.pk, "team": world.west.pk, "recipients": [world.grace.pk],
        },
    }  # fmt: skip
    rules = {}
    for key, form in forms.items():
        response = client.post(reverse("alerts:create"), form)
        assert response.status_code == 302, response.content.decode()[:2000]
        rules[key] = AlertRule.objects.get(name=form["name"])
    return rules


def test_each_rule_fires_once_per_period_to_each_destination(
    client, world, workers, smtp_inbox, fake_hooks, monkeypatch
):
    globex = _plant(world)
    rules = _set_rules(client, world, fake_hooks, globex)
    fake_hooks.down["/webhookb2/teams-secret"] = 2  # Teams refuses the first two POSTs
    monkeypatch.setenv("ALERTS_CHECK_EVERY", "2")
    monkeypatch.setenv("OUTBOX_RETRY_BACKOFF", "1")
    monkeypatch.setenv("OUTBOX_RETRY_BACKOFF_MAX", "2")
    workers.start(beat=True)
    checks.alerts_check()  # and this process checks at the same time as beat

    wait_for(lambda: smtp_inbox.count() >= 4, timeout=60, message="four alert e-mails")
    wait_for(lambda: fake_hooks.to("/webhookb2/teams-secret"), timeout=60, message="Teams, once it is back")
    wait_for(lambda: workers.logs().count("alerts.check") >= 8, timeout=60, message="beat checking again")
    checks.alerts_check()

    # Once per rule and period, however often the check ran.
    week = checks.period_bounds("weekly", timezone.localdate())
    firings = {firing.rule_id: firing for firing in AlertFiring.objects.all()}
    assert set(firings) == {rules["west"].pk, rules["globex"].pk, rules["backlog"].pk}
    assert {(f.period_start, f.period_end) for f in firings.values()} == {week}
    assert smtp_inbox.count() == 4
    assert [len(smtp_inbox.to(f"{name}@closedlost.invalid")) for name in ("carol", "grace", "bob")] == [
        2,
        1,
        1,
    ]
    slack, teams = fake_hooks.to("/services/T1/B1/west-secret"), fake_hooks.to("/webhookb2/teams-secret")
    assert len(slack) == 1 and len(teams) == 1

    # The West rule holds nothing of East: not in Grace's e-mail, not in the Slack message.
    west_mail = smtp_inbox.to("grace@closedlost.invalid")[0]
    text = west_mail.get_body(("plain",)).get_content()
    html = west_mail.get_body(("html",)).get_content()
    assert "Win rate in team West fell 60 points, from 80% to 20%" in text
    assert "24 won of 30 → 6 of 30" in text
    assert "Alert “West win rate”: " in west_mail["Subject"]
    assert "http://testserver/insights/findings/?" in text and f"team={world.west.pk}" in text
    for body in (text, html, str(slack[0])):
        for east_word in ("East", "Globex", "alice", "Alice", "erin", "Erin", "Went dark"):
            assert east_word not in body
    assert slack[0]["text"].startswith("*Alert “West win rate”") and "fell 60 points" in slack[0]["text"]
    assert slack[0]["blocks"][0]["type"] == "header"

    # The org-wide Globex rule: a MessageCard with the finding, delivered after two refusals.
    assert teams[0]["@type"] == "MessageCard" and "Globex" in teams[0]["text"]
    assert "Losses to Globex rose from" in teams[0]["sections"][0]["text"]
    assert fake_hooks.refused == ["/webhookb2/teams-secret"] * 2
    teams_delivery = AlertDelivery.objects.get(channel="teams")
    assert (teams_delivery.state, teams_delivery.attempts) == ("sent", 3)
    backlog_mail = smtp_inbox.to("bob@closedlost.invalid")[0].get_body(("plain",)).get_content()
    assert "5 lost deals wait for a reason in team East" in backlog_mail
    assert "status=lost&reason=none" in backlog_mail

    assert set(AlertDelivery.objects.values_list("state", flat=True)) == {"sent"}
    wait_for(lambda: not Message.objects.filter(kind__startswith="alerts.").exists(), message="outbox empty")

    # The admins read it on the pages.
    page = client.get(reverse("alerts:detail", args=[rules["west"].pk])).content.decode()
    assert "Win rate in team West fell 60 points" in page and "Delivered" in page
    listing = client.get(reverse("alerts:index")).content.decode()
    assert "Not yet" in listing  # the quiet rule
