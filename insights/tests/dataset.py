"""A generated data set of a few thousand deals, and the dashboard figures computed from it in
plain Python (independently of insights.selectors) for comparison.

Rows go in with bulk_create, as a CRM import would, with the closure history the figures need:
losses reopened and won back, losses reopened and lost again, reopened deals open now, lost deals
without a standard reason (where the CRM issue's `needs_reason` exists), a merged reason, a
retired reason, a merged competitor, a currency without a stored rate and accounts without a size.
"""

import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

from django.apps import apps
from django.db.models import Max

from deals.factories import AccountFactory, MembershipFactory, PipelineFactory, StageFactory, UserFactory
from deals.models import Closure, Deal
from followups.models import NurtureSequence
from insights.selectors import DashboardFilters
from insights.tests.expected import Expected, Row, load_rows  # noqa: F401 - the tests' names for them
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


# --- the independent computation: insights/tests/expected.py --------------------------------------


def latest_close() -> datetime | None:
    return Closure.objects.aggregate(latest=Max("closed_at"))["latest"]


def period(start: date, end: date, **kwargs) -> DashboardFilters:
    return DashboardFilters(date_from=start, date_to=end, **kwargs)
