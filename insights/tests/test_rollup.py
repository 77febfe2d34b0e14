"""The dashboards' summary (DealFact and the monthly Rollup, kept by PostgreSQL triggers) agrees
with the live computation from the deals: figure by figure, and row by row after every kind of
write (services, bulk loads, account edits, merges, two closes at once, compaction)."""

from datetime import date, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from deals import services
from deals.models import Account
from insights import rollup
from insights.models import DealFact, LossHistory, Rollup
from insights.selectors import Dashboard, dashboard_figures, figure_by_segment, period_plan
from insights.tasks import check_rollup, compact_rollup
from insights.tests import dataset
from insights.tests.test_figures import combinations
from reasons.services import reason_merge
from tests.concurrency import race


def stored_sums() -> dict:
    """The rollup's sums per key (what the figures read), whether compacted or not."""
    with connection.cursor() as cursor:
        cursor.execute(rollup.ROLLUP_STORED)
        return {row[:15]: row[15:] for row in cursor.fetchall()}


def assert_agrees() -> None:
    assert rollup.rollup_drift() == {"facts": 0, "rollup": 0, "rollup_day": 0}


def test_the_period_plan_reads_whole_months_from_the_rollup():
    plan = period_plan(date(2026, 1, 1), date(2026, 3, 31), rollup=True)
    assert plan.months == (date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)) and plan.ranges == ()
    # A few days of a month come from the facts; most of a month is the month less the rest.
    plan = period_plan(date(2026, 1, 28), date(2026, 3, 24), rollup=True)
    assert plan.months == (date(2026, 2, 1), date(2026, 3, 1))
    assert plan.ranges == (
        (date(2026, 1, 28), date(2026, 1, 31), 1),
        (date(2026, 3, 25), date(2026, 3, 31), -1),
    )
    assert period_plan(date(2026, 1, 28), date(2026, 3, 24), rollup=False).months == ()


def test_every_source_gives_the_same_figures(world):
    handles = dataset.build(world, deals=3000)
    cases = combinations(world, handles) + [
        (
            "admin, partial months at both ends",
            world.carol,
            dataset.period(date(2025, 3, 10), date(2026, 2, 20)),
        ),
        ("manager, a few days", world.bob, dataset.period(date(2025, 11, 27), date(2025, 12, 3))),
        ("admin, most of two months", world.carol, dataset.period(date(2025, 4, 3), date(2025, 5, 28))),
    ]
    checked = 0
    for label, user, filters in cases:
        live = dashboard_figures(Dashboard(user=user, filters=filters, source="live"))
        assert dashboard_figures(Dashboard(user=user, filters=filters, source="facts")) == live, label
        if not (filters.industry or filters.size or filters.competitor):
            assert Dashboard(user=user, filters=filters).source == "rollup"
            assert dashboard_figures(Dashboard(user=user, filters=filters)) == live, label
            checked += 1
    assert checked >= 8
    assert Rollup.objects.filter(settled=False).exists()  # the triggers appended ...
    assert compact_rollup() > 0  # ... and the beat task folds them,
    assert not Rollup.objects.filter(settled=False).exists()
    for label, user, filters in cases[:3]:  # which changes no figure
        live = dashboard_figures(Dashboard(user=user, filters=filters, source="live"))
        assert dashboard_figures(Dashboard(user=user, filters=filters)) == live, label
    assert_agrees()


def test_partial_months_read_the_daily_rollup_and_give_the_live_figures(world, django_assert_max_num_queries):
    """As on the first and on the last day of a month (the default period, the last 90 and 30
    days, with their comparison periods): a manager's and an admin's partial months come from the
    daily rollup, never from the facts, and every figure and comparison value equals the live
    path's (a rep's too)."""
    from django.test.utils import CaptureQueriesContext

    from insights.comparison import Comparison, comparison_dates, figures_compared
    from insights.forms import period_dates

    dataset.build(world, deals=1200, seed=5)
    checked = 0
    for today in (date(2026, 3, 1), date(2026, 2, 28), date(2025, 12, 31)):
        for period in ("last-12-months", "last-90-days", "last-30-days"):
            filters = dataset.period(*period_dates(period, today))
            for user in (world.bob, world.carol, world.alice):
                comparison = Comparison(
                    "previous", *comparison_dates("previous", filters.date_from, filters.date_to)
                )
                with CaptureQueriesContext(connection) as queries:
                    summary = figures_compared(Dashboard(user=user, filters=filters), comparison)
                live = figures_compared(Dashboard(user=user, filters=filters, source="live"), comparison)
                assert summary == live, (today, period, user.username)
                reads = [q["sql"] for q in queries.captured_queries]
                # Facts only for a rep's own deals, or a manager's own outside the teams managed.
                facts = sum(sql.count("FROM insights_dealfact") for sql in reads)
                own = sum(sql.count(" AND NOT team_id = ANY(") for sql in reads)
                expected = own if user == world.bob else 0 if user == world.carol else facts
                assert facts == expected, (today, period, user.username)
                partial = filters.date_from.day != 1 or today.day == 1  # a partial month at either edge
                if partial and user != world.alice:
                    assert any("insights_rollupday" in sql for sql in reads), (today, period, user.username)
                checked += 1
    assert checked == 27


def test_the_summary_follows_every_kind_of_write(world, competitor):
    start = timezone.now() - timedelta(days=40)
    lost = world.deal(owner="alice", stage=2)
    won = world.deal(owner="erin", stage=3)
    services.deal_mark_lost(
        deal=lost,
        reason=world.reasons["competitor-better-fit"],
        competitor=competitor,
        note="They had the integration we lacked.",
        actor=world.alice,
        closed_at=start,
    )
    services.deal_mark_won(deal=won, reason=world.reasons["win-best-fit"], actor=world.erin, closed_at=start)
    rollup.flush()  # the facts follow at commit; a test never commits, so it asks for them now
    assert set(DealFact.objects.values_list("deal_id", "status")) == {(lost.pk, "lost"), (won.pk, "won")}
    assert_agrees()

    # Reopen: the deal stays in the recovery figures (ever lost) and leaves the closed ones.
    services.deal_reopen(deal=lost, actor=world.alice, reopened_at=start + timedelta(days=2))
    rollup.flush()
    fact = DealFact.objects.get(deal=lost)
    assert (fact.status, fact.ever_lost, fact.reopened) == ("open", True, True)
    assert_agrees()
    services.deal_mark_won(
        deal=lost,
        reason=world.reasons["win-best-fit"],
        actor=world.alice,
        closed_at=start + timedelta(days=5),
    )
    assert_agrees()

    # An account edit moves its deals (both, here) to another segment on the dashboard.
    account = Account.objects.get(pk=won.account_id)
    account.industry, account.employees = "Aerospace", 4000
    account.save()
    assert_agrees()
    filters = dataset.period(timezone.localdate() - timedelta(days=60), timezone.localdate())
    segments = figure_by_segment(Dashboard(user=world.bob, filters=filters))
    assert {row["segment"]: row["won"] for row in segments["industry"]}["Aerospace"] == 2
    assert {row["segment_key"]: row["won"] for row in segments["size"]}["1000-plus"] == 2

    # A merge changes no stored row: figures roll reasons up when they read.
    before = stored_sums()
    reason_merge(actor=world.carol, reason=world.reasons["price-too-high"], into=world.reasons["no-budget"])
    assert stored_sums() == before

    # A bulk load (no services, as a CRM import) and compaction.
    dataset.build(world, deals=400, seed=3, merge=False)
    assert_agrees()
    sums = stored_sums()
    rollup.rollup_compact()
    assert stored_sums() == sums
    assert_agrees()
    history = list(LossHistory.objects.order_by("deal_id").values_list())
    rollup.rollup_rebuild()  # from the deals and closures alone, the loss history included
    assert stored_sums() == sums
    assert list(LossHistory.objects.order_by("deal_id").values_list()) == history


@pytest.mark.django_db(transaction=True)
def test_closes_and_an_account_edit_at_once_all_count(world):
    """Closes of the same rep append to the rollup without waiting on each other; an edit of the
    deals' account at the same moment queues with them per deal, so no fact keeps the old industry."""
    deals = [world.deal(owner="alice", stage=2) for _ in range(2)]
    closed_at = timezone.now() - timedelta(days=3)

    def close(deal):
        return lambda: services.deal_mark_lost(
            deal=deal, reason=world.reasons["no-budget"], actor=world.alice, closed_at=closed_at
        )

    def edit_account():
        Account.objects.filter(pk=world.account.pk).update(industry="Aerospace")

    results = race([close(deal) for deal in deals] + [edit_account])
    assert [status for status, _ in results] == ["ok", "ok", "ok"]
    assert_agrees()
    assert set(DealFact.objects.values_list("industry", flat=True)) == {"Aerospace"}
    base = Rollup.objects.filter(grouping=Rollup.Grouping.BASE, owner_id=world.alice.pk, status="lost")
    assert sum(base.values_list("deals", flat=True)) == 2


def test_the_nightly_check_repairs_a_summary_that_drifted(world):
    dataset.build(world, deals=300, seed=5)
    filters = dataset.period(date(2024, 1, 1), date(2026, 12, 31))
    right = dashboard_figures(Dashboard(user=world.carol, filters=filters))
    with connection.cursor() as cursor:  # as a restore of an old backup of one table might
        cursor.execute("DELETE FROM insights_rollup WHERE grouping = %s", [Rollup.Grouping.REASON])
        cursor.execute("UPDATE insights_dealfact SET amount = amount + 1 WHERE status = 'won'")
    drifted = rollup.rollup_drift()
    assert drifted["facts"] > 0 and drifted["rollup"] > 0
    out = StringIO()
    with pytest.raises(CommandError, match="--rebuild"):
        call_command("rollup", stdout=out)
    assert f"facts {drifted['facts']}, rollup {drifted['rollup']}" in out.getvalue()

    assert check_rollup() == drifted  # reports what it found, then rebuilds
    assert_agrees()
    assert dashboard_figures(Dashboard(user=world.carol, filters=filters)) == right
    call_command("rollup", "--compact", stdout=out)
    assert "Rows that disagree: facts 0, rollup 0, daily rollup 0." in out.getvalue()
