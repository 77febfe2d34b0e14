"""Figures as tables: the CSV export of each panel, and JSON-safe values for the API and charts."""

from datetime import date
from decimal import Decimal

from insights.selectors import Dashboard, deals_behind

SKIP = {"links", "points", "compare", "change"}


def cell(value) -> str:
    """A CSV cell: ratios with 4 decimals, money with 2, empty for "nothing under it"."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return str(value)


def _compared(row: dict) -> list[str]:
    """The measures a row carries comparison values for (insights.comparison)."""
    return list(row.get("compare", {}))


def _value(row: dict, column: str):
    """A column of a row: its own value, or compare_<measure> / change_<measure>."""
    for prefix in ("compare", "change"):
        if column.startswith(prefix + "_") and column not in row:
            return row.get(prefix, {}).get(column[len(prefix) + 1 :])
    return row.get(column)


def _rows_table(rows: list[dict]) -> tuple[list[str], list[list]]:
    if not rows:
        return [], []
    header = [key for key in rows[0] if key not in SKIP]
    header += [f"{prefix}_{key}" for key in _compared(rows[0]) for prefix in ("compare", "change")]
    return header, [[_value(row, key) for key in header] for row in rows]


def figure_table(name: str, figure: dict) -> tuple[list[str], list[list]]:
    """One figure as a header and rows (the CSV of its panel)."""
    compare, change = figure.get("compare", {}), figure.get("change", {})
    if name == "headline":
        rows = [
            [key, value, compare.get(key), change.get(key)]
            for key, value in figure.items()
            if key not in SKIP
        ]
        return ["figure", "value", "compare_value", "change"], rows
    if name == "reason-trend":
        rows = [
            [
                point["month"],
                series["reason_id"],
                series["reason"],
                point["lost"],
                series["total"],
                series.get("compare", {}).get("total"),
                series.get("change", {}).get("total"),
            ]
            for series in figure["series"]
            for point in series["points"]
        ]
        return ["month", "reason_id", "reason", "lost", "total", "compare_total", "change_total"], rows
    if name == "by-segment":
        return _rows_table(figure["industry"] + figure["size"])
    if name == "taxonomy-health":
        keys = ["other_share", "other", "lost_with_reason", "needs_reason", "needs_reason_share"]
        rows = [[key, "", figure[key], compare.get(key), change.get(key)] for key in keys]
        rows += [["unused_reason", r["reason_id"], r["reason"], "", ""] for r in figure["unused_reasons"]]
        return ["figure", "reason_id", "value", "compare_value", "change"], rows
    header, rows = _rows_table(figure["rows"])
    if name.startswith("recovery") and figure.get("total"):
        total = figure["total"]
        rows.append([("total" if key == "label" else _value(total, key)) for key in header])
    return header, rows


DEAL_COLUMNS = [
    "deal_id",
    "deal",
    "account",
    "industry",
    "employees",
    "team",
    "owner",
    "pipeline",
    "stage",
    "status",
    "reason_id",
    "reason",
    "needs_reason",
    "amount",
    "currency",
    "amount_org_currency",
    "created_at",
    "closed_at",
]


def deal_rows(dashboard: Dashboard):
    """The deals behind the dashboard, one CSV row each (streamed)."""
    reasons = dashboard.reasons
    for deal in deals_behind(dashboard).iterator(chunk_size=2000):
        reason = reasons.get(deal.rolled_reason)
        yield [
            deal.pk,
            deal.name,
            deal.account.name,
            deal.account.industry,
            deal.account.employees,
            deal.team.name,
            deal.owner.display_name,
            deal.pipeline.name,
            deal.stage.name,
            deal.status,
            reason.pk if reason else "",
            reason.label if reason else "",
            "yes" if deal.status == "lost" and reason is None else "",
            deal.amount,
            deal.currency,
            deal.value_org,
            deal.created_at.isoformat(),
            deal.closed_at.isoformat(),
        ]


def jsonable(value):
    """Decimals as strings (exact money), dates as ISO text, the rest as is."""
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, date):
        return value.isoformat()
    return value
