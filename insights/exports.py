"""Figures as tables: the CSV export of each panel, and JSON-safe values for the API and charts."""

from datetime import date
from decimal import Decimal

from insights.selectors import Dashboard, deals_behind

SKIP = {"links", "points"}


def cell(value) -> str:
    """A CSV cell: ratios with 4 decimals, money with 2, empty for "nothing under it"."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return str(value)


def _rows_table(rows: list[dict]) -> tuple[list[str], list[list]]:
    if not rows:
        return [], []
    header = [key for key in rows[0] if key not in SKIP]
    return header, [[row.get(key) for key in header] for row in rows]


def figure_table(name: str, figure: dict) -> tuple[list[str], list[list]]:
    """One figure as a header and rows (the CSV of its panel)."""
    if name == "headline":
        return ["figure", "value"], [[key, value] for key, value in figure.items() if key not in SKIP]
    if name == "reason-trend":
        rows = [
            [point["month"], series["reason_id"], series["reason"], point["lost"]]
            for series in figure["series"]
            for point in series["points"]
        ]
        return ["month", "reason_id", "reason", "lost"], rows
    if name == "by-segment":
        return _rows_table(figure["industry"] + figure["size"])
    if name == "taxonomy-health":
        rows = [
            ["other_share", "", figure["other_share"]],
            ["other", "", figure["other"]],
            ["lost_with_reason", "", figure["lost_with_reason"]],
            ["needs_reason", "", figure["needs_reason"]],
            ["needs_reason_share", "", figure["needs_reason_share"]],
        ]
        rows += [["unused_reason", r["reason_id"], r["reason"]] for r in figure["unused_reasons"]]
        return ["figure", "reason_id", "value"], rows
    header, rows = _rows_table(figure["rows"])
    if name.startswith("recovery") and figure.get("total"):
        total = figure["total"]
        rows.append([("total" if key == "label" else total.get(key)) for key in header])
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
