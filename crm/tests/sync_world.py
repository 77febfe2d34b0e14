"""What every sync test starts from: an EMPTY closedlost (the starter taxonomy and nurture
sequences its migrations bring, people and teams, nothing else) with one CRM connection made
through the connection service, and helpers that compare what arrived with the fake CRM's data."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from crm import services
from deals.factories import MembershipFactory, UserFactory
from deals.models import Account, Contact, Deal, Pipeline, Stage
from followups.models import NurtureStep
from teams.models import Membership, Team, User

NOW = datetime.now(UTC)


@pytest.fixture
def people(db, reasons):
    """Teams and people only: no pipeline, account, contact or deal."""
    east, west = Team.objects.create(name="East"), Team.objects.create(name="West")
    users = {}
    for username, team in [("alice", east), ("dave", west)]:
        users[username] = UserFactory(
            username=username, role=User.Role.REP, email=f"{username}@ourco.example"
        )
        MembershipFactory(team=team, user=users[username], role=Membership.Role.REP)
    users["carol"] = UserFactory(username="carol", role=User.Role.ADMIN)
    assert not (Pipeline.objects.exists() or Account.objects.exists() or Contact.objects.exists())
    assert not Deal.objects.exists() and not Stage.objects.exists()
    return users


def connect(kind: str, fake, **fields):
    """The connection as an admin configures it (the service behind the connection page)."""
    connection, _ = services.connection_save(kind=kind, base_url=fake.url, **fields)
    return connection


def nurture_email_after(days: int) -> None:
    """The admin's nurture rule: the standard sequence's first buyer e-mail `days` after the loss
    (the starter set has it at 90 days; a test cannot wait that long)."""
    from followups.models import NurtureSequence, ReasonSequenceDefault
    from followups.starter import load_starter_sequences
    from reasons.models import Reason

    if not NurtureSequence.objects.exists():  # a transactional test before this one emptied the tables
        load_starter_sequences(
            sequence_model=NurtureSequence,
            step_model=NurtureStep,
            default_model=ReasonSequenceDefault,
            reason_model=Reason,
        )
    step = NurtureStep.objects.filter(sequence__name="Standard nurture", action="contact_email").order_by(
        "days_after_close"
    )[0]
    NurtureStep.objects.filter(pk=step.pk).update(days_after_close=days)


def period_query(start: date | None = None) -> dict:
    start = start or (NOW - timedelta(days=365 * 3)).date()
    return {"period": "custom", "from": start.isoformat(), "to": (NOW + timedelta(days=1)).date().isoformat()}


def expected_figures(closed: list[dict]) -> dict:
    """Headline counts and the loss-by-reason counts, computed from the fake CRM's own deals
    (`closed`: dicts with outcome, reason code or None)."""
    won = sum(1 for d in closed if d["outcome"] == "won")
    lost = sum(1 for d in closed if d["outcome"] == "lost")
    by_reason: dict[str, int] = {}
    for d in closed:
        if d["outcome"] == "lost" and d["reason"]:
            by_reason[d["reason"]] = by_reason.get(d["reason"], 0) + 1
    win_rate = Decimal(won) / Decimal(won + lost) if won + lost else None
    return {
        "won": won,
        "lost": lost,
        "needs_reason": sum(1 for d in closed if d["outcome"] == "lost" and not d["reason"]),
        "win_rate": win_rate,
        "by_reason": by_reason,
    }
