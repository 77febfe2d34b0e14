"""The measures every figure reads: the summary (PostgreSQL) or the deals themselves (any database)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import cached_property

from django.db import connection
from django.db.models import (
    Case,
    CharField,
    Count,
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
from django.db.models.functions import TruncMonth

from deals.models import Closure, Deal
from deals.selectors import (
    DISQUALIFYING_Q,
    INDUSTRY_UNKNOWN,
    SIZE_BANDS,
    deals_filtered,
    managed_team_ids,
    size_band_q,
)
from insights.filters import (
    DISQUALIFIED,
    LOST,
    MONEY,
    NEEDS_A_REASON,
    OPEN,
    DashboardFilters,
    day_bounds,
    exchange_rates,
    month_end,
    month_starts,
)
from insights.groupings import BY_OWNER, GROUPINGS, MEMBERS
from insights.models import Rollup
from insights.rollup import flush
from reasons.models import Competitor, Reason
from teams.models import User

# --- the measures every figure reads ---------------------------------------------------------
#
# A figure asks for one grouping of the closed deals (or of the deals ever lost) under the
# dashboard's scope, filters and period, summed by a few dimensions: deals, deals needing a
# reason, amount (per currency: converted here) and cycle seconds. Three sources give the same
# rows (tests hold them equal):
# - "rollup" (PostgreSQL): the monthly Rollup for the period's whole months, the daily RollupDay
#   for the days of partial months (added, or taken off a whole month when that reads fewer rows);
#   DealFact only for a user's own deals outside the teams they manage (a rep's whole scope);
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
    "amount_sq": "s * amount * amount",  # the findings' lost value test
}
# The same over RollupDay rows (already sums).
SIGNED_DAYS = {name: f"s * {name}" for name in (*MEASURES, "amount_sq")}


@dataclass(frozen=True)
class Read:
    grouping: int
    sets: tuple[tuple[str, ...], ...]  # each a GROUP BY of dimensions (DealFact column names)
    measures: tuple[str, ...] = ("deals", "amount")  # what the figures use (numeric sums cost)


# Σ amount² too where the findings test lost value (insights.findings_value): by rep, team and
# pipeline from "base", by industry, size and stage from theirs.
VALUE_MEASURES = ("deals", "amount", "amount_sq")
READS = {
    "base": Read(
        Grouping.BASE,
        tuple((dim, "status", "currency") for dim in ("owner_id", "team_id", "pipeline_id")),
        (*MEASURES, "amount_sq"),
    ),
    "reason": Read(Grouping.REASON, (("reason_id", "currency"), ("month", "reason_id"))),
    "rep_reason": Read(Grouping.REP_REASON, (("owner_id", "reason_id"),), ("deals",)),
    # By team, by pipeline and by rep within each team (the findings' rates).
    "groups": Read(
        Grouping.BASE,
        (("team_id", "status"), ("pipeline_id", "status"), ("team_id", "owner_id", "status")),
        ("deals",),
    ),
    "stage": Read(Grouping.STAGE, (("stage_id", "currency"),), VALUE_MEASURES),
    "competitor": Read(Grouping.COMPETITOR, (("competitor_id", "status", "currency"),)),
    "industry": Read(Grouping.INDUSTRY, (("industry", "status", "currency"),), VALUE_MEASURES),
    "size": Read(Grouping.SIZE, (("band", "status", "currency"),), VALUE_MEASURES),
    "recovery_reason": Read(
        Grouping.RECOVERY_REASON, (("first_lost_reason_id", "reopened", "status", "currency"),)
    ),
    "recovery_sequence": Read(
        Grouping.RECOVERY_SEQUENCE, (("sequence_id", "reopened", "status", "currency"),)
    ),
}


@dataclass(frozen=True)
class Plan:
    """Where a period's rows come from: whole months of Rollup, and signed day ranges (first and
    last day, inclusive) of RollupDay (or of DealFact, for a scope the rollups do not key)."""

    months: tuple[date, ...]
    ranges: tuple[tuple[date, date, int], ...]


def period_plan(first: date, last: date, *, rollup: bool) -> Plan:
    if not rollup:
        return Plan((), ((first, last, 1),))
    months, ranges = [], []
    for month in month_starts(first, last):
        end = month_end(month)
        start, stop = max(month, first), min(end, last)
        if (start, stop) == (month, end):
            months.append(month)
            continue
        inside = (stop - start).days + 1
        if inside * 2 <= (end - month).days + 1:
            ranges.append((start, stop, 1))
            continue
        # Most of the month: the whole month less the days outside the period.
        months.append(month)
        if start > month:
            ranges.append((month, start - timedelta(days=1), -1))
        if stop < end:
            ranges.append((stop + timedelta(days=1), end, -1))
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
    def includes_disqualified(self) -> bool:
        """Whether win rates count disqualified losses (the admin's setting, or the environment's)."""
        from insights.org_settings import win_rate_includes_disqualified

        return win_rate_includes_disqualified()

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

    @cached_property
    def open_deals(self) -> int:
        """How many deals are open now under every filter but the period (the same for a
        comparison period: insights.comparison shares it)."""
        return self.open_now().count()

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


Sql = tuple[str, list]  # a condition or query, and its parameters


def _scopes(user: User) -> tuple[Sql, Sql | None, Sql | None]:
    """The scope of deals_visible_to, as SQL: the whole of it, the teams part (rollup rows are
    keyed by team; None: no teams) and the rest, the user's own deals outside those teams."""
    if user.is_revops_admin:
        return ("TRUE", []), ("TRUE", []), None
    if managed := managed_team_ids(user):
        return (
            ("(owner_id = %s OR team_id = ANY(%s))", [user.pk, managed]),
            ("team_id = ANY(%s)", [managed]),
            ("owner_id = %s AND NOT team_id = ANY(%s)", [user.pk, managed]),
        )
    whole = ("owner_id = %s", [user.pk])
    return whole, None, whole


def _key_filters(filters: DashboardFilters) -> tuple[list[str], list]:
    """The filters that are keys of both the rollup and the facts."""
    where, params = [], []
    for column, value in (
        ("pipeline_id", filters.pipeline),
        ("team_id", filters.team),
        ("owner_id", filters.owner),
    ):
        if value:
            where.append(f"{column} = %s")
            params.append(value)
    return where, params


def _fact_filters(filters: DashboardFilters, read: Read, where: list[str], params: list) -> Sql:
    """Every filter over the facts (f): the grouping's members, the keys and the facts' own."""
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
    return " AND ".join(fact_where), fact_params


def _facts_part(plan: Plan, scope: Sql, select: str, conditions: Sql) -> Sql:
    """DealFact rows of the plan's day ranges, each signed by the range it falls in."""
    bounds = [day_bounds(first, last) for first, last, _sign in plan.ranges]
    inside = " OR ".join("(f.closed_at >= %s AND f.closed_at <= %s)" for _ in bounds)
    signs = " ".join("WHEN f.closed_at >= %s AND f.closed_at <= %s THEN %s" for _ in bounds)
    sql = (
        f"SELECT {select} FROM (SELECT f.*, CASE {signs} END AS s"  # noqa: S608
        f" FROM insights_dealfact f WHERE ({inside}) AND {scope[0]} AND {conditions[0]}) f"
    )
    signed = zip(bounds, [sign for *_days, sign in plan.ranges], strict=True)
    params = [value for (start, end), sign in signed for value in (start, end, sign)]
    params += [value for start, end in bounds for value in (start, end)]
    return sql, [*params, *scope[1], *conditions[1]]


def _days_part(plan: Plan, read: Read, scope: Sql, columns: list[str], keys: Sql) -> Sql:
    """RollupDay rows of the plan's day ranges, each signed by the range it falls in."""
    inside = " OR ".join("day BETWEEN %s AND %s" for _ in plan.ranges)
    signs = " ".join("WHEN day BETWEEN %s AND %s THEN %s" for _ in plan.ranges)
    select = ", ".join(
        "date_trunc('month', day)::date AS month" if column == "month" else column for column in columns
    )
    signed = ", ".join(f"{SIGNED_DAYS[name]} AS {name}" for name in read.measures)
    where = "".join(f" AND {condition}" for condition in keys[0])
    sql = (
        f"SELECT {select}, {signed} FROM (SELECT d.*, CASE {signs} END AS s"  # noqa: S608
        f" FROM insights_rollupday d WHERE grouping = %s AND ({inside}) AND {scope[0]}{where}) d"
    )
    params = [value for start, end, sign in plan.ranges for value in (start, end, sign)]
    params += [int(read.grouping)] + [value for start, end, _sign in plan.ranges for value in (start, end)]
    return sql, [*params, *scope[1], *keys[1]]


def _sql_parts(dashboard: Dashboard, read: Read, dims: list[str]) -> Sql:
    """The UNION ALL of rollup months, rollup days and fact ranges the period and the scope need.

    The user's scope is split in two: the teams they manage (or everything, for an admin) read
    the rollups; their own deals outside those teams (a rep's whole scope) read the facts.
    """
    filters = dashboard.filters
    columns = ", ".join(dims)
    whole, teams, own = _scopes(dashboard.user)
    usable = (
        dashboard.source == "rollup"
        and teams is not None
        and (read.grouping in BY_OWNER or not filters.owner)
    )
    rollup_scope, facts_scope = (teams, own) if usable else (None, whole)
    where, params = _key_filters(filters)
    conditions = _fact_filters(filters, read, where, params)
    signed = ", ".join(f"{SIGNED[name]} AS {name}" for name in read.measures)
    parts: list[Sql] = []
    if rollup_scope is not None:
        plan = period_plan(filters.date_from, filters.date_to, rollup=True)
        if plan.months:
            keys = "".join(f" AND {condition}" for condition in where)
            parts.append(
                (
                    f"SELECT {columns}, {', '.join(read.measures)} FROM insights_rollup"  # noqa: S608
                    f" WHERE grouping = %s AND month = ANY(%s) AND {rollup_scope[0]}{keys}",
                    [int(read.grouping), list(plan.months), *rollup_scope[1], *params],
                )
            )
        if plan.ranges:
            parts.append(_days_part(Plan((), plan.ranges), read, rollup_scope, dims, (where, params)))
    if facts_scope is not None:
        plan = period_plan(filters.date_from, filters.date_to, rollup=False)
        parts.append(_facts_part(plan, facts_scope, f"{columns}, {signed}", conditions))
    return " UNION ALL ".join(sql for sql, _ in parts), [value for _, values in parts for value in values]


def _sql_rows(dashboard: Dashboard, read: Read) -> tuple[list[dict], ...]:
    """One query: Rollup's whole months and RollupDay's signed day ranges (or DealFact's), by every
    set at once."""
    # Only fixed names (READS, MEMBERS, column names) go into the text; every value is a parameter.
    dims = sorted({dim for group in read.sets for dim in group})
    columns = ", ".join(dims)
    union, params = _sql_parts(dashboard, read, dims)
    sets = ", ".join(f"({', '.join(group)})" for group in read.sets)
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
        cursor.execute(sql, params)
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
    # The status a deal counts under: a loss for a disqualifying reason is "disqualified".
    qs = qs.annotate(
        fact_status=Case(
            When(Q(status=LOST) & DISQUALIFYING_Q, then=Value(DISQUALIFIED)),
            default=F("status"),
            output_field=CharField(),
        )
    )
    if rule.statuses is not None:
        qs = qs.filter(fact_status__in=rule.statuses)
    if rule.with_competitor:
        qs = qs.alias(competitor_id=dimensions["competitor_id"]).filter(competitor_id__isnull=False)
    out = []
    for group in read.sets:
        named = {dim: dimensions[dim] for dim in group if dim in dimensions}
        columns = ["fact_status" if dim == "status" else dim for dim in group]
        rows = (
            qs.annotate(**named)
            .values(*columns)
            .annotate(
                # Before `amount` is the sum's name: F("amount") is still the deal's.
                **({"amount_sq": Sum(F("amount") * F("amount"))} if "amount_sq" in read.measures else {}),
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
                    **{("status" if key == "fact_status" else key): value for key, value in row.items()},
                    **({"month": row["month"].date()} if "month" in row else {}),
                    "cycle_seconds": _seconds(row["cycle_seconds"]),
                }
                for row in rows
            ]
        )
    return tuple(out)


def _size_band() -> Case:
    return Case(
        *[When(size_band_q(key), then=Value(key)) for key in SIZE_BANDS if key != "unknown"],
        default=Value("unknown"),
    )
