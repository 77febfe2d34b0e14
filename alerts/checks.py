"""Checking the rules: the period each is checked for, what it finds, and the firing it records.

A rule is checked for the last full period before today (Monday–Sunday for weekly rules, the
calendar month for monthly ones) against the period before it. The figures and findings come from
insights' own public functions, for the rule's scope (its team, or the whole organisation) read
as an admin would: nothing outside the scope reaches a firing.

`alerts_check` is the beat task's work. Each rule is checked under a row lock (a second check
running at the same time skips it); its firing for the period is unique, and the deliveries are
written with it and handed to the outbox in the same transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from alerts.models import AlertDelivery, AlertFiring, AlertRule, Period, RuleKind, Subject
from deals.models import DealStatus
from deals.selectors import DealFilters, deals_filtered
from insights.comparison import Comparison
from insights.figures import figure_headline, rates_lost
from insights.filters import DashboardFilters
from insights.findings import dashboard_findings
from insights.findings_stats import Cell, evaluate, sentence
from insights.measures import Dashboard
from insights.org_settings import win_rate_includes_disqualified
from outbox.services import handoff_enqueue
from teams.models import User

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What a rule found for a period: a sentence, the lines behind it, and where to read more."""

    text: str
    lines: list[str] = field(default_factory=list)
    link: str = ""


def period_bounds(period: str, today: date) -> tuple[date, date]:
    """The last full week (Monday–Sunday) or calendar month before `today`, both days inclusive."""
    if period == Period.MONTHLY:
        end = today.replace(day=1) - timedelta(days=1)
        return end.replace(day=1), end
    start = today - timedelta(days=today.weekday() + 7)
    return start, start + timedelta(days=6)


def previous_bounds(period: str, start: date) -> tuple[date, date]:
    """The period just before the one starting on `start` (the month before, or the week before)."""
    return period_bounds(period, start)


def _reader() -> User:
    """The scope is the rule's team (or the organisation), not a person's visibility: read as an
    admin (an unsaved user, never signed in) and filter by the rule's team."""
    return User(username="alerts", role=User.Role.ADMIN)


def _dashboard(rule: AlertRule, start: date, end: date) -> Dashboard:
    filters = DashboardFilters(date_from=start, date_to=end, team=rule.team_id)
    return Dashboard(user=_reader(), filters=filters)


def _query(rule: AlertRule, start: date, end: date, before: tuple[date, date]) -> str:
    params = {"period": "custom", "from": start.isoformat(), "to": end.isoformat(), "compare": "custom"}
    params |= {"compare_from": before[0].isoformat(), "compare_to": before[1].isoformat()}
    if rule.team_id:
        params["team"] = rule.team_id
    return urlencode(params)


def scope_words(rule: AlertRule) -> str:
    return f"team {rule.team.name}" if rule.team_id else "the whole organisation"


def _subject_matches(rule: AlertRule, finding: dict) -> bool:
    if rule.subject == Subject.COMPETITOR:
        wanted = rule.competitor.merged_into_id or rule.competitor_id
        return finding["dimension"] == "competitor" and finding["key"] == wanted
    if rule.subject == Subject.REASON:
        wanted = rule.reason.merged_into_id or rule.reason_id
        return finding["dimension"] == "reason" and finding["key"] == wanted
    return True  # a team: every finding within the team (the rule's scope)


def _check_finding(rule: AlertRule, start: date, end: date) -> Outcome | None:
    before = previous_bounds(rule.period, start)
    comparison = Comparison(mode="custom", date_from=before[0], date_to=before[1])
    found = dashboard_findings(_dashboard(rule, start, end), comparison)["findings"]
    matching = [finding for finding in found if _subject_matches(rule, finding)]
    if not matching:
        return None
    about = {
        Subject.COMPETITOR: lambda: rule.competitor.name,
        Subject.REASON: lambda: f"“{rule.reason.label}”",
        Subject.TEAM: lambda: f"team {rule.team.name}",
    }[rule.subject]()
    count = len(matching)
    text = f"{count} significant change{'s' if count != 1 else ''} about {about} in {scope_words(rule)}"
    link = f"{reverse('insights:findings')}?{_query(rule, start, end, before)}"
    return Outcome(text=text, lines=[finding["text"] for finding in matching], link=link)


def _win_rate_cell(rule: AlertRule, now: dict, then: dict) -> Cell:
    include = win_rate_includes_disqualified()  # the admins' setting, as the dashboard reads it
    counted_now = rates_lost(now["lost"], now["disqualified"], include)
    counted_then = rates_lost(then["lost"], then["disqualified"], include)
    return Cell(
        dimension="team" if rule.team_id else "organisation",
        key=rule.team_id or 0,
        label=rule.team.name if rule.team_id else "the organisation",
        measure="win_rate",
        hits=now["won"],
        total=now["won"] + counted_now,
        compare_hits=then["won"],
        compare_total=then["won"] + counted_then,
    )


def _check_win_rate_drop(rule: AlertRule, start: date, end: date) -> Outcome | None:
    before = previous_bounds(rule.period, start)
    now = figure_headline(_dashboard(rule, start, end))
    then = figure_headline(_dashboard(rule, *before))
    results = evaluate(
        [_win_rate_cell(rule, now, then)], alpha=settings.FINDINGS_FDR, min_count=settings.FINDINGS_MIN_COUNT
    )
    if not results:
        return None  # too few deals to test
    result = results[0]
    drop = -result.change * 100
    if not result.significant or drop < rule.threshold:
        return None
    text = (
        f"Win rate in {scope_words(rule)} fell {drop:.0f} points, from {result.cell.compare_value:.0%} "
        f"to {result.cell.value:.0%} (p = {result.p_value:.3g})"
    )
    link = f"{reverse('insights:findings')}?{_query(rule, start, end, before)}"
    return Outcome(text=text, lines=[sentence(result)], link=link)


def backlog_count(rule: AlertRule) -> int:
    """Lost deals waiting for a standard reason in the rule's scope, whenever they closed."""
    filters = DealFilters(needs_reason=True, team=rule.team_id)
    return deals_filtered(user=_reader(), filters=filters).count()


def _check_backlog(rule: AlertRule, start: date, end: date) -> Outcome | None:
    count = backlog_count(rule)
    if count <= rule.threshold:
        return None
    query = {"status": DealStatus.LOST, "reason": "none"} | ({"team": rule.team_id} if rule.team_id else {})
    return Outcome(
        text=(
            f"{count} lost deals wait for a reason in {scope_words(rule)} "
            f"(the alert is set above {rule.threshold})"
        ),
        link=f"{reverse('deals:list')}?{urlencode(query)}",
    )


CHECKS = {
    RuleKind.FINDING: _check_finding,
    RuleKind.WIN_RATE_DROP: _check_win_rate_drop,
    RuleKind.BACKLOG: _check_backlog,
}


def rule_evaluate(rule: AlertRule, start: date, end: date) -> Outcome | None:
    return CHECKS[rule.kind](rule, start, end)


def rule_check(*, rule_id: int, today: date) -> AlertFiring | None:
    """Check one rule for its last full period; the firing (with its deliveries handed to the
    outbox) when it fires now, else None (quiet, fired already, or checked elsewhere right now)."""
    from alerts.delivery import EMAIL_KIND, WEBHOOK_KIND

    with transaction.atomic():
        rule = (
            AlertRule.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("team", "competitor", "reason")
            .filter(pk=rule_id, active=True)
            .first()
        )
        if rule is None:
            return None
        start, end = period_bounds(rule.period, today)
        if AlertFiring.objects.filter(rule=rule, period_start=start).exists():
            return None
        outcome = rule_evaluate(rule, start, end)
        if outcome is None:
            return None
        try:
            with transaction.atomic():
                firing = AlertFiring.objects.create(
                    rule=rule, period_start=start, period_end=end, text=outcome.text,
                    lines=outcome.lines, link=outcome.link,
                )  # fmt: skip
        except IntegrityError:
            return None  # fired already (the unique constraint: once per rule and period)
        people = list(rule.recipients.filter(is_active=True).order_by("pk"))
        emails = AlertDelivery.objects.bulk_create(
            [AlertDelivery(firing=firing, channel=AlertDelivery.Channel.EMAIL, user=user) for user in people]
        )
        handoff_enqueue(kind=EMAIL_KIND, items=[delivery.pk for delivery in emails])
        if rule.webhook_kind:
            hook = AlertDelivery.objects.create(firing=firing, channel=rule.webhook_kind)
            handoff_enqueue(kind=WEBHOOK_KIND, items=[hook.pk])
    log.info("alerts: rule %s fired for %s–%s", rule.pk, start, end)
    return firing


def alerts_check(*, today: date | None = None) -> int:
    """Every active rule checked for its last full period; returns how many fired now."""
    today = today or timezone.localdate()
    fired = 0
    for rule_id in AlertRule.objects.filter(active=True).order_by("pk").values_list("pk", flat=True):
        try:
            fired += rule_check(rule_id=rule_id, today=today) is not None
        except Exception:  # one rule's failure does not hold the others back; the next check retries it
            log.exception("alerts: rule %s could not be checked", rule_id)
    return fired
