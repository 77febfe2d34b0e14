"""A comparison period for every figure: its dates, and each figure's values in it beside its own.

The comparison's values come from the very selectors (and summary) of the period's own: a second
`Dashboard` with the same user and filters over the comparison dates. `compare_figures` then sets,
on each figure (and on each row of its tables, matched by the row's key), `compare` (the value in
the comparison period) and `change` (value − compare: for a share or rate that is the change in
percentage points, as a fraction: 0.05 is +5 pp).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal

from insights.figures import FIGURES
from insights.filters import DashboardFilters
from insights.measures import Dashboard

COMPARE_MODES = [
    ("previous", "Previous period"),
    ("year", "Same period a year earlier"),
    ("custom", "Custom comparison dates"),
]
DEFAULT_COMPARE = "previous"

# The key of each table's rows (figure name → (list path, key field)).
ROW_TABLES: dict[str, list[tuple[str, str]]] = {
    "loss-by-reason": [("rows", "reason_id")],
    "loss-by-category": [("rows", "category_id")],
    "reason-trend": [("series", "reason_id")],
    "losses-by-stage": [("rows", "stage_id")],
    "by-competitor": [("rows", "competitor_id")],
    "by-rep": [("rows", "owner_id")],
    "by-segment": [("industry", "segment_key"), ("size", "segment_key")],
    "recovery-by-reason": [("rows", "key")],
    "recovery-by-sequence": [("rows", "key")],
}
# Values that are not measures (identifiers, top-reason counts that name another reason).
NOT_COMPARED = {"top_reason_lost", "top"}
# Shares over a table's total: 0 (not "—") in a comparison period that has a total but not the row.
SHARES = {"share", "value_share"}


@dataclass(frozen=True)
class Comparison:
    """The comparison period chosen: how (previous, year, custom) and its days (inclusive)."""

    mode: str
    date_from: date
    date_to: date

    def filters(self, filters: DashboardFilters) -> DashboardFilters:
        return replace(filters, date_from=self.date_from, date_to=self.date_to)

    def as_query(self) -> dict[str, str]:
        query = {"compare": self.mode}
        if self.mode == "custom":
            query |= {"compare_from": self.date_from.isoformat(), "compare_to": self.date_to.isoformat()}
        return query


def year_earlier(day: date) -> date:
    """The same day a year earlier (29 February becomes 28 February)."""
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)


def comparison_dates(mode: str, start: date, end: date) -> tuple[date, date]:
    """The comparison of a period: the days just before it, of equal length, or a year earlier."""
    if mode == "year":
        return year_earlier(start), year_earlier(end)
    last = start - timedelta(days=1)
    return last - timedelta(days=(end - start).days), last


def comparison_dashboard(dashboard: Dashboard, comparison: Comparison) -> Dashboard:
    """The same dashboard over the comparison period; it shares the reads that do not depend on
    the period (reasons, competitors, rates, the deals open now), so a comparison costs only the
    figures' own reads."""
    other = Dashboard(
        user=dashboard.user, filters=comparison.filters(dashboard.filters), source=dashboard.source
    )
    for name in ("rates", "reasons", "competitors", "open_deals", "includes_disqualified"):
        other.__dict__[name] = getattr(dashboard, name)
    return other


def _measure(value) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _numbers(item: dict) -> dict:
    return {
        key: value
        for key, value in item.items()
        if key not in NOT_COMPARED
        and not key.endswith("_id")
        and not key.endswith("_key")
        and key != "key"
        and (_measure(value) or (value is None and key not in {"top_reason", "segment"}))
    }


def _change(value, compare):
    if value is None or compare is None:
        return None
    if isinstance(value, float) or isinstance(compare, float):
        return float(value) - float(compare)
    return value - compare


def _absent(key: str, value, other_total: bool):
    """A row's value in a comparison period where the row has nothing."""
    if isinstance(value, Decimal):
        return Decimal("0.00")
    if isinstance(value, int):
        return 0
    if key in SHARES:
        return 0.0 if other_total else None
    return None


def _attach(item: dict, other: dict | None, *, other_total: bool = True) -> None:
    numbers = _numbers(item)
    compare = {}
    for key, value in numbers.items():
        compare[key] = other.get(key) if other is not None else _absent(key, value, other_total)
    item["compare"] = compare
    item["change"] = {key: _change(numbers[key], compare[key]) for key in numbers}


def compare_figure(name: str, figure: dict, other: dict) -> dict:
    """Set `compare` and `change` on `figure` (and each row of its tables) from `other`, the same
    figure over the comparison period. Returns `figure`."""
    _attach(figure, other)  # a flat figure's values, or a table figure's totals
    for path, key in ROW_TABLES.get(name, []):
        theirs = {row[key]: row for row in other[path]}
        has_total = bool(other.get("total")) if not isinstance(other.get("total"), dict) else True
        for row in figure[path]:
            _attach(row, theirs.get(row[key]), other_total=has_total)
    if isinstance(figure.get("total"), dict):
        _attach(figure["total"], other["total"])
    return figure


def compare_figures(figures: dict, others: dict) -> dict:
    """Every figure of a dashboard with its comparison values (see compare_figure)."""
    for name, figure in figures.items():
        compare_figure(name, figure, others[name])
    return figures


def figures_both(dashboard: Dashboard, comparison: Comparison, names=None) -> tuple[dict, dict, Dashboard]:
    """The figures (all, or `names`) of the period and of the comparison, and the comparison's
    dashboard (the findings read the same, so a page computes them once)."""
    other = comparison_dashboard(dashboard, comparison)
    names = list(FIGURES) if names is None else names
    return (
        {name: FIGURES[name](dashboard) for name in names},
        {name: FIGURES[name](other) for name in names},
        other,
    )


def figures_compared(dashboard: Dashboard, comparison: Comparison, names=None) -> dict:
    """The dashboard's figures (all, or `names`), each with its comparison values."""
    figures, others, _other = figures_both(dashboard, comparison, names)
    return compare_figures(figures, others)
