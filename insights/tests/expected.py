"""The dashboard figures computed from the generated data set (insights.tests.dataset) in plain
Python, independently of insights.selectors, for comparison."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from deals.models import Closure, Deal
from deals.selectors import INDUSTRY_UNKNOWN, SIZE_BANDS
from followups.models import ClosureSequence
from insights.models import ExchangeRate
from insights.selectors import DashboardFilters
from reasons.models import Competitor, Reason
from teams.models import Membership, User


@dataclass
class Row:
    id: int
    name: str
    owner_id: int
    team_id: int
    pipeline_id: int
    stage_id: int
    status: str
    reason_id: int | None
    closed_at: datetime | None
    created_at: datetime
    amount: Decimal
    currency: str
    industry: str
    employees: int | None
    closures: list = field(default_factory=list)


def load_rows() -> list[Row]:
    """Every deal with its closures, read straight from the tables."""
    rows = {
        d["id"]: Row(
            id=d["id"],
            name=d["name"],
            owner_id=d["owner_id"],
            team_id=d["team_id"],
            pipeline_id=d["pipeline_id"],
            stage_id=d["stage_id"],
            status=d["status"],
            reason_id=d["close_reason_id"],
            closed_at=d["closed_at"],
            created_at=d["created_at"],
            amount=d["amount"],
            currency=d["currency"],
            industry=d["account__industry"],
            employees=d["account__employees"],
        )
        for d in Deal.objects.values(
            "id",
            "name",
            "owner_id",
            "team_id",
            "pipeline_id",
            "stage_id",
            "status",
            "close_reason_id",
            "closed_at",
            "created_at",
            "amount",
            "currency",
            "account__industry",
            "account__employees",
        )
    }
    sequence_of = dict(ClosureSequence.objects.values_list("closure_id", "sequence_id"))
    for c in Closure.objects.values(
        "id", "deal_id", "outcome", "reason_id", "competitor_id", "closed_at", "reopened_at"
    ):
        c["sequence_id"] = sequence_of.get(c["id"])
        rows[c["deal_id"]].closures.append(c)
    return list(rows.values())


class Expected:
    """The dashboard figures for one user and one set of filters, in plain Python."""

    def __init__(self, rows: list[Row], user: User, filters: DashboardFilters):
        self.filters = filters
        self.reasons = {r.pk: r for r in Reason.objects.select_related("category")}
        self.competitors = {c.pk: c for c in Competitor.objects.all()}
        self.rates = dict(ExchangeRate.objects.values_list("currency", "rate"))
        managed = set(
            Membership.objects.filter(user=user, role=Membership.Role.MANAGER).values_list(
                "team_id", flat=True
            )
        )
        if user.is_revops_admin:
            visible = rows
        else:
            visible = [r for r in rows if r.owner_id == user.pk or r.team_id in managed]
        self.start = datetime.combine(filters.date_from, time.min, tzinfo=UTC)
        self.end = datetime.combine(filters.date_to + timedelta(days=1), time.min, tzinfo=UTC)
        self.scoped = [r for r in visible if self._matches(r)]
        self.closed = [r for r in self.scoped if r.closed_at and self.start <= r.closed_at < self.end]

    # helpers
    def rolled(self, reason_id):
        if reason_id is None:
            return None
        reason = self.reasons[reason_id]
        return reason.merged_into_id or reason.pk

    def rolled_competitor(self, competitor_id):
        if competitor_id is None:
            return None
        return self.competitors[competitor_id].merged_into_id or competitor_id

    def value(self, row: Row) -> Decimal | None:
        rate = self.rates.get(row.currency)
        return None if rate is None else row.amount * rate

    def standing(self, row: Row):
        return next((c for c in row.closures if c["reopened_at"] is None), None)

    def band(self, row: Row) -> str:
        if row.employees is None:
            return "unknown"
        for key, (_label, low, below) in SIZE_BANDS.items():
            if (
                key != "unknown"
                and (low is None or row.employees >= low)
                and (below is None or row.employees < below)
            ):
                return key
        raise AssertionError(row.employees)

    def _matches(self, row: Row) -> bool:
        f = self.filters
        if f.pipeline and row.pipeline_id != f.pipeline:
            return False
        if f.team and row.team_id != f.team:
            return False
        if f.owner and row.owner_id != f.owner:
            return False
        if f.industry and row.industry != ("" if f.industry == INDUSTRY_UNKNOWN else f.industry):
            return False
        if f.size and self.band(row) != f.size:
            return False
        if f.competitor:
            standing = self.standing(row)
            if standing is None or self.rolled_competitor(standing["competitor_id"]) != f.competitor:
                return False
        return True

    def total_value(self, rows) -> Decimal:
        return sum((v for v in (self.value(r) for r in rows) if v is not None), Decimal(0))

    # figures
    def headline(self) -> dict:
        by = defaultdict(list)
        for r in self.closed:
            by[r.status].append(r)
        won, lost, nd = len(by["won"]), len(by["lost"]), len(by["no_decision"])
        won_values = [v for v in (self.value(r) for r in by["won"]) if v is not None]
        avg_won = sum(won_values, Decimal(0)) / len(won_values) if won_values else None

        def cycle(rows):
            if not rows:
                return None
            return sum((r.closed_at - r.created_at).total_seconds() for r in rows) / len(rows) / 86400

        open_now = sum(1 for r in self.scoped if r.status == "open")
        win_rate = won / (won + lost) if won + lost else None
        cycle_won = cycle(by["won"])
        velocity = None
        if win_rate is not None and avg_won is not None and cycle_won:
            velocity = float(open_now) * float(avg_won) * win_rate / cycle_won
        return {
            "won": won,
            "lost": lost,
            "no_decision": nd,
            "closed": won + lost + nd,
            "needs_reason": sum(1 for r in by["lost"] if r.reason_id is None),
            "win_rate": win_rate,
            "inclusive_win_rate": won / (won + lost + nd) if won + lost + nd else None,
            "no_decision_rate": nd / (won + lost + nd) if won + lost + nd else None,
            "won_value": self.total_value(by["won"]),
            "lost_value": self.total_value(by["lost"]),
            "avg_won_amount": avg_won,
            "avg_cycle_days_won": cycle_won,
            "avg_cycle_days_lost": cycle(by["lost"]),
            "open_deals": open_now,
            "sales_velocity_per_day": velocity,
        }

    def lost_with_reason(self):
        return [r for r in self.closed if r.status == "lost" and r.reason_id is not None]

    def loss_by_reason(self) -> dict:
        groups = defaultdict(list)
        for r in self.lost_with_reason():
            groups[self.rolled(r.reason_id)].append(r)
        total = sum(len(g) for g in groups.values())
        total_value = sum((self.total_value(g) for g in groups.values()), Decimal(0))
        return {
            pk: {
                "lost": len(g),
                "share": len(g) / total,
                "value": self.total_value(g),
                "value_share": float(self.total_value(g)) / float(total_value) if total_value else None,
            }
            for pk, g in groups.items()
        }

    def loss_by_category(self) -> dict:
        groups = defaultdict(list)
        for r in self.lost_with_reason():
            groups[self.reasons[self.rolled(r.reason_id)].category_id].append(r)
        total = sum(len(g) for g in groups.values())
        return {
            pk: {"lost": len(g), "share": len(g) / total, "value": self.total_value(g)}
            for pk, g in groups.items()
        }

    def reason_trend(self) -> dict:
        counts = defaultdict(lambda: defaultdict(int))
        for r in self.lost_with_reason():
            counts[self.rolled(r.reason_id)][r.closed_at.strftime("%Y-%m")] += 1
        totals = {pk: sum(m.values()) for pk, m in counts.items()}
        ranked = sorted(totals, key=lambda pk: (-totals[pk], self.reasons[pk].label))  # every reason
        return {pk: dict(counts[pk]) for pk in ranked}

    def losses_by_stage(self) -> dict:
        groups = defaultdict(list)
        for r in self.closed:
            if r.status == "lost":
                groups[r.stage_id].append(r)
        return {pk: {"lost": len(g), "value": self.total_value(g)} for pk, g in groups.items()}

    def by_competitor(self) -> dict:
        out = defaultdict(lambda: {"won": 0, "lost": 0, "lost_rows": []})
        for r in self.closed:
            if r.status not in ("won", "lost"):
                continue
            competitor = self.rolled_competitor(self.standing(r)["competitor_id"])
            if competitor is None:
                continue
            out[competitor][r.status] += 1
            if r.status == "lost":
                out[competitor]["lost_rows"].append(r)
        return {
            pk: {
                "won": e["won"],
                "lost": e["lost"],
                "competitive_win_rate": e["won"] / (e["won"] + e["lost"]),
                "lost_value": self.total_value(e["lost_rows"]),
            }
            for pk, e in out.items()
        }

    def by_rep(self) -> dict:
        out = {}
        for r in self.closed:
            e = out.setdefault(
                r.owner_id,
                {"won": 0, "lost": 0, "no_decision": 0, "lost_rows": [], "reasons": defaultdict(int)},
            )
            e[r.status] += 1
            if r.status == "lost":
                e["lost_rows"].append(r)
                if r.reason_id is not None:
                    e["reasons"][self.rolled(r.reason_id)] += 1
        result = {}
        for owner, e in out.items():
            top = min(e["reasons"], key=lambda pk: (-e["reasons"][pk], self.reasons[pk].label), default=None)
            result[owner] = {
                "won": e["won"],
                "lost": e["lost"],
                "no_decision": e["no_decision"],
                "win_rate": e["won"] / (e["won"] + e["lost"]) if e["won"] + e["lost"] else None,
                "lost_value": self.total_value(e["lost_rows"]),
                "top_reason_id": top,
                "top_reason_lost": e["reasons"][top] if top else 0,
            }
        return result

    def by_segment(self) -> dict:
        out = {}
        for r in self.closed:
            for key in (("industry", r.industry), ("size", self.band(r))):
                e = out.setdefault(key, {"won": 0, "lost": 0, "no_decision": 0, "lost_rows": []})
                e[r.status] += 1
                if r.status == "lost":
                    e["lost_rows"].append(r)
        return {
            key: {
                "won": e["won"],
                "lost": e["lost"],
                "no_decision": e["no_decision"],
                "lost_value": self.total_value(e["lost_rows"]),
            }
            for key, e in out.items()
        }

    def recovery(self, group: str) -> dict:
        out = {}
        for r in self.scoped:
            lost = sorted(
                (c for c in r.closures if c["outcome"] == "lost"), key=lambda c: (c["closed_at"], c["id"])
            )
            if not lost:
                continue
            latest = max(c["closed_at"] for c in r.closures)
            if not (self.start <= latest < self.end):
                continue
            first = lost[0]
            key = self.rolled(first["reason_id"]) if group == "reason" else first["sequence_id"]
            e = out.setdefault(key, {"lost": 0, "reopened": 0, "won": 0, "won_rows": []})
            e["lost"] += 1
            e["reopened"] += any(c["reopened_at"] is not None for c in lost)
            if r.status == "won":
                e["won"] += 1
                e["won_rows"].append(r)
        return {
            key: {
                "lost": e["lost"],
                "reopened": e["reopened"],
                "won": e["won"],
                "recovered_value": self.total_value(e["won_rows"]),
            }
            for key, e in out.items()
        }

    def taxonomy_health(self) -> dict:
        lost = self.lost_with_reason()
        other = sum(1 for r in lost if self.reasons[self.rolled(r.reason_id)].is_catch_all)
        used = {self.rolled(r.reason_id) for r in lost}
        unused = {r.pk for r in self.reasons.values() if r.kind == "loss" and r.active and r.pk not in used}
        return {
            "other": other,
            "other_share": other / len(lost) if lost else None,
            "needs_reason": sum(1 for r in self.closed if r.status == "lost" and r.reason_id is None),
            "unused": unused,
        }
