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
    Case,
    Count,
    DecimalField,
    Exists,
    F,
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

from deals.models import Closure, Deal, DealStatus, Stage
from deals.selectors import (
    INDUSTRY_UNKNOWN,
    SIZE_BANDS,
    DealFilters,
    deals_filtered,
    managed_team_ids,
    size_band_q,
)
from insights.groupings import BY_OWNER, GROUPINGS, MEMBERS
from insights.models import ExchangeRate, Rollup
from insights.rollup import flush
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
        params = dict(self._link_params[period])
        params.update(extra)
        query = urlencode({key: value for key, value in params.items() if value not in ("", None)})
        return f"{self._deal_list_url}?{query}"

    @cached_property
    def _deal_list_url(self) -> str:
        return reverse("deals:list")

    @cached_property
    def _link_params(self) -> dict[bool, dict]:
        """The filters as deal list parameters, with and without the period (a page has hundreds of links)."""
        params = {
            "closed_from": self.date_from.isoformat(),
            "closed_to": self.date_to.isoformat(),
            "pipeline": self.pipeline or "",
            "team": self.team or "",
            "owner": self.owner or "",
            "industry": self.industry,
            "size": self.size,
            "competitor": self.competitor or "",
        }
        return {True: params, False: {**params, "closed_from": "", "closed_to": ""}}

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


def month_end(month: date) -> date:
    return (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)


def day_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """Two days as aware datetimes, both inclusive (as the deal list's closed_from/to)."""
    return (
        timezone.make_aware(datetime.combine(first, time.min)),
        timezone.make_aware(datetime.combine(last, time.max)),
    )


# --- the measures every figure reads ---------------------------------------------------------
#
# A figure asks for one grouping of the closed deals (or of the deals ever lost) under the
# dashboard's scope, filters and period, summed by a few dimensions: deals, deals needing a
# reason, amount (per currency: converted here) and cycle seconds. Three sources give the same
# rows (tests hold them equal):
# - "rollup" (PostgreSQL): the monthly Rollup for the period's whole months, DealFact for the days
#   of partial months (added, or taken off a whole month when that reads fewer rows);
# - "facts" (PostgreSQL): DealFact alone, when a filter is not a Rollup key (industry, size,
#   competitor);
# - "live" (any database, so SQLite under `make run`): the deals themselves through the ORM.

Grouping = Rollup.Grouping
MEASURES = ("deals", "needs_reason", "amount", "cycle_seconds")
# Each measure as a signed DealFact column (s: +1 or -1 for the day range it falls in).
SIGNED = {
    "deals": "s",
    "needs_reason": "s * needs_reason::int",
    "amount": "s * amount",
    "cycle_seconds": "s * cycle_seconds",
}


@dataclass(frozen=True)
class Read:
    grouping: int
    sets: tuple[tuple[str, ...], ...]  # each a GROUP BY of dimensions (DealFact column names)
    measures: tuple[str, ...] = ("deals", "amount")  # what the figures use (numeric sums cost)


READS = {
    "base": Read(Grouping.BASE, (("owner_id", "status", "currency"),), MEASURES),
    "reason": Read(Grouping.REASON, (("reason_id", "currency"), ("month", "reason_id"))),
    "rep_reason": Read(Grouping.REP_REASON, (("owner_id", "reason_id"),), ("deals",)),
    "stage": Read(Grouping.STAGE, (("stage_id", "currency"),)),
    "competitor": Read(Grouping.COMPETITOR, (("competitor_id", "status", "currency"),)),
    "industry": Read(Grouping.INDUSTRY, (("industry", "status", "currency"),)),
    "size": Read(Grouping.SIZE, (("band", "status", "currency"),)),
    "recovery_reason": Read(
        Grouping.RECOVERY_REASON, (("first_lost_reason_id", "reopened", "status", "currency"),)
    ),
    "recovery_sequence": Read(
        Grouping.RECOVERY_SEQUENCE, (("sequence_id", "reopened", "status", "currency"),)
    ),
}


@dataclass(frozen=True)
class Plan:
    """Where a period's rows come from: whole months of Rollup, and signed day ranges of DealFact."""

    months: tuple[date, ...]
    ranges: tuple[tuple[datetime, datetime, int], ...]


def period_plan(first: date, last: date, *, rollup: bool) -> Plan:
    if not rollup:
        return Plan((), ((*day_bounds(first, last), 1),))
    months, ranges = [], []
    for month in month_starts(first, last):
        end = month_end(month)
        start, stop = max(month, first), min(end, last)
        if (start, stop) == (month, end):
            months.append(month)
            continue
        inside = (stop - start).days + 1
        if inside * 2 <= (end - month).days + 1:
            ranges.append((*day_bounds(start, stop), 1))
            continue
        # Most of the month: the whole month less the days outside the period.
        months.append(month)
        if start > month:
            ranges.append((*day_bounds(month, start - timedelta(days=1)), -1))
        if stop < end:
            ranges.append((*day_bounds(stop + timedelta(days=1), end), -1))
    return Plan(tuple(months), tuple(ranges))


@dataclass
class Tally:
    """Measures summed over rows; values converted to the organisation currency."""

    deals: int = 0
    needs_reason: int = 0
    value: Decimal = Decimal(0)
    rated: int = 0  # deals whose currency has a stored rate (the ones `value` covers)
    cycle_seconds: Decimal = Decimal(0)

    def add(self, row: dict, rates: dict[str, Decimal]) -> None:
        self.deals += row["deals"]
        self.needs_reason += row.get("needs_reason") or 0
        rate = rates.get(row["currency"]) if "currency" in row else None
        if rate is not None:
            self.value += (row.get("amount") or 0) * rate
            self.rated += row["deals"]
        self.cycle_seconds += row.get("cycle_seconds") or 0

    @property
    def avg_value(self) -> Decimal | None:
        return self.value / self.rated if self.rated else None

    @property
    def avg_cycle_days(self) -> float | None:
        return float(self.cycle_seconds) / self.deals / 86400 if self.deals else None


class Dashboard:
    """One user's dashboard for one set of filters: the measures every figure reads."""

    def __init__(self, *, user: User, filters: DashboardFilters, source: str | None = None):
        self.user = user
        self.filters = filters
        if source is None:
            if connection.vendor != "postgresql":
                source = "live"
            elif filters.industry or filters.size or filters.competitor:
                source = "facts"  # not keys of the rollup
            else:
                source = "rollup"
        self.source = source
        self._measures: dict[str, tuple[list[dict], ...]] = {}

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

    def rolled_reason(self, pk: int | None) -> int | None:
        return None if pk is None else (self.reasons[pk].merged_into_id or pk)

    def rolled_competitor(self, pk: int) -> int:
        return self.competitors[pk].merged_into_id or pk

    def measures(self, name: str) -> tuple[list[dict], ...]:
        """The rows of READS[name], one list per GROUP BY set (read once per dashboard)."""
        if name not in self._measures:
            if not self._measures and self.source != "live":
                flush()  # this transaction's own changes, when it reads what it wrote
            read = READS[name]
            rows = _live_rows(self, read) if self.source == "live" else _sql_rows(self, read)
            self._measures[name] = rows
        return self._measures[name]

    def tally(self, rows: list[dict], key) -> dict:
        out: dict = defaultdict(Tally)
        rates = self.rates  # read even when nothing matches: a fixed query count
        for row in rows:
            out[key(row)].add(row, rates)
        return out

    @cached_property
    def lost_by_reason(self) -> dict[int | None, Tally]:
        """Lost deals in the period by rolled-up reason (None: needs a reason)."""
        _ = self.reasons  # read even when nothing matches: a fixed query count
        return self.tally(self.measures("reason")[0], lambda row: self.rolled_reason(row["reason_id"]))


def _sql_rows(dashboard: Dashboard, read: Read) -> tuple[list[dict], ...]:
    """One query: Rollup's whole months and DealFact's signed day ranges, by every set at once.

    The user's scope is split in two: the teams they manage (or everything, for an admin) read
    the rollup; their own deals outside those teams (a rep's whole scope) read the facts.
    """
    filters = dashboard.filters
    user = dashboard.user
    # The scope of deals_visible_to, as SQL: the whole of it, the teams part (rollup rows are
    # keyed by team) and the rest, the user's own deals outside those teams.
    if user.is_revops_admin:
        whole, teams, own = ("TRUE", []), ("TRUE", []), None
    elif managed := managed_team_ids(user):
        whole = ("(owner_id = %s OR team_id = ANY(%s))", [user.pk, managed])
        teams = ("team_id = ANY(%s)", [managed])
        own = ("owner_id = %s AND NOT team_id = ANY(%s)", [user.pk, managed])
    else:
        whole, teams = ("owner_id = %s", [user.pk]), None
        own = whole
    usable = (
        dashboard.source == "rollup"
        and teams is not None
        and (read.grouping in BY_OWNER or not filters.owner)
    )
    rollup_scope, facts_scope = (teams, own) if usable else (None, whole)
    where, params = [], []
    for column, value in (
        ("pipeline_id", filters.pipeline),
        ("team_id", filters.team),
        ("owner_id", filters.owner),
    ):
        if value:
            where.append(f"{column} = %s")
            params.append(value)
    fact_where, fact_params = [MEMBERS[read.grouping], *where], list(params)
    if filters.industry:
        fact_where.append("f.industry = %s")
        fact_params.append("" if filters.industry == INDUSTRY_UNKNOWN else filters.industry)
    if filters.size:
        fact_where.append("f.band = %s")
        fact_params.append(filters.size)
    if filters.competitor:
        fact_where.append(
            "f.competitor_id IN (SELECT id FROM reasons_competitor"
            " WHERE merged_into_id = %s OR (id = %s AND merged_into_id IS NULL))"
        )
        fact_params += [filters.competitor, filters.competitor]

    # Only fixed names (READS, MEMBERS, column names) go into the text; every value is a parameter.
    dims = sorted({dim for group in read.sets for dim in group})
    columns = ", ".join(dims)
    signed = ", ".join(f"{SIGNED[name]} AS {name}" for name in read.measures)
    parts, part_params = [], []

    def facts(plan: Plan, scope: tuple[str, list]) -> None:
        inside = " OR ".join("(f.closed_at >= %s AND f.closed_at <= %s)" for _ in plan.ranges)
        signs = " ".join("WHEN f.closed_at >= %s AND f.closed_at <= %s THEN %s" for _ in plan.ranges)
        parts.append(
            f"SELECT {columns}, {signed} FROM (SELECT f.*, CASE {signs} END AS s"  # noqa: S608
            f" FROM insights_dealfact f WHERE ({inside}) AND {scope[0]} AND {' AND '.join(fact_where)}) f"
        )
        part_params.extend(value for start, end, sign in plan.ranges for value in (start, end, sign))
        part_params.extend(value for start, end, _sign in plan.ranges for value in (start, end))
        part_params.extend([*scope[1], *fact_params])

    if rollup_scope is not None:
        plan = period_plan(filters.date_from, filters.date_to, rollup=True)
        if plan.months:
            conditions = "".join(f" AND {condition}" for condition in where)
            parts.append(
                f"SELECT {columns}, {', '.join(read.measures)} FROM insights_rollup"  # noqa: S608
                f" WHERE grouping = %s AND month = ANY(%s) AND {rollup_scope[0]}{conditions}"
            )
            part_params.extend([int(read.grouping), list(plan.months), *rollup_scope[1], *params])
        if plan.ranges:
            facts(Plan((), plan.ranges), rollup_scope)
    if facts_scope is not None:
        facts(period_plan(filters.date_from, filters.date_to, rollup=False), facts_scope)
    sets = ", ".join(f"({', '.join(group)})" for group in read.sets)
    union = " UNION ALL ".join(parts)
    sums = ", ".join(f"sum({name})" for name in read.measures)
    sql = (
        f"SELECT {columns}, GROUPING({columns}), {sums}"  # noqa: S608
        f" FROM ({union}) x GROUP BY GROUPING SETS ({sets}) HAVING sum(deals) <> 0"
    )
    masks = {
        sum(1 << (len(dims) - 1 - i) for i, dim in enumerate(dims) if dim not in group): index
        for index, group in enumerate(read.sets)
    }
    out: tuple[list[dict], ...] = tuple([] for _ in read.sets)
    with connection.cursor() as cursor:
        cursor.execute(sql, part_params)
        for record in cursor.fetchall():
            index = masks[record[len(dims)]]
            row = {dim: record[i] for i, dim in enumerate(dims) if dim in read.sets[index]}
            row.update(zip(read.measures, record[len(dims) + 1 :], strict=True))
            out[index].append(row)
    return out


def _seconds(value: timedelta | None) -> Decimal | None:
    if value is None:
        return None
    return Decimal(value.days * 86400 + value.seconds) + Decimal(value.microseconds) / 1_000_000


def _live_rows(dashboard: Dashboard, read: Read) -> tuple[list[dict], ...]:
    """The same rows from the deals through the ORM (one query per set)."""
    standing = Closure.objects.filter(deal=OuterRef("pk"), reopened_at__isnull=True)
    lost = Closure.objects.filter(deal=OuterRef("pk"), outcome=LOST)
    first_lost = lost.order_by("closed_at", "id")
    dimensions = {
        "month": TruncMonth("closed_at"),
        "reason_id": F("close_reason_id"),
        "competitor_id": Subquery(standing.values("competitor")[:1]),
        "industry": F("account__industry"),
        "band": _size_band(),
        "first_lost_reason_id": Subquery(first_lost.values("reason")[:1]),
        "sequence_id": Subquery(first_lost.values("nurture__sequence")[:1]),
        "reopened": Exists(lost.filter(reopened_at__isnull=False)),
    }
    rule = GROUPINGS[read.grouping]
    qs = dashboard.cohort_ever_lost() if rule.ever_lost else dashboard.closed()
    if rule.statuses is not None:
        qs = qs.filter(status__in=rule.statuses)
    if rule.with_competitor:
        qs = qs.alias(competitor_id=dimensions["competitor_id"]).filter(competitor_id__isnull=False)
    out = []
    for group in read.sets:
        named = {dim: dimensions[dim] for dim in group if dim in dimensions}
        rows = (
            qs.annotate(**named)
            .values(*group)
            .annotate(
                deals=Count("pk"),
                needs_reason=Count("pk", filter=Q(status=LOST, close_reason__isnull=True)),
                amount=Sum("amount"),
                cycle_seconds=Sum(F("closed_at") - F("created_at")),
            )
            .order_by()
        )
        out.append(
            [
                {
                    **row,
                    **({"month": row["month"].date()} if "month" in row else {}),
                    "cycle_seconds": _seconds(row["cycle_seconds"]),
                }
                for row in rows
            ]
        )
    return tuple(out)


# --- headline -------------------------------------------------------------------------------


def figure_headline(dashboard: Dashboard) -> dict:
    """Win rates, no-decision rate, lost value, average cycles and sales velocity (two queries)."""
    by_status = dashboard.tally(dashboard.measures("base")[0], lambda row: row["status"])
    won_t, lost_t, nd_t = by_status[WON], by_status[LOST], by_status[NO_DECISION]
    open_deals = dashboard.open_now().count()
    won, lost, no_decision = won_t.deals, lost_t.deals, nd_t.deals
    decided = won + lost + no_decision
    win_rate = ratio(won, won + lost)
    avg_won_amount = won_t.avg_value
    avg_cycle_won = won_t.avg_cycle_days
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
        "needs_reason": lost_t.needs_reason,
        "win_rate": win_rate,
        "inclusive_win_rate": ratio(won, decided),
        "no_decision_rate": ratio(no_decision, decided),
        "won_value": money(won_t.value),
        "lost_value": money(lost_t.value),
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
    """The period's top reasons (by lost count), month by month."""
    _ = dashboard.reasons  # read even when nothing matches: a fixed query count
    filters = dashboard.filters
    per_reason: dict[int, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    for row in dashboard.measures("reason")[1]:
        if row["reason_id"] is not None:
            per_reason[dashboard.rolled_reason(row["reason_id"])][row["month"]] += row["deals"]
    totals = {pk: sum(months.values()) for pk, months in per_reason.items()}
    top = sorted(totals, key=lambda pk: (-totals[pk], dashboard.reasons[pk].label))[:TREND_TOP_REASONS]
    months = month_starts(filters.date_from, filters.date_to)
    series = []
    for pk in top:
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
    return {"months": [month.strftime("%Y-%m") for month in months], "series": series}


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
        won, lost, no_decision = (by.get((owner, status), Tally()) for status in (WON, LOST, NO_DECISION))
        top_reason = top.get(owner)
        result.append(
            {
                "owner_id": owner,
                "rep": f"{person.first_name} {person.last_name}".strip() or person.username,
                "won": won.deals,
                "lost": lost.deals,
                "no_decision": no_decision.deals,
                "win_rate": ratio(won.deals, won.deals + lost.deals),
                "lost_value": money(lost.value),
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
    industries = dashboard.tally(
        dashboard.measures("industry")[0], lambda row: (row["industry"], row["status"])
    )
    bands = dashboard.tally(dashboard.measures("size")[0], lambda row: (row["band"], row["status"]))

    def table_rows(table: dict, dimension: str) -> list[dict]:
        out = []
        for key in {key for key, _status in table}:
            won, lost, no_decision = (
                table.get((key, status), Tally()) for status in (WON, LOST, NO_DECISION)
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
                    "win_rate": ratio(won.deals, won.deals + lost.deals),
                    "lost_value": money(lost.value),
                    "links": {"lost": dashboard.link(status=LOST, **{dimension: key or INDUSTRY_UNKNOWN})},
                }
            )
        order = list(SIZE_BANDS)
        if dimension == "size":
            return sorted(out, key=lambda r: order.index(r["segment_key"]))
        return sorted(out, key=lambda r: (-r["lost"], r["segment"]))

    return {"industry": table_rows(industries, "industry"), "size": table_rows(bands, "size")}


# --- reopen and recovery ----------------------------------------------------------------------


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


def nurture_installed() -> bool:
    return apps.is_installed("followups")


def figure_recovery_by_sequence(dashboard: Dashboard) -> dict:
    """As recovery by reason, grouped by the nurture sequence the first loss got."""
    if not nurture_installed():
        return {"rows": [], "total": None, "available": False}
    sequence_model = apps.get_model("followups", "NurtureSequence")
    rows = dashboard.measures("recovery_sequence")[0]
    names = dict(sequence_model.objects.values_list("pk", "name"))
    label = lambda key: names.get(key, "No sequence")  # noqa: E731
    result = _recovery_result(dashboard, rows, lambda row: row["sequence_id"], label, "sequence")
    result["available"] = True
    return result


# --- taxonomy health ---------------------------------------------------------------------------


def figure_taxonomy_health(dashboard: Dashboard) -> dict:
    """Share of "Other" among standard-reason losses, notes-only losses (closed in a CRM with only
    its free text, so they need a reason), and the active loss reasons nobody used in the period."""
    by_reason = dashboard.lost_by_reason
    standard = {pk: tally.deals for pk, tally in by_reason.items() if pk is not None}
    total = sum(standard.values())
    other_ids = [pk for pk in standard if dashboard.reasons[pk].category.code == OTHER_CATEGORY_CODE]
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
            "other": dashboard.link(status=LOST, category=dashboard.reasons[other_ids[0]].category_id)
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
