"""A generated data set of a few thousand deals, and the dashboard figures computed from it in
plain Python (independently of insights.selectors) for comparison.

Rows go in with bulk_create, as a CRM import would, with the closure history the figures need:
losses reopened and won back, losses reopened and lost again, reopened deals open now, lost deals
without a standard reason (where the CRM issue's `needs_reason` exists), a merged reason, a
retired reason, a merged competitor, a currency without a stored rate and accounts without a size.
"""

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from types import SimpleNamespace

from django.apps import apps
from django.db.models import Max

from deals.factories import AccountFactory, MembershipFactory, PipelineFactory, StageFactory, UserFactory
from deals.models import Closure, Deal
from deals.selectors import INDUSTRY_UNKNOWN, SIZE_BANDS
from followups.models import ClosureSequence, NurtureSequence
from insights.models import ExchangeRate
from insights.selectors import DashboardFilters
from reasons import services as taxonomy
from reasons.models import Competitor, Reason
from teams.models import Membership, User

INDUSTRIES = ["Software", "Retail", "Healthcare", "Logistics"]
EMPLOYEES = [12, 49, 50, 249, 250, 999, 1000, 5000, None]
CURRENCIES = ["USD"] * 6 + ["EUR"] * 2 + ["GBP", "CHF"]  # CHF has no stored rate
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def deal_has_needs_reason() -> bool:
    return any(f.name == "needs_reason" for f in Deal._meta.get_fields())


def build(
    world, *, deals: int = 3000, seed: int = 7, prefix: str = "", merge: bool = True
) -> SimpleNamespace:
    """Insert `deals` deals for the `world` fixture's teams; returns handles for the tests."""
    rng = random.Random(seed)
    west_rep = UserFactory(username=f"{prefix}frank", first_name="Frank", role=User.Role.REP)
    MembershipFactory(team=world.west, user=west_rep, role=Membership.Role.REP)
    renewals = PipelineFactory(name=f"{prefix}Renewals")
    renewal_stages = [
        StageFactory(pipeline=renewals, name=name, order=order, win_probability=50)
        for order, name in enumerate(["Review", "Quote", "Signature"], start=1)
    ]
    stages = {world.pipeline.pk: world.stages, renewals.pk: renewal_stages}
    accounts = [
        AccountFactory(name=f"{prefix}Account {i}", industry=INDUSTRIES[i % 4], employees=EMPLOYEES[i % 9])
        for i in range(18)
    ]
    accounts.append(AccountFactory(name=f"{prefix}Account blank", industry="", employees=None))
    reasons = list(Reason.objects.all())
    by_kind = defaultdict(list)
    for reason in reasons:
        by_kind[reason.kind].append(reason)
    competitors = list(Competitor.objects.all())
    sequences = list(NurtureSequence.objects.all())
    owners = [world.alice, world.erin, world.dave, west_rep, world.bob]
    team_of = {u.pk: (world.west if u in (world.dave, west_rep) else world.east) for u in owners}
    needs_reason_ok = deal_has_needs_reason()

    deal_rows, histories = [], []
    for index in range(deals):
        owner = owners[index % len(owners)] if index % 11 else rng.choice(owners)
        pipeline = world.pipeline if rng.random() < 0.75 else renewals
        stage = rng.choice(stages[pipeline.pk])
        created = NOW - timedelta(days=rng.uniform(1, 800), hours=rng.uniform(0, 24))
        amount = Decimal(rng.randrange(1000, 90000)) + Decimal(rng.randrange(0, 100)) / 100
        roll = rng.random()
        status = "open" if roll < 0.14 else "won" if roll < 0.48 else "lost" if roll < 0.84 else "no_decision"
        # Earlier closes, all reopened: (outcome, closed_at, reopened_at).
        history = []
        moment = created
        for _ in range(rng.choice([0, 0, 0, 0, 1, 1, 2])):
            closed = moment + timedelta(days=rng.uniform(2, 60))
            reopened = closed + timedelta(days=rng.uniform(0, 40))
            history.append((rng.choice(["lost", "lost", "lost", "no_decision", "won"]), closed, reopened))
            moment = reopened
        closed_at = None if status == "open" else moment + timedelta(days=rng.uniform(1, 120), seconds=index)
        deal = Deal(
            name=f"{prefix}{team_of[owner.pk].name}-deal-{index:05d}",
            account=rng.choice(accounts),
            owner=owner,
            team=team_of[owner.pk],
            pipeline=pipeline,
            stage=stage,
            amount=amount,
            currency=rng.choice(CURRENCIES),
            status=status,
            created_at=created,
            closed_at=closed_at,
        )
        standing = None
        if status != "open":
            reason, competitor, needs_reason = None, None, False
            if status == "lost" and needs_reason_ok and rng.random() < 0.05:
                needs_reason = True
            elif status == "lost":
                reason = rng.choice(by_kind["loss"])
            elif status == "no_decision":
                reason = rng.choice(by_kind["no_decision"])
            elif rng.random() < 0.8:
                reason = rng.choice(by_kind["win"])
            if status in ("won", "lost") and (
                (reason is not None and reason.requires_competitor) or rng.random() < 0.2
            ):
                competitor = rng.choice(competitors)
            deal.close_reason, deal.close_reason_kind = reason, reason.kind if reason else None
            if needs_reason:
                deal.needs_reason = True
            standing = (status, closed_at, None, reason, competitor, needs_reason)
        deal_rows.append(deal)
        histories.append((history, standing))

    Deal.objects.bulk_create(deal_rows, batch_size=1000)
    closures, first_lost = [], []
    for deal, (history, standing) in zip(deal_rows, histories, strict=True):
        rows = [
            (outcome, closed, reopened, rng.choice(by_kind[_kind(outcome)]), None, False)
            for outcome, closed, reopened in history
        ]
        if standing:
            rows.append(standing)
        seen_lost = False
        for outcome, closed, reopened, reason, competitor, needs_reason in rows:
            closure = Closure(
                deal=deal,
                outcome=outcome,
                reason=reason,
                reason_kind=reason.kind if reason else None,
                competitor=competitor,
                stage_at_close=deal.stage,
                amount_at_close=deal.amount,
                currency=deal.currency,
                closed_at=closed,
                reopened_at=reopened,
            )
            if needs_reason:
                closure.needs_reason = True
            closures.append(closure)
            if outcome == "lost" and not seen_lost:
                seen_lost = True
                first_lost.append(closure)
    Closure.objects.bulk_create(closures, batch_size=2000)
    if sequences:
        closure_sequence = apps.get_model("followups", "ClosureSequence")
        closure_sequence.objects.bulk_create(
            closure_sequence(closure=closure, sequence=rng.choice(sequences), source="rep")
            if rng.random() < 0.7
            else closure_sequence(closure=closure, sequence=None, source="skipped")
            for closure in first_lost
        )
    # Taxonomy changes after the fact: figures roll a merged reason up to its survivor, and a
    # retired reason still counts in its period.
    codes = {reason.code: reason for reason in reasons}
    if not merge:
        return SimpleNamespace(renewals=renewals, frank=west_rep, accounts=accounts, competitors=competitors)
    taxonomy.reason_merge(actor=world.carol, reason=codes["no-budget"], into=codes["price-too-high"])
    taxonomy.reason_retire(actor=world.carol, reason=codes["champion-left"])
    taxonomy.competitor_merge(actor=world.carol, competitor=competitors[-1], into=competitors[0])
    return SimpleNamespace(renewals=renewals, frank=west_rep, accounts=accounts, competitors=competitors)


def _kind(outcome: str) -> str:
    return {"lost": "loss", "won": "win", "no_decision": "no_decision"}[outcome]


# --- the independent computation ---------------------------------------------------------------


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


def latest_close() -> datetime | None:
    return Closure.objects.aggregate(latest=Max("closed_at"))["latest"]


def period(start: date, end: date, **kwargs) -> DashboardFilters:
    return DashboardFilters(date_from=start, date_to=end, **kwargs)
