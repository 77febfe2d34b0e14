"""The manager dashboard's figures: one selector per figure, shared by the page, the CSV and the API.

How deals are counted (PRODUCT.md, "How deals are counted"):
- each deal counts once, by its current status, in the period of its latest close date (Deal.closed_at);
- reasons (and competitors) roll up to the survivor of a merge; retired reasons still count;
- reason shares are over lost deals with a standard reason; lost deals without one are "needs a reason";
  No Decision is never lost;
- sales velocity uses the deals open now (every filter but the period) with the period's figures;
- a ratio with nothing under it is None (shown as "—").

Every selector takes a `Dashboard` (the user, the filters, the exchange rates) and runs a fixed
number of queries whatever the number of deals, reasons or reps. Every row carries `links`: the
deal list filtered to the deals behind each number.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, fields
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import cached_property
from urllib.parse import urlencode

from django.apps import apps
from django.conf import settings
from django.db import connection
from django.db.models import (
    Avg,
    Case,
    Count,
    DecimalField,
    Exists,
    F,
    FilteredRelation,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncMonth
from django.urls import reverse
from django.utils import timezone

from deals.models import Closure, Deal, DealStatus
from deals.selectors import SIZE_BANDS, DealFilters, deals_filtered, size_band_q
from insights.models import ExchangeRate
from reasons.models import Competitor, Reason, ReasonKind
from teams.models import User

WON, LOST, NO_DECISION, OPEN = DealStatus.WON, DealStatus.LOST, DealStatus.NO_DECISION, DealStatus.OPEN
TREND_TOP_REASONS = 5
OTHER_CATEGORY_CODE = "other"
NEEDS_A_REASON = "Needs a reason"
MONEY = DecimalField(max_digits=30, decimal_places=8)


@dataclass(frozen=True)
class DashboardFilters:
    """The dashboard's filters. The period is inclusive of both days (UTC)."""

    date_from: date
    date_to: date
    pipeline: int | None = None
    team: int | None = None
    owner: int | None = None
    industry: str = ""
    size: str = ""
    competitor: int | None = None

    def deal_filters(self, *, period: bool = True, **extra) -> DealFilters:
        """The same selection as the deal list's filters (so drill-down counts match)."""
        return DealFilters(
            pipeline=self.pipeline,
            team=self.team,
            owner=self.owner,
            industry=self.industry,
            size=self.size,
            competitor=self.competitor,
            closed_from=self.date_from if period else None,
            closed_to=self.date_to if period else None,
            **extra,
        )

    def link(self, *, period: bool = True, **extra) -> str:
        """The deal list URL behind a number: these filters plus `extra` (status, reason, ...)."""
        params = {
            "closed_from": self.date_from.isoformat() if period else "",
            "closed_to": self.date_to.isoformat() if period else "",
            "pipeline": self.pipeline or "",
            "team": self.team or "",
            "owner": self.owner or "",
            "industry": self.industry,
            "size": self.size,
            "competitor": self.competitor or "",
        }
        params.update(extra)
        query = urlencode({key: value for key, value in params.items() if value not in ("", None)})
        return f"{reverse('deals:list')}?{query}"

    def bounds(self) -> tuple[datetime, datetime]:
        """The period as aware datetimes, both inclusive (as the deal list's closed_from/to)."""
        return (
            timezone.make_aware(datetime.combine(self.date_from, time.min)),
            timezone.make_aware(datetime.combine(self.date_to, time.max)),
        )

    def as_query(self) -> dict[str, str]:
        """The filters as dashboard URL parameters (for CSV and API links)."""
        values = {"from": self.date_from.isoformat(), "to": self.date_to.isoformat()}
        for item in fields(self):
            if item.name not in {"date_from", "date_to"}:
                value = getattr(self, item.name)
                if value not in (None, ""):
                    values[item.name] = str(value)
        return values


def ratio(part, whole) -> float | None:
    """part / whole, or None when there is nothing under it."""
    if not whole:
        return None
    return float(part) / float(whole)


def money(value) -> Decimal:
    return (value or Decimal(0)).quantize(Decimal("0.01"))


def days(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds() / 86400


def exchange_rates() -> dict[str, Decimal]:
    """Stored rates to the organisation currency; the organisation currency itself is 1."""
    rates = dict(ExchangeRate.objects.values_list("currency", "rate"))
    rates.setdefault(settings.ORG_CURRENCY, Decimal(1))
    return rates


def month_starts(start: date, end: date) -> list[date]:
    months, current = [], start.replace(day=1)
    while current <= end:
        months.append(current)
        current = (current + timedelta(days=32)).replace(day=1)
    return months


class Dashboard:
    """One user's dashboard for one set of filters: the scoped querysets every figure reads."""

    def __init__(self, *, user: User, filters: DashboardFilters):
        self.user = user
        self.filters = filters

    @cached_property
    def rates(self) -> dict[str, Decimal]:
        return exchange_rates()

    @cached_property
    def reasons(self) -> dict[int, Reason]:
        return {reason.pk: reason for reason in Reason.objects.select_related("category")}

    @cached_property
    def competitors(self) -> dict[int, Competitor]:
        return {competitor.pk: competitor for competitor in Competitor.objects.all()}

    @property
    def value(self) -> Case:
        """A deal's amount in the organisation currency (NULL where no rate is stored)."""
        whens = [
            When(currency=code, then=F("amount") * Value(rate, output_field=MONEY))
            for code, rate in sorted(self.rates.items())
        ]
        return Case(*whens, default=None, output_field=MONEY)

    def closed(self) -> QuerySet[Deal]:
        """Deals closed in the period (by their latest close date) under every filter."""
        return deals_filtered(user=self.user, filters=self.filters.deal_filters())

    def open_now(self) -> QuerySet[Deal]:
        """Deals open now under every filter but the period."""
        return deals_filtered(user=self.user, filters=self.filters.deal_filters(period=False, status=OPEN))

    def cohort_ever_lost(self) -> QuerySet[Deal]:
        """Deals ever lost, in the period of their latest close (reopened open deals included)."""
        return deals_filtered(user=self.user, filters=self.filters.deal_filters(recovery="lost"))

    def link(self, **extra) -> str:
        return self.filters.link(**extra)

    def reason_label(self, pk: int | None) -> str:
        return NEEDS_A_REASON if pk is None else self.reasons[pk].label

    @cached_property
    def lost_by_reason(self) -> dict[int | None, dict]:
        """Lost deals in the period by rolled-up reason (None: needs a reason): count and value."""
        rows = (
            self.closed()
            .filter(status=LOST)
            .values(rolled=Coalesce("close_reason__merged_into", "close_reason"))
            .annotate(lost=Count("pk"), value=Sum(self.value))
        )
        return {row["rolled"]: {"lost": row["lost"], "value": money(row["value"])} for row in rows}


# --- headline -------------------------------------------------------------------------------


def figure_headline(dashboard: Dashboard) -> dict:
    """Win rates, no-decision rate, lost value, average cycles and sales velocity (two queries)."""
    value = dashboard.value
    cycle = F("closed_at") - F("created_at")
    totals = dashboard.closed().aggregate(
        won=Count("pk", filter=Q(status=WON)),
        lost=Count("pk", filter=Q(status=LOST)),
        no_decision=Count("pk", filter=Q(status=NO_DECISION)),
        needs_reason=Count("pk", filter=Q(status=LOST, close_reason__isnull=True)),
        won_value=Sum(value, filter=Q(status=WON)),
        lost_value=Sum(value, filter=Q(status=LOST)),
        avg_won_amount=Avg(value, filter=Q(status=WON)),
        avg_cycle_won=Avg(cycle, filter=Q(status=WON)),
        avg_cycle_lost=Avg(cycle, filter=Q(status=LOST)),
    )
    open_deals = dashboard.open_now().count()
    won, lost, no_decision = totals["won"], totals["lost"], totals["no_decision"]
    decided = won + lost + no_decision
    win_rate = ratio(won, won + lost)
    avg_won_amount = totals["avg_won_amount"]
    avg_cycle_won = days(totals["avg_cycle_won"])
    velocity = None
    if win_rate is not None and avg_won_amount is not None and avg_cycle_won:
        per_day = Decimal(open_deals) * avg_won_amount * won / (won + lost) / Decimal(repr(avg_cycle_won))
        velocity = money(per_day)
    link = dashboard.link
    return {
        "won": won,
        "lost": lost,
        "no_decision": no_decision,
        "closed": decided,
        "needs_reason": totals["needs_reason"],
        "win_rate": win_rate,
        "inclusive_win_rate": ratio(won, decided),
        "no_decision_rate": ratio(no_decision, decided),
        "won_value": money(totals["won_value"]),
        "lost_value": money(totals["lost_value"]),
        "avg_won_amount": None if avg_won_amount is None else money(avg_won_amount),
        "avg_cycle_days_won": avg_cycle_won,
        "avg_cycle_days_lost": days(totals["avg_cycle_lost"]),
        "open_deals": open_deals,
        "sales_velocity_per_day": velocity,
        "currency": settings.ORG_CURRENCY,
        "links": {
            "won": link(status=WON),
            "lost": link(status=LOST),
            "no_decision": link(status=NO_DECISION),
            "closed": link(),
            "needs_reason": link(status=LOST, reason="none"),
            "open_deals": dashboard.filters.link(period=False, status=OPEN),
        },
    }


# --- loss share by reason and category, and the monthly trend ------------------------------------


def figure_loss_by_reason(dashboard: Dashboard) -> dict:
    """Lost deals with a standard reason by rolled-up reason: count, value and their shares."""
    _ = dashboard.reasons  # read even when nothing matches: a fixed query count
    by_reason = dashboard.lost_by_reason
    standard = {pk: row for pk, row in by_reason.items() if pk is not None}
    total = sum(row["lost"] for row in standard.values())
    total_value = sum((row["value"] for row in standard.values()), Decimal(0))
    rows = []
    for pk, row in standard.items():
        reason = dashboard.reasons[pk]
        rows.append(
            {
                "reason_id": pk,
                "reason": reason.label,
                "reason_code": reason.code,
                "category": reason.category.name,
                "lost": row["lost"],
                "share": ratio(row["lost"], total),
                "value": row["value"],
                "value_share": ratio(row["value"], total_value),
                "links": {"lost": dashboard.link(status=LOST, reason=pk)},
            }
        )
    rows.sort(key=lambda r: (-r["lost"], -r["value"], r["reason"]))
    needs = by_reason.get(None, {"lost": 0, "value": Decimal("0.00")})
    return {
        "rows": rows,
        "total": total,
        "total_value": money(total_value),
        "needs_reason": needs["lost"],
        "needs_reason_value": needs["value"],
        "links": {"needs_reason": dashboard.link(status=LOST, reason="none")},
    }


def figure_loss_by_category(dashboard: Dashboard) -> dict:
    """Lost deals with a standard reason by the rolled-up reason's category: count, value, shares."""
    rows = (
        dashboard.closed()
        .filter(status=LOST, close_reason__isnull=False)
        .values(
            category_id=Coalesce("close_reason__merged_into__category", "close_reason__category"),
        )
        .annotate(lost=Count("pk"), value=Sum(dashboard.value))
    )
    rows = [{**row, "value": money(row["value"])} for row in rows]
    total = sum(row["lost"] for row in rows)
    total_value = sum((row["value"] for row in rows), Decimal(0))
    names = {reason.category_id: reason.category for reason in dashboard.reasons.values()}
    result = [
        {
            "category_id": row["category_id"],
            "category": names[row["category_id"]].name,
            "category_code": names[row["category_id"]].code,
            "lost": row["lost"],
            "share": ratio(row["lost"], total),
            "value": row["value"],
            "value_share": ratio(row["value"], total_value),
            "links": {"lost": dashboard.link(status=LOST, category=row["category_id"])},
        }
        for row in rows
    ]
    result.sort(key=lambda r: (-r["lost"], -r["value"], r["category"]))
    return {"rows": result, "total": total, "total_value": money(total_value)}


def figure_reason_trend(dashboard: Dashboard) -> dict:
    """The period's top reasons (by lost count), month by month."""
    _ = dashboard.reasons  # read even when nothing matches: a fixed query count
    filters = dashboard.filters
    counts = (
        dashboard.closed()
        .filter(status=LOST, close_reason__isnull=False)
        .annotate(month=TruncMonth("closed_at"))
        .values("month", rolled=Coalesce("close_reason__merged_into", "close_reason"))
        .annotate(lost=Count("pk"))
    )
    per_reason: dict[int, dict[date, int]] = defaultdict(dict)
    for row in counts:
        per_reason[row["rolled"]][row["month"].date()] = row["lost"]
    totals = {pk: sum(months.values()) for pk, months in per_reason.items()}
    top = sorted(totals, key=lambda pk: (-totals[pk], dashboard.reasons[pk].label))[:TREND_TOP_REASONS]
    months = month_starts(filters.date_from, filters.date_to)
    series = []
    for pk in top:
        points = []
        for month in months:
            month_end = (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
            start, end = max(month, filters.date_from), min(month_end, filters.date_to)
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
    return {"months": [month.strftime("%Y-%m") for month in months], "series": series}


# --- where and to whom we lose ---------------------------------------------------------------


def figure_losses_by_stage(dashboard: Dashboard) -> dict:
    """Lost deals by the stage they were lost at (every lost deal, with a reason or not)."""
    rows = list(
        dashboard.closed()
        .filter(status=LOST)
        .values("stage_id", "stage__name", "stage__order", "pipeline__name")
        .annotate(lost=Count("pk"), value=Sum(dashboard.value))
        .order_by("pipeline__name", "stage__order")
    )
    total = sum(row["lost"] for row in rows)
    return {
        "rows": [
            {
                "stage_id": row["stage_id"],
                "stage": row["stage__name"],
                "pipeline": row["pipeline__name"],
                "lost": row["lost"],
                "share": ratio(row["lost"], total),
                "value": money(row["value"]),
                "links": {"lost": dashboard.link(status=LOST, stage=row["stage_id"])},
            }
            for row in rows
        ],
        "total": total,
    }


def figure_by_competitor(dashboard: Dashboard) -> dict:
    """Won and lost deals against each competitor (of the standing closure, rolled up to survivors)."""
    competitors = dashboard.competitors  # read even when nothing matches: a fixed query count
    rows = (
        dashboard.closed()
        .filter(status__in=[WON, LOST])
        .annotate(standing=FilteredRelation("closures", condition=Q(closures__reopened_at__isnull=True)))
        .filter(standing__competitor__isnull=False)
        .values(rolled=Coalesce("standing__competitor__merged_into", "standing__competitor"))
        .annotate(
            won=Count("pk", filter=Q(status=WON)),
            lost=Count("pk", filter=Q(status=LOST)),
            lost_value=Sum(dashboard.value, filter=Q(status=LOST)),
        )
    )
    result = [
        {
            "competitor_id": row["rolled"],
            "competitor": competitors[row["rolled"]].name,
            "won": row["won"],
            "lost": row["lost"],
            "competitive_win_rate": ratio(row["won"], row["won"] + row["lost"]),
            "lost_value": money(row["lost_value"]),
            "links": {
                "won": dashboard.link(status=WON, competitor=row["rolled"]),
                "lost": dashboard.link(status=LOST, competitor=row["rolled"]),
            },
        }
        for row in rows
    ]
    result.sort(key=lambda r: (-r["lost"], -r["won"], r["competitor"]))
    return {"rows": result}


def _rank(dashboard: Dashboard, candidate: tuple[int, int]) -> tuple[int, str]:
    """Most losses first; on a tie, the reason's label alphabetically."""
    return (-candidate[1], dashboard.reasons[candidate[0]].label)


def figure_by_rep(dashboard: Dashboard) -> dict:
    """Each rep's won / lost / no decision, win rate, lost value and top loss reason (two queries)."""
    _ = dashboard.reasons  # read even when nothing matches: a fixed query count
    value = dashboard.value
    closed = dashboard.closed()
    people = closed.values("owner_id", "owner__first_name", "owner__last_name", "owner__username").annotate(
        won=Count("pk", filter=Q(status=WON)),
        lost=Count("pk", filter=Q(status=LOST)),
        no_decision=Count("pk", filter=Q(status=NO_DECISION)),
        lost_value=Sum(value, filter=Q(status=LOST)),
    )
    reasons = (
        closed.filter(status=LOST, close_reason__isnull=False)
        .values("owner_id", rolled=Coalesce("close_reason__merged_into", "close_reason"))
        .annotate(lost=Count("pk"))
    )
    top: dict[int, tuple[int, int]] = {}
    for row in reasons:
        candidate = (row["rolled"], row["lost"])
        best = top.get(row["owner_id"])
        if best is None or _rank(dashboard, candidate) < _rank(dashboard, best):
            top[row["owner_id"]] = candidate
    result = []
    for row in people:
        name = f"{row['owner__first_name']} {row['owner__last_name']}".strip() or row["owner__username"]
        owner = row["owner_id"]
        top_reason = top.get(owner)
        result.append(
            {
                "owner_id": owner,
                "rep": name,
                "won": row["won"],
                "lost": row["lost"],
                "no_decision": row["no_decision"],
                "win_rate": ratio(row["won"], row["won"] + row["lost"]),
                "lost_value": money(row["lost_value"]),
                "top_reason_id": top_reason[0] if top_reason else None,
                "top_reason": dashboard.reasons[top_reason[0]].label if top_reason else None,
                "top_reason_lost": top_reason[1] if top_reason else 0,
                "links": {
                    "won": dashboard.link(status=WON, owner=owner),
                    "lost": dashboard.link(status=LOST, owner=owner),
                    "no_decision": dashboard.link(status=NO_DECISION, owner=owner),
                    "top_reason": dashboard.link(status=LOST, owner=owner, reason=top_reason[0])
                    if top_reason
                    else None,
                },
            }
        )
    result.sort(key=lambda r: (-r["lost"], r["rep"]))
    return {"rows": result}


def _size_band() -> Case:
    return Case(
        *[When(size_band_q(key), then=Value(key)) for key in SIZE_BANDS if key != "unknown"],
        default=Value("unknown"),
    )


def figure_by_segment(dashboard: Dashboard) -> dict:
    """Won / lost / no decision, win rate and lost value by account industry and by size band."""
    rows = (
        dashboard.closed()
        .values("account__industry", band=_size_band())
        .annotate(
            won=Count("pk", filter=Q(status=WON)),
            lost=Count("pk", filter=Q(status=LOST)),
            no_decision=Count("pk", filter=Q(status=NO_DECISION)),
            lost_value=Sum(dashboard.value, filter=Q(status=LOST)),
        )
    )
    industries: dict[str, dict] = {}
    bands: dict[str, dict] = {}
    for row in rows:
        for table, key in ((industries, row["account__industry"]), (bands, row["band"])):
            entry = table.setdefault(key, {"won": 0, "lost": 0, "no_decision": 0, "lost_value": Decimal(0)})
            for name in ("won", "lost", "no_decision"):
                entry[name] += row[name]
            entry["lost_value"] += row["lost_value"] or 0

    def table_rows(table: dict, dimension: str) -> list[dict]:
        out = []
        for key, entry in table.items():
            label = (key or "Industry unknown") if dimension == "industry" else SIZE_BANDS[key][0]
            selector = {dimension: key} if key or dimension == "size" else {}
            out.append(
                {
                    "dimension": dimension,
                    "segment_key": key,
                    "segment": label,
                    "won": entry["won"],
                    "lost": entry["lost"],
                    "no_decision": entry["no_decision"],
                    "win_rate": ratio(entry["won"], entry["won"] + entry["lost"]),
                    "lost_value": money(entry["lost_value"]),
                    # An empty industry cannot be told apart from "any" in the list's filters.
                    "links": {"lost": dashboard.link(status=LOST, **selector)} if selector else {},
                }
            )
        order = list(SIZE_BANDS)
        if dimension == "size":
            return sorted(out, key=lambda r: order.index(r["segment_key"]))
        return sorted(out, key=lambda r: (-r["lost"], r["segment"]))

    return {"industry": table_rows(industries, "industry"), "size": table_rows(bands, "size")}


# --- reopen and recovery ----------------------------------------------------------------------


def _recovery_rows(dashboard: Dashboard, group: str) -> list[dict]:
    """Deals ever lost, grouped by their first loss's reason or nurture sequence."""
    if connection.vendor == "postgresql":
        return _recovery_rows_from_history(dashboard, group)
    return _recovery_rows_live(dashboard, group)


def _recovery_rows_live(dashboard: Dashboard, group: str) -> list[dict]:
    """Computed from the closures themselves (the drill-down's definition)."""
    lost = Closure.objects.filter(deal=OuterRef("pk"), outcome=LOST)
    first_lost = lost.order_by("closed_at", "id")
    if group == "reason":
        key = Subquery(first_lost.annotate(r=Coalesce("reason__merged_into", "reason")).values("r")[:1])
    else:
        key = Subquery(first_lost.values("nurture__sequence")[:1])
    return list(
        dashboard.cohort_ever_lost()
        .annotate(group_key=key, reopened=Exists(lost.filter(reopened_at__isnull=False)))
        .values("group_key")
        .annotate(
            lost=Count("pk"),
            reopened_count=Count("pk", filter=Q(reopened=True)),
            won=Count("pk", filter=Q(status=WON)),
            recovered_value=Sum(dashboard.value, filter=Q(status=WON)),
        )
    )


def _recovery_rows_from_history(dashboard: Dashboard, group: str) -> list[dict]:
    """The same as the live computation, read from LossHistory (kept by triggers on PostgreSQL)."""
    start, end = dashboard.filters.bounds()
    history = "loss_history__"
    in_period = Q(closed_at__gte=start, closed_at__lte=end) | Q(
        status=OPEN, **{f"{history}last_closed_at__gte": start, f"{history}last_closed_at__lte": end}
    )
    if group == "reason":
        key = Coalesce(f"{history}first_lost_reason__merged_into", f"{history}first_lost_reason")
    else:
        key = F(f"{history}first_lost_closure__nurture__sequence")
    return list(
        deals_filtered(user=dashboard.user, filters=dashboard.filters.deal_filters(period=False))
        .filter(Q(**{f"{history}isnull": False}), in_period)
        .values(group_key=key)
        .annotate(
            lost=Count("pk"),
            reopened_count=Count("pk", filter=Q(**{f"{history}reopened": True})),
            won=Count("pk", filter=Q(status=WON)),
            recovered_value=Sum(dashboard.value, filter=Q(status=WON)),
        )
    )


def _recovery_result(dashboard: Dashboard, rows: list[dict], label, link_key: str) -> dict:
    result = []
    for row in rows:
        key = row["group_key"]
        drill = {link_key: "none" if key is None else key}
        result.append(
            {
                "key": key,
                "label": label(key),
                "lost": row["lost"],
                "reopened": row["reopened_count"],
                "reopened_share": ratio(row["reopened_count"], row["lost"]),
                "won": row["won"],
                "recovered_share": ratio(row["won"], row["lost"]),
                "recovered_value": money(row["recovered_value"]),
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
    rows = _recovery_rows(dashboard, "reason")
    return _recovery_result(dashboard, rows, dashboard.reason_label, "first_lost_reason")


def nurture_installed() -> bool:
    return apps.is_installed("followups")


def figure_recovery_by_sequence(dashboard: Dashboard) -> dict:
    """As recovery by reason, grouped by the nurture sequence the first loss got."""
    if not nurture_installed():
        return {"rows": [], "total": None, "available": False}
    sequence_model = apps.get_model("followups", "NurtureSequence")
    rows = _recovery_rows(dashboard, "sequence")
    names = dict(sequence_model.objects.values_list("pk", "name"))
    result = _recovery_result(dashboard, rows, lambda key: names.get(key, "No sequence"), "sequence")
    result["available"] = True
    return result


# --- taxonomy health ---------------------------------------------------------------------------


def figure_taxonomy_health(dashboard: Dashboard) -> dict:
    """Share of "Other" among standard-reason losses, lost deals needing a reason, and the active
    loss reasons nobody used in the period."""
    by_reason = dashboard.lost_by_reason
    standard = {pk: row for pk, row in by_reason.items() if pk is not None}
    total = sum(row["lost"] for row in standard.values())
    other = sum(
        row["lost"]
        for pk, row in standard.items()
        if dashboard.reasons[pk].category.code == OTHER_CATEGORY_CODE
    )
    other_ids = [pk for pk in standard if dashboard.reasons[pk].category.code == OTHER_CATEGORY_CODE]
    unused = [
        {"reason_id": reason.pk, "reason": reason.label, "category": reason.category.name}
        for reason in dashboard.reasons.values()
        if reason.kind == ReasonKind.LOSS and reason.active and reason.pk not in standard
    ]
    unused.sort(key=lambda r: (r["category"], r["reason"]))
    needs = by_reason.get(None, {"lost": 0})["lost"]
    return {
        "other": other,
        "lost_with_reason": total,
        "other_share": ratio(other, total),
        "needs_reason": needs,
        "needs_reason_share": ratio(needs, total + needs),
        "unused_reasons": unused,
        "links": {
            "other": dashboard.link(
                status=LOST,
                category=dashboard.reasons[other_ids[0]].category_id if other_ids else "",
            )
            if other_ids
            else None,
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
