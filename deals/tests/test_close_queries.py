"""The close is the rep's hot path: each kind runs a pinned number of queries (page and service).

The counts include the follow-ups a lost deal schedules for its contacts; they do not grow with
the number of contacts, steps or secondary reasons. On PostgreSQL the close's rows are one
statement (deals.closing) and the follow-ups two (followups.scheduling).
"""

import pytest
from django.urls import reverse

from deals import services
from deals.factories import ContactFactory
from deals.models import Deal, DealStatus
from followups.models import FollowUp, NurtureSequence, NurtureStep, StepAction
from tests.dates import days_ahead

pytestmark = pytest.mark.django_db


@pytest.fixture
def nurture(db) -> NurtureSequence:
    sequence = NurtureSequence.objects.create(name="Pinned nurture")
    for position, (days, action) in enumerate(
        [(1, StepAction.OWNER_TASK), (2, StepAction.CONTACT_EMAIL), (9, StepAction.CONTACT_EMAIL)], start=1
    ):
        NurtureStep.objects.create(
            sequence=sequence, position=position, days_after_close=days, action=action,
            subject="Hello {{ contact.first_name }}", body="Body",
        )  # fmt: skip
    return sequence


def _deal_with_contacts(world, count: int) -> Deal:
    deal = world.deal()
    for number in range(count):
        deal.contacts.add(ContactFactory(account=world.account, email=f"buyer{number}@birch.example"))
    return deal


def _lost_form(world, competitor, nurture, secondary: int) -> dict:
    picks = ["no-budget", "value-not-proven", "not-a-priority-loss"][:secondary]
    return {
        "reason": world.reasons["competitor-cheaper"].pk,
        "competitor": competitor.pk,
        "note": "They went with the cheaper tool.",
        "secondary_reasons": [world.reasons[code].pk for code in picks if code in world.reasons],
        "nurture_sequence": nurture.pk,
        "revisit_on": days_ahead(180),
    }


@pytest.mark.parametrize("contacts,secondary", [(1, 1), (4, 2)])
def test_page_mark_lost_with_everything(client, world, competitor, nurture, contacts, secondary,
                                        django_assert_num_queries):  # fmt: skip
    deal = _deal_with_contacts(world, contacts)
    client.force_login(world.alice)
    form = _lost_form(world, competitor, nurture, secondary)
    # session, user, the deal (in the user's scope) with the reason, competitor and secondary
    # reasons it names; sequence; savepoint (the test's transaction); the close (lock, closure,
    # secondary rows, deal, event); the sequence recorded with its steps, contacts and opt-outs;
    # follow-ups; any CRM to write back to; release
    with django_assert_num_queries(10):
        response = client.post(reverse("deals:mark-lost", args=[deal.pk]), form)
    assert response.status_code == 302
    deal.refresh_from_db()
    assert deal.status == DealStatus.LOST
    assert FollowUp.objects.filter(deal=deal).count() == 1 + 2 * contacts + 1  # task, e-mails, reminder


def test_page_mark_won(client, world, django_assert_num_queries):
    deal = _deal_with_contacts(world, 2)
    client.force_login(world.alice)
    # session, user, the deal with its reason; savepoint, the close (lock, closure, deal, event),
    # cancel follow-ups, any CRM to write back to, release
    with django_assert_num_queries(8):
        response = client.post(
            reverse("deals:mark-won", args=[deal.pk]), {"reason": world.reasons["win-best-fit"].pk}
        )
    assert response.status_code == 302
    assert Deal.objects.get(pk=deal.pk).status == DealStatus.WON


def test_page_no_decision(client, world, django_assert_num_queries):
    deal = _deal_with_contacts(world, 2)
    client.force_login(world.alice)
    # session, user, the deal with its reason; savepoint, the close (lock, closure, deal, event);
    # the reason's default sequence recorded with its steps, contacts and opt-outs; follow-ups;
    # any CRM to write back to; release
    with django_assert_num_queries(9):
        response = client.post(
            reverse("deals:mark-no-decision", args=[deal.pk]), {"reason": world.reasons["status-quo"].pk}
        )
    assert response.status_code == 302
    assert Deal.objects.get(pk=deal.pk).status == DealStatus.NO_DECISION


def test_page_reopen(client, world, django_assert_num_queries):
    deal = _deal_with_contacts(world, 2)
    services.deal_mark_lost(deal=deal, reason=world.reasons["no-budget"], actor=world.alice)
    client.force_login(world.alice)
    # session, user, deal; the stage chosen; savepoint, lock, closure, closure update, deal,
    # events, cancel follow-ups, release (whether any CRM is written back to was read by the
    # close a moment ago: each process keeps it a few seconds)
    with django_assert_num_queries(12):
        response = client.post(reverse("deals:reopen", args=[deal.pk]), {"stage": world.stages[2].pk})
    assert response.status_code == 302
    assert Deal.objects.get(pk=deal.pk).status == DealStatus.OPEN


def test_service_mark_lost_with_everything(world, competitor, nurture, django_assert_num_queries):
    deal = _deal_with_contacts(world, 3)
    secondary = [world.reasons["no-budget"], world.reasons["value-not-proven"]]
    # savepoint, the close (lock, closure, secondary rows, deal, event), the sequence recorded
    # with its steps, contacts and opt-outs, follow-ups, any CRM to write back to, release
    with django_assert_num_queries(6):
        services.deal_mark_lost(
            deal=deal, reason=world.reasons["competitor-cheaper"], actor=world.alice, competitor=competitor,
            note="They went with the cheaper tool.", secondary_reasons=secondary, nurture_sequence=nurture,
        )  # fmt: skip
    assert FollowUp.objects.filter(deal=deal).count() == 1 + 2 * 3
