"""The check without a worker: the periods, significance (p as SciPy gives it), the database
holding "once per rule and period", and two checks racing for one rule."""

from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.db import IntegrityError, transaction
from scipy import stats

from alerts import checks, services
from alerts.models import AlertDelivery, AlertFiring, AlertRule
from deals import services as deal_services
from outbox.models import Message
from reasons.models import Reason, ReasonKind
from tests.concurrency import race

TODAY = date(2026, 12, 5)  # a Saturday: the last full week is 23–29 November


def test_the_period_is_the_last_full_week_or_month():
    assert checks.period_bounds("weekly", TODAY) == (date(2026, 11, 23), date(2026, 11, 29))
    assert checks.period_bounds("weekly", date(2026, 11, 30)) == (date(2026, 11, 23), date(2026, 11, 29))
    assert checks.period_bounds("monthly", date(2026, 12, 1)) == (date(2026, 11, 1), date(2026, 11, 30))
    assert checks.period_bounds("monthly", date(2028, 3, 15)) == (date(2028, 2, 1), date(2028, 2, 29))
    assert checks.previous_bounds("weekly", date(2026, 11, 23)) == (date(2026, 11, 16), date(2026, 11, 22))
    assert checks.previous_bounds("monthly", date(2026, 11, 1)) == (date(2026, 10, 1), date(2026, 10, 31))


def _west(world, *, then: tuple[int, int], now: tuple[int, int]):
    """Dave's closes: (won, lost) in the week before and in the last full week."""
    win = Reason.objects.filter(kind=ReasonKind.WIN, active=True).first()
    for day, (won, lost) in ((datetime(2026, 11, 18), then), (datetime(2026, 11, 25), now)):
        when = datetime.combine(day.date(), time(12), tzinfo=UTC)
        for outcome, count in (("won", won), ("lost", lost)):
            for _ in range(count):
                deal = world.deal(owner="dave", created_at=when - timedelta(days=30))
                if outcome == "won":
                    deal_services.deal_mark_won(deal=deal, reason=win, actor=world.dave, closed_at=when)
                else:
                    deal_services.deal_mark_lost(
                        deal=deal, reason=world.reasons["price-too-high"], actor=world.dave,
                        closed_at=when, skip_nurture=True,
                    )  # fmt: skip


def _drop_rule(world, threshold: int = 10) -> AlertRule:
    return services.alert_rule_create(
        actor=world.carol, name="West drop", kind="win_rate_drop", threshold=threshold, team=world.west,
        recipients=[world.grace],
    )  # fmt: skip


@pytest.mark.django_db
def test_a_significant_drop_beyond_n_points_fires_with_scipys_p(world):
    _west(world, then=(24, 6), now=(6, 24))
    rule = _drop_rule(world)
    firing = checks.rule_check(rule_id=rule.pk, today=TODAY)
    p = stats.chi2_contingency([[6, 24], [24, 6]], correction=False).pvalue
    assert firing.text == f"Win rate in team West fell 60 points, from 80% to 20% (p = {p:.3g})"
    assert (firing.period_start, firing.period_end) == (date(2026, 11, 23), date(2026, 11, 29))
    assert checks.rule_check(rule_id=rule.pk, today=TODAY) is None  # once per period
    assert checks.rule_check(rule_id=rule.pk, today=date(2026, 11, 30)) is None  # the same week
    assert AlertFiring.objects.count() == 1
    assert list(AlertDelivery.objects.values_list("user", "state")) == [(world.grace.pk, "pending")]
    assert Message.objects.filter(kind="alerts.email", items=[AlertDelivery.objects.get().pk]).exists()


@pytest.mark.django_db
def test_a_drop_that_is_not_significant_or_too_small_stays_quiet(world):
    _west(world, then=(8, 4), now=(6, 6))  # 67% → 50%: 17 points, but chance (p ≈ 0.4)
    assert stats.fisher_exact([[6, 6], [8, 4]]).pvalue > 0.05
    assert checks.rule_check(rule_id=_drop_rule(world).pk, today=TODAY) is None
    big = _drop_rule(world, threshold=70)
    _west(world, then=(40, 10), now=(10, 40))  # significant, 60 points: under the 70 asked
    assert checks.rule_check(rule_id=big.pk, today=TODAY) is None
    assert not AlertFiring.objects.exists()


@pytest.mark.django_db
def test_the_database_holds_once_per_rule_and_period_and_the_rule_shapes(world):
    rule = _drop_rule(world)
    AlertFiring.objects.create(
        rule=rule, period_start=date(2026, 11, 23), period_end=date(2026, 11, 29), text="x"
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        AlertFiring.objects.create(
            rule=rule, period_start=date(2026, 11, 23), period_end=date(2026, 11, 29), text="again"
        )
    for bad in (
        {"kind": "finding", "subject": ""},  # a finding about nothing
        {"kind": "win_rate_drop", "threshold": None},
        {"webhook_kind": "slack", "webhook_url": ""},
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            AlertRule.objects.filter(pk=rule.pk).update(**bad)


@pytest.mark.django_db(transaction=True)
def test_two_checks_racing_for_one_rule_fire_it_once(world):
    for _ in range(5):
        deal_services.deal_mark_lost_from_crm(deal=world.deal(owner="dave"), crm_reason_text="Went dark")
    deal_services.deal_mark_lost_from_crm(deal=world.deal(owner="alice"), crm_reason_text="East, not West")
    rule = services.alert_rule_create(
        actor=world.carol, name="West backlog", kind="backlog", threshold=3, team=world.west,
        recipients=[world.grace, world.carol],
    )  # fmt: skip
    results = race([lambda: checks.rule_check(rule_id=rule.pk, today=TODAY) for _ in range(4)])
    assert all(kind == "ok" for kind, _ in results), results
    assert sum(1 for _, firing in results if firing is not None) == 1
    firing = AlertFiring.objects.get()
    assert firing.text == "5 lost deals wait for a reason in team West (the alert is set above 3)"
    assert AlertDelivery.objects.count() == 2
    assert Message.objects.filter(kind="alerts.email").count() == 1
