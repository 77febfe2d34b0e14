"""On PostgreSQL a close is one statement (deals.closing) and its follow-ups two
(followups.scheduling), and the page reads the deal with the rows its POST names in one
(deals.close_reads); SQLite (`make run`) reads and writes the same rows through the ORM. Both
paths run here on PostgreSQL and must leave the same rows, refuse the same closes, and keep the
dashboards' summary exact."""

import html
from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from deals import close_reads, closing, services
from deals.factories import ContactFactory
from deals.models import Closure, Deal, DealEvent, DealStatus
from followups import scheduling
from followups.models import (
    ClosureSequence,
    ContactOptOut,
    FollowUp,
    NurtureSequence,
    NurtureStep,
    StepAction,
)
from insights import rollup
from reasons.models import Competitor

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["one statement", "orm"])
def path(request, monkeypatch):
    if request.param == "orm":
        monkeypatch.setattr(closing, "ONE_STATEMENT", False)
        monkeypatch.setattr(scheduling, "ONE_STATEMENT", False)
        monkeypatch.setattr(close_reads, "ONE_STATEMENT", False)
    return request.param


def _nurture() -> NurtureSequence:
    sequence = NurtureSequence.objects.create(name="Both paths")
    for position, (days, action) in enumerate([(1, StepAction.OWNER_TASK), (3, StepAction.CONTACT_EMAIL)], 1):
        NurtureStep.objects.create(
            sequence=sequence, position=position, days_after_close=days, action=action,
            subject="Call {{ contact.first_name }} about {{ deal.name }}", body="Body",
        )  # fmt: skip
    return sequence


CLOSURE_COLUMNS = ("outcome", "reason", "reason_kind", "competitor", "note", "revisit_on", "actor",
                   "stage_at_close", "amount_at_close", "currency", "needs_reason")  # fmt: skip


def _what_a_close_left(deal: Deal) -> dict:
    closure = Closure.objects.get(deal=deal)
    events = DealEvent.objects.filter(deal=deal)
    followups = FollowUp.objects.filter(deal=deal)
    return {
        "deal": Deal.objects.filter(pk=deal.pk).values("status", "close_reason", "close_reason_kind").get(),
        "closure": Closure.objects.filter(pk=closure.pk).values(*CLOSURE_COLUMNS).get(),
        "secondary": sorted(closure.secondary_reasons.values_list("code", flat=True)),
        "events": list(events.values_list("field", "from_value", "to_value", "actor_kind")),
        "sequence": list(
            ClosureSequence.objects.filter(closure=closure).values_list("sequence__name", "source")
        ),
        "followups": sorted(followups.values_list("kind", "title", "contact__email")),
    }


def test_lost_with_everything_leaves_the_same_rows(world, competitor, path):
    deal = world.deal(stage=3)
    for name in ("Ada Birch", "Bo Oak", "Cy Elm"):  # capitals: the opt-out matches any case
        deal.contacts.add(
            ContactFactory(account=world.account, name=name, email=f"{name[:3].strip()}@x.example")
        )
    ContactOptOut.objects.create(email="bo@x.example", opted_out_at=timezone.now())
    closure = services.deal_mark_lost(
        deal=deal, reason=world.reasons["competitor-cheaper"], actor=world.alice, competitor=competitor,
        note="  They went with the cheaper tool.  ", secondary_reasons=[world.reasons["no-budget"]],
        revisit_on=date.today() + timedelta(days=30), nurture_sequence=_nurture(),
    )  # fmt: skip
    left = _what_a_close_left(deal)
    cheaper = world.reasons["competitor-cheaper"]
    assert left["deal"] == {"status": "lost", "close_reason": cheaper.pk, "close_reason_kind": "loss"}
    assert left["closure"] == {
        "outcome": "lost", "reason": cheaper.pk, "reason_kind": "loss", "competitor": competitor.pk,
        "note": "They went with the cheaper tool.", "revisit_on": date.today() + timedelta(days=30),
        "actor": world.alice.pk, "stage_at_close": world.stages[3].pk, "amount_at_close": deal.amount,
        "currency": deal.currency, "needs_reason": False,
    }  # fmt: skip
    assert left["secondary"] == ["no-budget"]
    assert left["events"] == [("status", "open", "lost", "user")]
    assert left["sequence"] == [("Both paths", "rep")]
    assert left["followups"] == sorted(
        [
            ("owner_task", f"Call Ada about {deal.name}", None),  # names the first contact
            ("contact_email", f"Call Ada about {deal.name}", "Ada@x.example"),
            ("contact_email", f"Call Cy about {deal.name}", "Cy@x.example"),
            ("reopen_reminder", f"Revisit {deal.name}", None),
        ]
    )
    assert closure.pk == Closure.objects.get(deal=deal).pk and closure.reason == cheaper
    assert closure.deal.owner == world.alice and closure.deal.account == world.account
    # the dashboards' summary is exact
    assert rollup.rollup_drift() == {"facts": 0, "rollup": 0, "rollup_day": 0}


@pytest.mark.parametrize("reason_code", ["no-budget", "status-quo"])
def test_reason_default_and_skip(world, path, reason_code):
    outcome = "no_decision" if reason_code == "status-quo" else "lost"
    close = services.deal_mark_no_decision if outcome == "no_decision" else services.deal_mark_lost
    kept, skipped = world.deal(), world.deal()
    close(deal=kept, reason=world.reasons[reason_code], actor=world.alice)
    close(deal=skipped, reason=world.reasons[reason_code], actor=world.alice, skip_nurture=True)
    default = ClosureSequence.objects.get(closure__deal=kept)
    assert default.source in ("reason_default", "none")
    assert (default.sequence is None) == (default.source == "none")
    assert ClosureSequence.objects.filter(closure__deal=skipped, sequence=None, source="skipped").exists()
    assert not FollowUp.objects.filter(deal=skipped).exclude(kind="reopen_reminder").exists()


def test_a_closed_deal_and_an_inactive_sequence_are_refused(world, path):
    deal = world.deal()
    services.deal_mark_won(deal=deal, reason=world.reasons["win-best-fit"], actor=world.alice)
    with pytest.raises(services.DealAlreadyClosed):
        services.deal_mark_lost(
            deal=Deal.objects.get(pk=deal.pk), reason=world.reasons["no-budget"], actor=world.bob
        )
    assert Closure.objects.filter(deal=deal).count() == 1
    other = world.deal()
    retired = _nurture()
    retired.active = False
    retired.save()
    with pytest.raises(services.DealError) as refused:
        services.deal_mark_lost(
            deal=other, reason=world.reasons["no-budget"], actor=world.alice, nurture_sequence=retired
        )
    assert refused.value.field == "nurture_sequence"
    assert Deal.objects.get(pk=other.pk).status == DealStatus.OPEN
    assert not Closure.objects.filter(deal=other).exists()


def test_the_page_takes_the_rows_its_post_names_and_refuses_the_same(client, world, competitor, path):
    deal = world.deal()
    url = reverse("deals:mark-lost", args=[deal.pk])
    reasons = world.reasons
    cheaper, budget, proven = reasons["competitor-cheaper"], reasons["no-budget"], reasons["value-not-proven"]
    gone = Competitor.objects.create(name="Gone Ltd", active=False)
    client.force_login(world.dave)  # another team's rep: the deal does not exist for him
    assert client.post(url, {"reason": cheaper.pk}).status_code == 404
    client.force_login(world.alice)
    refused = [
        ({"reason": "999999"}, "That reason does not exist; choose one from the list."),
        ({"reason": "12abc"}, "That reason does not exist; choose one from the list."),
        ({"reason": reasons["win-best-fit"].pk}, "choose a loss reason."),
        ({"reason": cheaper.pk, "competitor": "999999"}, "That competitor does not exist; choose one"),
        ({"reason": cheaper.pk, "competitor": gone.pk}, "“Gone Ltd” is no longer an active competitor."),
        ({"reason": budget.pk, "secondary_reasons": [proven.pk, "999999"]}, "Choose secondary reasons from"),
        ({"reason": budget.pk, "secondary_reasons": [budget.pk]}, "cannot also be a secondary reason."),
        ({"reason": budget.pk, "secondary_reasons": [reasons["win-best-fit"].pk]}, "is not an active loss"),
    ]
    for data, message in refused:
        response = client.post(url, data)
        assert response.status_code == 400, data
        assert message in html.unescape(response.content.decode()), data
    assert Deal.objects.get(pk=deal.pk).status == DealStatus.OPEN
    chosen = {
        "reason": cheaper.pk,
        "competitor": competitor.pk,
        "note": "They went with the cheaper tool.",
        "secondary_reasons": [proven.pk, budget.pk, proven.pk],  # a repeat counts once
    }
    assert client.post(url, chosen).status_code == 302
    closure = Closure.objects.get(deal=deal)
    assert (closure.reason, closure.competitor, closure.outcome) == (cheaper, competitor, DealStatus.LOST)
    secondary = sorted(closure.secondary_reasons.values_list("code", flat=True))
    assert secondary == ["no-budget", "value-not-proven"]
