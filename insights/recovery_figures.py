"""The reopen and recovery figures: deals ever lost, counted in the period of their latest close,
by the reason they were first lost for and by the nurture sequence that loss got."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from followups.models import NurtureSequence
from insights.filters import WON, money, ratio
from insights.measures import Dashboard, Tally


def _recovery_result(dashboard: Dashboard, rows: list[dict], key, label, link_key: str) -> dict:
    """Deals ever lost (counted in the period of their latest close) grouped by `key` of a row."""
    groups: dict = defaultdict(lambda: {"lost": Tally(), "reopened": 0, "won": Tally()})
    rates = dashboard.rates  # read even when nothing matches: a fixed query count
    for row in rows:
        group = groups[key(row)]
        group["lost"].add(row, rates)
        if row["reopened"]:
            group["reopened"] += row["deals"]
        if row["status"] == WON:
            group["won"].add(row, rates)
    result = []
    for group_key, group in groups.items():
        lost, reopened, won = group["lost"].deals, group["reopened"], group["won"].deals
        drill = {link_key: "none" if group_key is None else group_key}
        result.append(
            {
                "key": group_key,
                "label": label(group_key),
                "lost": lost,
                "reopened": reopened,
                "reopened_share": ratio(reopened, lost),
                "won": won,
                "recovered_share": ratio(won, lost),
                "recovered_value": money(group["won"].value),
                "links": {
                    "lost": dashboard.link(recovery="lost", **drill),
                    "reopened": dashboard.link(recovery="reopened", **drill),
                    "won": dashboard.link(recovery="won", **drill),
                },
            }
        )
    result.sort(key=lambda r: (-r["lost"], r["label"]))
    lost = sum(r["lost"] for r in result)
    reopened = sum(r["reopened"] for r in result)
    won = sum(r["won"] for r in result)
    return {
        "rows": result,
        "total": {
            "lost": lost,
            "reopened": reopened,
            "reopened_share": ratio(reopened, lost),
            "won": won,
            "recovered_share": ratio(won, lost),
            "recovered_value": money(sum((r["recovered_value"] for r in result), Decimal(0))),
            "links": {
                "lost": dashboard.link(recovery="lost"),
                "reopened": dashboard.link(recovery="reopened"),
                "won": dashboard.link(recovery="won"),
            },
        },
    }


def figure_recovery_by_reason(dashboard: Dashboard) -> dict:
    """Deals ever lost (counted in the period of their latest close) by the reason they were
    first lost for: how many were reopened, how many won back, and the value won back."""
    _ = dashboard.reasons  # read even when nothing matches: a fixed query count
    rows = dashboard.measures("recovery_reason")[0]
    key = lambda row: dashboard.rolled_reason(row["first_lost_reason_id"])  # noqa: E731
    return _recovery_result(dashboard, rows, key, dashboard.reason_label, "first_lost_reason")


def figure_recovery_by_sequence(dashboard: Dashboard) -> dict:
    """As recovery by reason, grouped by the nurture sequence the first loss got."""
    rows = dashboard.measures("recovery_sequence")[0]
    names = dict(NurtureSequence.objects.values_list("pk", "name"))
    label = lambda key: names.get(key, "No sequence")  # noqa: E731
    result = _recovery_result(dashboard, rows, lambda row: row["sequence_id"], label, "sequence")
    result["available"] = True
    return result
