"""Review fixtures: a week of closes (and the week before) through the services, with a planted
shift in East (losses to Globex), a steady West, deals waiting for a reason (from the CRM) and
answered buyer surveys on both sides."""

from datetime import UTC, datetime, time, timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from deals import services
from deals.factories import ContactFactory
from reasons.models import Competitor, Reason, ReasonKind
from reviews.services import comparison_of, period_ended
from surveys import services as surveys
from teams.models import User

EAST_WORDS = ["Eastwood", "Globex", "East-only comment", "East", "Alice", "Erin", "Bob"]


def _noon(day) -> datetime:
    return datetime.combine(day, time(12), tzinfo=UTC)


@pytest.fixture
def week(world):
    """The week that ended before today (Monday–Sunday) and the week before it, with closes."""
    start, end = period_ended("weekly", timezone.localdate())
    comparison = comparison_of("weekly", start, end)
    now_day, then_day = _noon(start + timedelta(days=2)), _noon(comparison.date_from + timedelta(days=2))
    globex = Competitor.objects.create(name="Globex")
    price = world.reasons["price-too-high"]
    lost_to = Reason.objects.filter(kind=ReasonKind.LOSS, requires_competitor=True).first() or price
    win = Reason.objects.filter(kind=ReasonKind.WIN, active=True).first()
    created = _noon(comparison.date_from - timedelta(days=60))
    count = iter(range(10_000))

    def close(owner, *, outcome, when, reason=None, competitor=None, prefix):
        deal = world.deal(owner=owner, created_at=created, name=f"{prefix} {next(count)}")
        if outcome == "won":
            services.deal_mark_won(deal=deal, reason=reason, actor=deal.owner, closed_at=when)
        elif outcome == "crm":
            services.deal_mark_lost_from_crm(deal=deal, crm_reason_text="Went quiet", closed_at=when)
        else:
            services.deal_mark_lost(
                deal=deal, reason=reason, actor=deal.owner, competitor=competitor, closed_at=when,
                skip_nurture=True,
            )  # fmt: skip
        return deal

    east = ("alice", "erin")
    for when, to_globex, other in ((then_day, 4, 36), (now_day, 26, 14)):
        for i in range(to_globex):
            close(
                east[i % 2], outcome="lost", when=when, reason=lost_to, competitor=globex, prefix="Eastwood"
            )
        for i in range(other):
            close(east[i % 2], outcome="lost", when=when, reason=price, prefix="Eastwood")
        for i in range(20):
            close(east[i % 2], outcome="won", when=when, reason=win, prefix="Eastwood")
    for when in (then_day, now_day):
        for _ in range(15):
            close("dave", outcome="lost", when=when, reason=price, prefix="Westfield")
        for _ in range(12):
            close("dave", outcome="won", when=when, reason=win, prefix="Westfield")
    for _ in range(3):
        close("alice", outcome="crm", when=now_day, prefix="Eastwood")
    close("dave", outcome="crm", when=now_day, prefix="Westfield")
    # One answered survey each side, about a loss of the week.
    for owner, prefix, words in (
        ("alice", "Eastwood", "East-only comment"),
        ("dave", "Westfield", "Westside words"),
    ):
        deal = close(owner, outcome="lost", when=now_day, reason=price, prefix=prefix)
        deal.contacts.add(
            ContactFactory(account=world.account, name="Noor Birch", email=f"noor-{owner}@birch.example")
        )
        (survey,) = surveys.survey_request(deal=deal, actor=deal.owner)
        surveys.survey_deliver(survey_id=survey.pk)
        surveys.survey_answer(
            survey_id=survey.pk,
            answer=surveys.Answer(
                main_reason=price, main_reason_other="", secondary_reasons=[], competitor=None,
                kept_what_they_had=True, process_rating=4, comment=words, may_contact_again=True,
            ),
        )  # fmt: skip
    for user in (world.alice, world.erin, world.bob):
        User.objects.filter(pk=user.pk).update(first_name=user.username.capitalize())
    return SimpleNamespace(start=start, end=end, comparison=comparison, globex=globex)
