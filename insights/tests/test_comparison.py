"""Every figure's comparison values equal the dashboard's own figures for the comparison period,
for every figure and filter combination, on both paths (PostgreSQL summary and live), and reach
the page, the CSV and the API."""

import csv
import io
from datetime import date
from decimal import Decimal

import pytest

from insights.comparison import (
    ROW_TABLES,
    Comparison,
    comparison_dates,
    figures_compared,
    year_earlier,
)
from insights.exports import jsonable
from insights.selectors import FIGURES, Dashboard
from insights.tests import dataset
from insights.tests.test_figures import combinations


def measures(item: dict) -> set[str]:
    """The numbers of a figure or row that are measures (what a comparison must carry)."""
    return {
        key
        for key, value in item.items()
        if isinstance(value, int | float | Decimal)
        and not isinstance(value, bool)
        and not key.endswith("_id")
        and key not in {"key", "top", "top_reason_lost"}
    }


def assert_compared(name: str, figure: dict, own: dict) -> int:
    """`figure`'s comparison values are `own`'s (the same figure over the comparison period)."""
    checked = 0
    assert measures(own) <= set(figure["compare"]), name
    for key, value in figure["compare"].items():
        assert value == own.get(key), (name, key)
        checked += 1
    for path, key_field in ROW_TABLES.get(name, []):
        theirs = {row[key_field]: row for row in own[path]}
        for row in figure[path]:
            other = theirs.get(row[key_field])
            if other is None:
                for key, value in row["compare"].items():
                    assert value in (0, None), (name, row[key_field], key, value)
                continue
            assert measures(other) <= set(row["compare"]), (name, path)
            for key, value in row["compare"].items():
                assert value == other[key], (name, row[key_field], key)
                change = row["change"][key]
                if value is None or row[key] is None:
                    assert change is None
                else:
                    assert change == pytest.approx(row[key] - value)
                checked += 1
    if isinstance(figure.get("total"), dict):
        for key, value in figure["total"]["compare"].items():
            assert value == own["total"][key], (name, "total", key)
    return checked


@pytest.fixture
def data(world):
    handles = dataset.build(world, deals=1500, seed=21)
    return world, handles


@pytest.mark.parametrize("source", [None, "live"], ids=["summary", "live"])
def test_comparison_values_are_the_figures_of_the_comparison_period(data, source):
    world, handles = data
    checked = 0
    for label, user, filters in combinations(world, handles):
        for mode in ("previous", "year", "custom"):
            if mode == "custom":
                comparison = Comparison("custom", date(2024, 3, 1), date(2024, 11, 15))
            else:
                comparison = Comparison(mode, *comparison_dates(mode, filters.date_from, filters.date_to))
            dashboard = Dashboard(user=user, filters=filters, source=source)
            figures = figures_compared(dashboard, comparison)
            own_dashboard = Dashboard(user=user, filters=comparison.filters(filters), source=source)
            assert own_dashboard.source == dashboard.source
            for name, selector in FIGURES.items():
                try:
                    checked += assert_compared(name, figures[name], selector(own_dashboard))
                except AssertionError as failure:
                    raise AssertionError(f"{label}, {mode}, {name}: {failure}") from failure
    assert checked > 2000


def test_comparison_periods():
    assert comparison_dates("previous", date(2026, 4, 1), date(2026, 6, 30)) == (
        date(2025, 12, 31),
        date(2026, 3, 31),
    )
    assert comparison_dates("year", date(2024, 2, 29), date(2024, 3, 31)) == (
        date(2023, 2, 28),
        date(2023, 3, 31),
    )
    assert year_earlier(date(2026, 1, 15)) == date(2025, 1, 15)


def read_csv(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_page_csv_and_api_carry_the_comparison(client, data):
    world, handles = data
    client.force_login(world.bob)
    query = {
        "period": "custom",
        "from": "2026-01-01",
        "to": "2026-03-31",
        "compare": "year",
    }
    filters = dataset.period(date(2026, 1, 1), date(2026, 3, 31))
    own = Dashboard(user=world.bob, filters=dataset.period(date(2025, 1, 1), date(2025, 3, 31)))
    headline, by_reason = FIGURES["headline"](own), FIGURES["loss-by-reason"](own)

    api = client.get("/api/figures/", query).json()
    assert api["compare"] == {"mode": "year", "from": "2025-01-01", "to": "2025-03-31"}
    assert api["figures"]["headline"]["compare"]["win_rate"] == headline["win_rate"]
    assert api["figures"]["headline"]["compare"]["lost"] == headline["lost"]
    one = client.get("/api/figures/loss-by-reason/", query).json()["data"]
    theirs = {row["reason_id"]: row for row in jsonable(by_reason)["rows"]}
    for row in one["rows"]:
        if row["reason_id"] in theirs:
            assert row["compare"]["lost"] == theirs[row["reason_id"]]["lost"]
            assert row["compare"]["share"] == theirs[row["reason_id"]]["share"]

    csv_headline = {r["figure"]: r for r in read_csv(client.get("/insights/export/headline.csv", query))}
    assert int(csv_headline["lost"]["compare_value"]) == headline["lost"]
    assert csv_headline["win_rate"]["compare_value"] == f"{headline['win_rate']:.4f}"
    rows = read_csv(client.get("/insights/export/loss-by-reason.csv", query))
    assert {"compare_lost", "change_lost", "compare_share", "change_share"} <= set(rows[0])
    for row in rows:
        if int(row["reason_id"]) in theirs:
            assert int(row["compare_lost"]) == theirs[int(row["reason_id"])]["lost"]

    page = client.get("/insights/", query).content.decode()
    assert "Compared with same period a year earlier: 1 Jan 2025 – 31 Mar 2025" in page
    assert f"vs {headline['win_rate'] * 100:.1f}%" in page
    current = FIGURES["headline"](Dashboard(user=world.bob, filters=filters))
    change = (current["win_rate"] - headline["win_rate"]) * 100
    assert f"{'+' if change > 0 else ''}{change:.1f} pp" in page


def test_a_custom_comparison_needs_its_dates(client, world):
    client.force_login(world.bob)
    answer = client.get("/api/figures/", {"compare": "custom", "compare_from": "2026-01-01"})
    assert answer.status_code == 400
    assert "compare_to" in answer.json()["errors"]
    answer = client.get(
        "/api/figures/",
        {"compare": "custom", "compare_from": "2026-03-01", "compare_to": "2026-01-01"},
    )
    assert answer.status_code == 400 and "compare_to" in answer.json()["errors"]
    page = client.get("/insights/", {"compare": "custom", "compare_from": "2026-01-01"})
    assert page.status_code == 200
    assert "Choose the last day of the comparison period." in page.content.decode()
