"""LossHistory (the summary behind the recovery figures) agrees with the live computation.

It is kept by PostgreSQL triggers on deals_closure, so it follows bulk loads as well as the
close / reopen services.
"""

from datetime import date, timedelta

from django.utils import timezone

from deals import services
from insights.models import LossHistory
from insights.selectors import Dashboard, figure_recovery_by_reason, figure_recovery_by_sequence
from insights.tests import dataset


def live_history(rows) -> dict:
    expected = {}
    for row in rows:
        lost = sorted(
            (c for c in row.closures if c["outcome"] == "lost"), key=lambda c: (c["closed_at"], c["id"])
        )
        if lost:
            expected[row.id] = (
                lost[0]["id"],
                lost[0]["reason_id"],
                any(c["reopened_at"] is not None for c in lost),
                max(c["closed_at"] for c in row.closures),
            )
    return expected


def stored_history() -> dict:
    return {
        h.deal_id: (h.first_lost_closure_id, h.first_lost_reason_id, h.reopened, h.last_closed_at)
        for h in LossHistory.objects.all()
    }


def test_summary_matches_the_closures_after_a_bulk_load(world):
    dataset.build(world, deals=1500, seed=9)
    assert stored_history() == live_history(dataset.load_rows())
    for user in (world.carol, world.bob, world.alice):
        for filters in (
            dataset.period(date(2024, 1, 1), date(2026, 12, 31)),
            dataset.period(date(2025, 9, 1), date(2026, 2, 28), size="250-999"),
        ):
            for figure in (figure_recovery_by_reason, figure_recovery_by_sequence):
                summary = figure(Dashboard(user=user, filters=filters))
                assert summary == figure(Dashboard(user=user, filters=filters, source="live"))


def test_summary_follows_the_close_and_reopen_services(world):
    deal = world.deal(stage=2)
    start = timezone.now() - timedelta(days=30)
    services.deal_mark_won(
        deal=world.deal(), reason=world.reasons["win-best-fit"], actor=world.alice, closed_at=start
    )
    assert not LossHistory.objects.exists()  # never lost: not in the recovery figures

    first = services.deal_mark_lost(
        deal=deal, reason=world.reasons["price-too-high"], actor=world.alice, closed_at=start
    )
    assert stored_history() == {deal.pk: (first.pk, world.reasons["price-too-high"].pk, False, start)}

    services.deal_reopen(deal=deal, actor=world.alice, reopened_at=start + timedelta(days=5))
    assert stored_history() == {deal.pk: (first.pk, world.reasons["price-too-high"].pk, True, start)}

    won_at = start + timedelta(days=10)
    services.deal_mark_won(
        deal=deal, reason=world.reasons["win-best-fit"], actor=world.alice, closed_at=won_at
    )
    assert stored_history() == {deal.pk: (first.pk, world.reasons["price-too-high"].pk, True, won_at)}

    today = timezone.localdate()
    filters = dataset.period(today - timedelta(days=60), today)
    summary = figure_recovery_by_reason(Dashboard(user=world.bob, filters=filters))
    assert summary == figure_recovery_by_reason(Dashboard(user=world.bob, filters=filters, source="live"))
    assert [(r["key"], r["lost"], r["reopened"], r["won"]) for r in summary["rows"]] == [
        (world.reasons["price-too-high"].pk, 1, 1, 1)
    ]
