"""The dashboard's figures: one selector per figure, shared by the page, the CSV and the API."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.db.models import QuerySet
from django.db.models.functions import Coalesce

from deals.models import Deal, Stage
from deals.selectors import INDUSTRY_UNKNOWN, SIZE_BANDS
from insights.filters import (
    DISQUALIFIED,
    LOST,
    NO_DECISION,
    OPEN,
    TREND_TOP_REASONS,
    WON,
    money,
    month_end,
    month_starts,
    ratio,
)
from insights.measures import Dashboard, Tally
from insights.recovery_figures import figure_recovery_by_reason, figure_recovery_by_sequence
from reasons.models import ReasonKind
from teams.models import User

# --- headline -------------------------------------------------------------------------------


def rates_lost(lost: int, disqualified: int, include: bool) -> int:
    """The losses a win rate counts: disqualified ones only when the setting includes them
    (insights.org_settings; `dashboard.includes_disqualified`)."""
    return lost + (disqualified if include else 0)


def figure_headline(dashboard: Dashboard) -> dict:
    """Win rates, no-decision rate, lost value, average cycles and sales velocity (two queries)."""
    by_status = dashboard.tally(dashboard.measures("base")[0], lambda row: row["status"])
    won_t, lost_t, nd_t = by_status[WON], by_status[LOST], by_status[NO_DECISION]
    disqualified_t = by_status[DISQUALIFIED]
    open_deals = dashboard.open_deals
    won, lost, no_decision = won_t.deals, lost_t.deals, nd_t.deals
    disqualified = disqualified_t.deals
    counted = rates_lost(lost, disqualified, dashboard.includes_disqualified)  # the losses the rates count
    decided = won + counted + no_decision
    win_rate = ratio(won, won + counted)
    avg_won_amount = won_t.avg_value
    avg_cycle_won = won_t.avg_cycle_days
    velocity = None
    if win_rate is not None and avg_won_amount is not None and avg_cycle_won:
        per_day = Decimal(open_deals) * avg_won_amount * won / (won + counted) / Decimal(repr(avg_cycle_won))
        velocity = money(per_day)
    link = dashboard.link
    return {
        "won": won,
        "lost": lost,
        "no_decision": no_decision,
        "disqualified": disqualified,
        "closed": won + lost + no_decision + disqualified,
        "needs_reason": lost_t.needs_reason,
        "win_rate": win_rate,
        "inclusive_win_rate": ratio(won, decided),
        "no_decision_rate": ratio(no_decision, decided),
        "won_value": money(won_t.value),
        "lost_value": money(lost_t.value),
        "disqualified_value": money(disqualified_t.value),
        "avg_won_amount": None if avg_won_amount is None else money(avg_won_amount),
        "avg_cycle_days_won": avg_cycle_won,
        "avg_cycle_days_lost": lost_t.avg_cycle_days,
        "open_deals": open_deals,
        "sales_velocity_per_day": velocity,
        "currency": settings.ORG_CURRENCY,
        "links": {
            "won": link(status=WON),
            "lost": link(status=LOST),
            "no_decision": link(status=NO_DECISION),
            "disqualified": link(status=DISQUALIFIED),
            "closed": link(),
            "needs_reason": link(status=LOST, reason="none"),
            "open_deals": dashboard.filters.link(period=False, status=OPEN),
        },
    }


# --- loss share by reason and category, and the monthly trend ------------------------------------


def figure_loss_by_reason(dashboard: Dashboard) -> dict:
    """Lost deals with a standard reason by rolled-up reason: count, value and their shares."""
    by_reason = dashboard.lost_by_reason
    standard = {pk: tally for pk, tally in by_reason.items() if pk is not None}
    total = sum(tally.deals for tally in standard.values())
    total_value = sum((money(tally.value) for tally in standard.values()), Decimal(0))
    rows = []
    for pk, tally in standard.items():
        reason = dashboard.reasons[pk]
        value = money(tally.value)
        rows.append(
            {
                "reason_id": pk,
                "reason": reason.label,
                "reason_code": reason.code,
                "category": reason.category.name,
                "lost": tally.deals,
                "share": ratio(tally.deals, total),
                "value": value,
                "value_share": ratio(value, total_value),
                "links": {"lost": dashboard.link(status=LOST, reason=pk)},
            }
        )
    rows.sort(key=lambda r: (-r["lost"], -r["value"], r["reason"]))
    needs = by_reason.get(None, Tally())
    return {
        "rows": rows,
        "total": total,
        "total_value": money(total_value),
        "needs_reason": needs.deals,
        "needs_reason_value": money(needs.value),
        "links": {"needs_reason": dashboard.link(status=LOST, reason="none")},
    }


def figure_loss_by_category(dashboard: Dashboard) -> dict:
    """Lost deals with a standard reason by the rolled-up reason's category: count, value, shares."""
    categories: dict[int, Tally] = defaultdict(Tally)
    for pk, tally in dashboard.lost_by_reason.items():
        if pk is not None:
            entry = categories[dashboard.reasons[pk].category_id]
            entry.deals += tally.deals
            entry.value += tally.value
    total = sum(tally.deals for tally in categories.values())
    total_value = sum((money(tally.value) for tally in categories.values()), Decimal(0))
    names = {reason.category_id: reason.category for reason in dashboard.reasons.values()}
    result = [
        {
            "category_id": pk,
            "category": names[pk].name,
            "category_code": names[pk].code,
            "lost": tally.deals,
            "share": ratio(tally.deals, total),
            "value": money(tally.value),
            "value_share": ratio(money(tally.value), total_value),
            "links": {"lost": dashboard.link(status=LOST, category=pk)},
        }
        for pk, tally in categories.items()
    ]
    result.sort(key=lambda r: (-r["lost"], -r["value"], r["category"]))
    return {"rows": result, "total": total, "total_value": money(total_value)}


def figure_reason_trend(dashboard: Dashboard) -> dict:
    """Every reason's lost deals month by month, most lost first; `others` sums the reasons after
    the top TREND_TOP_REASONS (what the chart draws as one line)."""
    _ = dashboard.reasons  # read even when nothing matches: a fixed query count
    filters = dashboard.filters
    per_reason: dict[int, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    for row in dashboard.measures("reason")[1]:
        if row["reason_id"] is not None:
            per_reason[dashboard.rolled_reason(row["reason_id"])][row["month"]] += row["deals"]
    totals = {pk: sum(months.values()) for pk, months in per_reason.items()}
    ranked = sorted(totals, key=lambda pk: (-totals[pk], dashboard.reasons[pk].label))
    months = month_starts(filters.date_from, filters.date_to)
    series = []
    for pk in ranked:
        points = []
        for month in months:
            start, end = max(month, filters.date_from), min(month_end(month), filters.date_to)
            points.append(
                {
                    "month": month.strftime("%Y-%m"),
                    "lost": per_reason[pk].get(month, 0),
                    "link": filters.link(period=False, status=LOST, reason=pk)
                    + f"&closed_from={start.isoformat()}&closed_to={end.isoformat()}",
                }
            )
        label = dashboard.reasons[pk].label
        series.append({"reason_id": pk, "reason": label, "total": totals[pk], "points": points})
    rest = ranked[TREND_TOP_REASONS:]
    others = {
        "reasons": len(rest),
        "total": sum(totals[pk] for pk in rest),
        "points": [
            {"month": m.strftime("%Y-%m"), "lost": sum(per_reason[pk].get(m, 0) for pk in rest)}
            for m in months
        ],
    }
    return {
        "months": [month.strftime("%Y-%m") for month in months],
        "series": series,
        "top": TREND_TOP_REASONS,
        "others": others,
    }


# --- where and to whom we lose ---------------------------------------------------------------


def figure_losses_by_stage(dashboard: Dashboard) -> dict:
    """Lost deals by the stage they were lost at (every lost deal, with a reason or not)."""
    by_stage = dashboard.tally(dashboard.measures("stage")[0], lambda row: row["stage_id"])
    stages = {stage.pk: stage for stage in Stage.objects.select_related("pipeline")}  # a short table
    total = sum(tally.deals for tally in by_stage.values())
    order = sorted(by_stage, key=lambda pk: (stages[pk].pipeline.name, stages[pk].order))
    return {
        "rows": [
            {
                "stage_id": pk,
                "stage": stages[pk].name,
                "pipeline": stages[pk].pipeline.name,
                "lost": by_stage[pk].deals,
                "share": ratio(by_stage[pk].deals, total),
                "value": money(by_stage[pk].value),
                "links": {"lost": dashboard.link(status=LOST, stage=pk)},
            }
            for pk in order
        ],
        "total": total,
    }


def figure_by_competitor(dashboard: Dashboard) -> dict:
    """Won and lost deals against each competitor (of the standing closure, rolled up to survivors)."""
    competitors = dashboard.competitors  # read even when nothing matches: a fixed query count
    by = dashboard.tally(
        dashboard.measures("competitor")[0],
        lambda row: (dashboard.rolled_competitor(row["competitor_id"]), row["status"]),
    )
    result = []
    for pk in {key[0] for key in by}:
        won, lost = by.get((pk, WON), Tally()), by.get((pk, LOST), Tally())
        result.append(
            {
                "competitor_id": pk,
                "competitor": competitors[pk].name,
                "won": won.deals,
                "lost": lost.deals,
                "competitive_win_rate": ratio(won.deals, won.deals + lost.deals),
                "lost_value": money(lost.value),
                "links": {
                    "won": dashboard.link(status=WON, competitor=pk),
                    "lost": dashboard.link(status=LOST, competitor=pk),
                },
            }
        )
    result.sort(key=lambda r: (-r["lost"], -r["won"], r["competitor"]))
    return {"rows": result}


def _rank(dashboard: Dashboard, candidate: tuple[int, int]) -> tuple[int, str]:
    """Most losses first; on a tie, the reason's label alphabetically."""
    return (-candidate[1], dashboard.reasons[candidate[0]].label)


def figure_by_rep(dashboard: Dashboard) -> dict:
    """Each rep's won / lost / no decision, win rate, lost value and top loss reason (three queries)."""
    _ = dashboard.reasons  # read even when nothing matches: a fixed query count
    by = dashboard.tally(dashboard.measures("base")[0], lambda row: (row["owner_id"], row["status"]))
    owners = sorted({owner for owner, _status in by})
    counts: dict[tuple[int, int], int] = defaultdict(int)
    for row in dashboard.measures("rep_reason")[0]:
        if row["reason_id"] is not None:
            counts[(row["owner_id"], dashboard.rolled_reason(row["reason_id"]))] += row["deals"]
    top: dict[int, tuple[int, int]] = {}
    for (owner, reason), lost in counts.items():
        best = top.get(owner)
        if best is None or _rank(dashboard, (reason, lost)) < _rank(dashboard, best):
            top[owner] = (reason, lost)
    # `or [0]`: one query even when nobody closed anything (an empty list would skip it).
    people = {person.pk: person for person in User.objects.filter(pk__in=owners or [0])}
    result = []
    for owner in owners:
        person = people[owner]
        won, lost, no_decision, disqualified = (
            by.get((owner, status), Tally()) for status in (WON, LOST, NO_DECISION, DISQUALIFIED)
        )
        top_reason = top.get(owner)
        result.append(
            {
                "owner_id": owner,
                "rep": f"{person.first_name} {person.last_name}".strip() or person.username,
                "won": won.deals,
                "lost": lost.deals,
                "no_decision": no_decision.deals,
                "disqualified": disqualified.deals,
                "win_rate": ratio(
                    won.deals,
                    won.deals + rates_lost(lost.deals, disqualified.deals, dashboard.includes_disqualified),
                ),
                "lost_value": money(lost.value),
                "top_reason_id": top_reason[0] if top_reason else None,
                "top_reason": dashboard.reasons[top_reason[0]].label if top_reason else None,
                "top_reason_lost": top_reason[1] if top_reason else 0,
                "links": {
                    "won": dashboard.link(status=WON, owner=owner),
                    "lost": dashboard.link(status=LOST, owner=owner),
                    "no_decision": dashboard.link(status=NO_DECISION, owner=owner),
                    "disqualified": dashboard.link(status=DISQUALIFIED, owner=owner),
                    "top_reason": dashboard.link(status=LOST, owner=owner, reason=top_reason[0])
                    if top_reason
                    else None,
                },
            }
        )
    result.sort(key=lambda r: (-r["lost"], r["rep"]))
    return {"rows": result}


def figure_by_segment(dashboard: Dashboard) -> dict:
    """Won / lost / no decision, win rate and lost value by account industry and by size band."""
    industries = dashboard.tally(
        dashboard.measures("industry")[0], lambda row: (row["industry"], row["status"])
    )
    bands = dashboard.tally(dashboard.measures("size")[0], lambda row: (row["band"], row["status"]))

    def table_rows(table: dict, dimension: str) -> list[dict]:
        out = []
        for key in {key for key, _status in table}:
            won, lost, no_decision, disqualified = (
                table.get((key, status), Tally()) for status in (WON, LOST, NO_DECISION, DISQUALIFIED)
            )
            label = (key or "Industry unknown") if dimension == "industry" else SIZE_BANDS[key][0]
            out.append(
                {
                    "dimension": dimension,
                    "segment_key": key,
                    "segment": label,
                    "won": won.deals,
                    "lost": lost.deals,
                    "no_decision": no_decision.deals,
                    "disqualified": disqualified.deals,
                    "win_rate": ratio(
                        won.deals,
                        won.deals
                        + rates_lost(lost.deals, disqualified.deals, dashboard.includes_disqualified),
                    ),
                    "lost_value": money(lost.value),
                    "links": {"lost": dashboard.link(status=LOST, **{dimension: key or INDUSTRY_UNKNOWN})},
                }
            )
        order = list(SIZE_BANDS)
        if dimension == "size":
            return sorted(out, key=lambda r: order.index(r["segment_key"]))
        return sorted(out, key=lambda r: (-r["lost"], r["segment"]))

    return {"industry": table_rows(industries, "industry"), "size": table_rows(bands, "size")}


# --- taxonomy health ---------------------------------------------------------------------------


def _catch_all_link(dashboard: Dashboard, other_ids: list[int]) -> str | None:
    """The deal list of the catch-all losses: one reason, or the one category they share."""
    if len(other_ids) == 1:
        return dashboard.link(status=LOST, reason=other_ids[0])
    categories = {dashboard.reasons[pk].category_id for pk in other_ids}
    return dashboard.link(status=LOST, category=categories.pop()) if len(categories) == 1 else None


def figure_taxonomy_health(dashboard: Dashboard) -> dict:
    """Share of "Other" among standard-reason losses, notes-only losses (closed in a CRM with only
    its free text, so they need a reason), and the active loss reasons nobody used in the period."""
    by_reason = dashboard.lost_by_reason
    standard = {pk: tally.deals for pk, tally in by_reason.items() if pk is not None}
    total = sum(standard.values())
    other_ids = [pk for pk in standard if dashboard.reasons[pk].is_catch_all]  # whatever their category
    other = sum(standard[pk] for pk in other_ids)
    unused = [
        {"reason_id": reason.pk, "reason": reason.label, "category": reason.category.name}
        for reason in dashboard.reasons.values()
        if reason.kind == ReasonKind.LOSS and reason.active and reason.pk not in standard
    ]
    unused.sort(key=lambda r: (r["category"], r["reason"]))
    needs = by_reason[None].deals if None in by_reason else 0
    return {
        "other": other,
        "lost_with_reason": total,
        "other_share": ratio(other, total),
        "needs_reason": needs,
        "needs_reason_share": ratio(needs, total + needs),
        "unused_reasons": unused,
        "links": {
            "other": _catch_all_link(dashboard, other_ids),
            "needs_reason": dashboard.link(status=LOST, reason="none"),
        },
    }


FIGURES = {
    "headline": figure_headline,
    "loss-by-reason": figure_loss_by_reason,
    "loss-by-category": figure_loss_by_category,
    "reason-trend": figure_reason_trend,
    "losses-by-stage": figure_losses_by_stage,
    "by-competitor": figure_by_competitor,
    "by-rep": figure_by_rep,
    "by-segment": figure_by_segment,
    "recovery-by-reason": figure_recovery_by_reason,
    "recovery-by-sequence": figure_recovery_by_sequence,
    "taxonomy-health": figure_taxonomy_health,
}


def dashboard_figures(dashboard: Dashboard) -> dict:
    """Every figure of the dashboard, by name."""
    return {name: selector(dashboard) for name, selector in FIGURES.items()}


def deals_behind(dashboard: Dashboard) -> QuerySet[Deal]:
    """The deals behind the dashboard (closed in the period under every filter), for the CSV."""
    return (
        dashboard.closed()
        .annotate(
            value_org=dashboard.value,
            rolled_reason=Coalesce("close_reason__merged_into", "close_reason"),
        )
        .select_related("account", "owner", "team", "pipeline", "stage")
        .order_by("closed_at", "pk")
    )
