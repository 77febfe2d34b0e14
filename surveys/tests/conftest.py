"""Survey fixtures: the follow-ups' real SMTP server and Celery workers, and lost deals with a buyer."""

import pytest

from deals import services as deal_services
from followups.tests.conftest import lost_deal, redis_clean, sequence, smtp_inbox, workers  # noqa: F401 - fixtures
from surveys.models import Survey, SurveySource

AMOUNT = "48213.77"
NOTE = "Internal: Noor's CFO hates us, amount was 48213.77, push again in Q3"


@pytest.fixture
def lost_with_buyer(world, lost_deal):  # noqa: F811 - the imported fixture
    """A factory: a deal of `owner` lost for `reason` (code) with a note and a buyer contact."""

    def make(owner="alice", reason="price-too-high", email="noor@birch.example", name="Noor Birch", **kwargs):
        deal = lost_deal(
            owner=owner, contacts=[(name, email)], amount=AMOUNT, name=f"Birch expansion {owner}"
        )
        close = deal_services.deal_mark_no_decision if reason in NO_DECISION else deal_services.deal_mark_lost
        extra = {"competitor": kwargs.pop("competitor")} if "competitor" in kwargs else {}
        close(deal=deal, reason=world.reasons[reason], actor=getattr(world, owner), note=NOTE, **extra)
        return deal

    return make


NO_DECISION = {"status-quo", "not-a-priority", "no-consensus", "budget-frozen"}


@pytest.fixture
def survey_for(db):
    """A factory: a survey (as if e-mailed) for a deal's standing close and first contact."""
    from django.utils import timezone

    def make(deal, state="sent"):
        closure = deal.closures.get(reopened_at__isnull=True)
        return Survey.objects.create(
            closure=closure,
            deal=deal,
            contact=deal.contacts.order_by("pk").first(),
            source=SurveySource.REP,
            state=state,
            sent_at=timezone.now() if state == "sent" else None,
        )

    return make
