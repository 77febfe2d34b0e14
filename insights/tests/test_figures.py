"""Every dashboard figure equals an independent computation (plain Python over the rows).

Several filter combinations and users, an empty period (every ratio is None, shown "—"), merged
and retired reasons, a merged competitor and a currency without a stored rate.
"""

from datetime import date
from decimal import Decimal

import pytest

from insights.selectors import Dashboard, dashboard_figures
from insights.tests import dataset

TOLERANCE = 1e-9


def money(value) -> Decimal:
    return Decimal(value).quantize(Decimal("0.01"))


def close(actual, expected, *, tolerance=TOLERANCE):
    if expected is None:
        return actual is None
    return actual is not None and abs(float(actual) - float(expected)) <= tolerance * max(
        1, abs(float(expected))
    )


@pytest.fixture
def data(world):
    handles = dataset.build(world, deals=3000)
    return world, handles, dataset.load_rows()


def combinations(world, handles):
    west_rep = handles.frank
    competitor = handles.competitors[0]
    return [
        ("admin, whole history", world.carol, dataset.period(date(2024, 1, 1), date(2026, 12, 31))),
        ("admin, one quarter", world.carol, dataset.period(date(2026, 1, 1), date(2026, 3, 31))),
        ("manager of East, a year", world.bob, dataset.period(date(2025, 6, 1), date(2026, 5, 31))),
        (
            "admin, renewals in retail",
            world.carol,
            dataset.period(
                date(2024, 6, 1), date(2026, 12, 31), pipeline=handles.renewals.pk, industry="Retail"
            ),
        ),
        (
            "admin, mid-size accounts against one competitor",
            world.carol,
            dataset.period(date(2024, 6, 1), date(2026, 12, 31), size="50-249", competitor=competitor.pk),
        ),
        ("rep alice, her own deals", world.alice, dataset.period(date(2025, 1, 1), date(2026, 6, 30))),
        (
            "manager of West, one rep of the team",
            world.grace,
            dataset.period(date(2025, 1, 1), date(2026, 12, 31), team=world.west.pk, owner=west_rep.pk),
        ),
        (
            "admin, unknown size",
            world.carol,
            dataset.period(date(2024, 1, 1), date(2026, 12, 31), size="unknown"),
        ),
        (
            "admin, accounts without an industry",
            world.carol,
            dataset.period(date(2024, 1, 1), date(2026, 12, 31), industry="none"),
        ),
        ("admin, empty period", world.carol, dataset.period(date(2019, 1, 1), date(2019, 3, 31))),
    ]


def check_figures(figures: dict, expected: dataset.Expected) -> None:
    head, exp = figures["headline"], expected.headline()
    for key in ("won", "lost", "no_decision", "closed", "needs_reason", "open_deals"):
        assert head[key] == exp[key], key
    for key in (
        "win_rate",
        "inclusive_win_rate",
        "no_decision_rate",
        "avg_cycle_days_won",
        "avg_cycle_days_lost",
    ):
        assert close(head[key], exp[key]), (key, head[key], exp[key])
    for key in ("won_value", "lost_value"):
        assert head[key] == money(exp[key]), key
    assert (head["avg_won_amount"] is None) == (exp["avg_won_amount"] is None)
    if exp["avg_won_amount"] is not None:
        assert head["avg_won_amount"] == money(exp["avg_won_amount"])
    assert close(head["sales_velocity_per_day"], exp["sales_velocity_per_day"], tolerance=1e-6) or (
        abs(float(head["sales_velocity_per_day"]) - exp["sales_velocity_per_day"]) <= 0.01
    )

    by_reason = {row["reason_id"]: row for row in figures["loss-by-reason"]["rows"]}
    exp_reason = expected.loss_by_reason()
    assert set(by_reason) == set(exp_reason)
    for pk, e in exp_reason.items():
        row = by_reason[pk]
        assert row["lost"] == e["lost"]
        assert close(row["share"], e["share"])
        assert row["value"] == money(e["value"])
        assert close(row["value_share"], e["value_share"], tolerance=1e-6)
    assert figures["loss-by-reason"]["needs_reason"] == exp["needs_reason"]

    by_category = {row["category_id"]: row for row in figures["loss-by-category"]["rows"]}
    exp_category = expected.loss_by_category()
    assert {pk: (r["lost"], r["value"]) for pk, r in by_category.items()} == {
        pk: (e["lost"], money(e["value"])) for pk, e in exp_category.items()
    }
    for pk, e in exp_category.items():
        assert close(by_category[pk]["share"], e["share"])

    trend = figures["reason-trend"]
    exp_trend = expected.reason_trend()
    assert [s["reason_id"] for s in trend["series"]] == list(exp_trend)
    for series in trend["series"]:
        counts = {p["month"]: p["lost"] for p in series["points"] if p["lost"]}
        assert counts == exp_trend[series["reason_id"]]

    stages = {row["stage_id"]: (row["lost"], row["value"]) for row in figures["losses-by-stage"]["rows"]}
    assert stages == {pk: (e["lost"], money(e["value"])) for pk, e in expected.losses_by_stage().items()}

    competitors = {row["competitor_id"]: row for row in figures["by-competitor"]["rows"]}
    exp_competitors = expected.by_competitor()
    assert set(competitors) == set(exp_competitors)
    for pk, e in exp_competitors.items():
        row = competitors[pk]
        assert (row["won"], row["lost"], row["lost_value"]) == (e["won"], e["lost"], money(e["lost_value"]))
        assert close(row["competitive_win_rate"], e["competitive_win_rate"])

    reps = {row["owner_id"]: row for row in figures["by-rep"]["rows"]}
    exp_reps = expected.by_rep()
    assert set(reps) == set(exp_reps)
    for pk, e in exp_reps.items():
        row = reps[pk]
        for key in ("won", "lost", "no_decision", "top_reason_id", "top_reason_lost"):
            assert row[key] == e[key], key
        assert row["lost_value"] == money(e["lost_value"])
        assert close(row["win_rate"], e["win_rate"])

    segments = {
        (row["dimension"], row["segment_key"]): (
            row["won"],
            row["lost"],
            row["no_decision"],
            row["lost_value"],
        )
        for dimension in ("industry", "size")
        for row in figures["by-segment"][dimension]
    }
    assert segments == {
        key: (e["won"], e["lost"], e["no_decision"], money(e["lost_value"]))
        for key, e in expected.by_segment().items()
    }

    for name, group in (("recovery-by-reason", "reason"), ("recovery-by-sequence", "sequence")):
        figure = figures[name]
        if figure.get("available") is False:
            continue
        actual = {
            row["key"]: (row["lost"], row["reopened"], row["won"], row["recovered_value"])
            for row in figure["rows"]
        }
        exp_recovery = expected.recovery(group)
        assert actual == {
            key: (e["lost"], e["reopened"], e["won"], money(e["recovered_value"]))
            for key, e in exp_recovery.items()
        }, name
        for row in figure["rows"]:
            assert close(row["reopened_share"], row["reopened"] / row["lost"])
            assert close(row["recovered_share"], row["won"] / row["lost"])

    health, exp_health = figures["taxonomy-health"], expected.taxonomy_health()
    assert health["other"] == exp_health["other"]
    assert close(health["other_share"], exp_health["other_share"])
    assert health["needs_reason"] == exp_health["needs_reason"]
    assert {r["reason_id"] for r in health["unused_reasons"]} == exp_health["unused"]


def test_every_figure_matches_an_independent_computation(data):
    world, handles, rows = data
    checked_nonempty = 0
    for label, user, filters in combinations(world, handles):
        figures = dashboard_figures(Dashboard(user=user, filters=filters))
        expected = dataset.Expected(rows, user, filters)
        try:
            check_figures(figures, expected)
        except AssertionError as failure:
            raise AssertionError(f"{label}: {failure}") from failure
        checked_nonempty += bool(expected.closed)
    assert checked_nonempty >= 7  # the combinations really select deals


def test_the_data_set_exercises_the_rules(data):
    """Guard against a data set that would make the comparisons trivial."""
    world, handles, rows = data
    filters = dataset.period(date(2024, 1, 1), date(2026, 12, 31))
    expected = dataset.Expected(rows, world.carol, filters)
    figures = dashboard_figures(Dashboard(user=world.carol, filters=filters))
    assert len(rows) == 3000
    reason_ids = {row["reason_code"] for row in figures["loss-by-reason"]["rows"]}
    assert "price-too-high" in reason_ids and "no-budget" not in reason_ids  # merged: rolled up
    assert "champion-left" in reason_ids  # retired: still counted
    assert any(r.currency == "CHF" and r.status == "lost" for r in expected.closed)  # no rate: value left out
    recovery = figures["recovery-by-reason"]["total"]
    assert recovery["won"] > 0 and recovery["reopened"] > recovery["won"]
    assert any(r.status == "open" and r.closures for r in expected.scoped)  # reopened, open now
    if dataset.deal_has_needs_reason():
        assert figures["headline"]["needs_reason"] > 0


def test_empty_period_gives_empty_ratios_not_zero(client, data):
    world, _handles, _rows = data
    figures = dashboard_figures(
        Dashboard(user=world.carol, filters=dataset.period(date(2019, 1, 1), date(2019, 3, 31)))
    )
    head = figures["headline"]
    assert head["closed"] == 0
    for key in (
        "win_rate",
        "inclusive_win_rate",
        "no_decision_rate",
        "avg_cycle_days_won",
        "avg_cycle_days_lost",
        "avg_won_amount",
        "sales_velocity_per_day",
    ):
        assert head[key] is None, key
    assert head["open_deals"] > 0  # open deals do not depend on the period
    assert figures["taxonomy-health"]["other_share"] is None
    client.force_login(world.carol)
    page = client.get("/insights/", {"period": "custom", "from": "2019-01-01", "to": "2019-03-31"})
    assert page.status_code == 200
    html = page.content.decode()
    assert '<div class="stat-value" id="stat-win-rate">—</div>' in html
    assert '<div class="stat-value" id="stat-other-share">—</div>' in html
    api = client.get("/api/figures/headline/", {"period": "custom", "from": "2019-01-01", "to": "2019-03-31"})
    assert api.status_code == 200
    assert api.json()["data"]["win_rate"] is None
