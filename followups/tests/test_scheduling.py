"""Closing schedules follow-ups in the same transaction; reopen, win and opt-out cancel them."""

from datetime import date, datetime, time, timedelta

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from deals import services as deal_services
from deals.models import Closure, DealStatus
from followups import services
from followups.models import (
    ClosureSequence,
    ContactOptOut,
    FollowUp,
    FollowUpKind,
    FollowUpState,
    NurtureSequence,
    ReasonSequenceDefault,
)


def _rows(closure):
    return list(
        FollowUp.objects.filter(closure=closure)
        .order_by("due_at", "pk")
        .values_list("kind", "contact__email", "due_at", "state")
    )


def test_lost_schedules_the_reps_sequence_and_the_reopen_reminder(world, sequence, lost_deal):
    deal = lost_deal()
    revisit = date.today() + timedelta(days=30)
    closure = deal_services.deal_mark_lost(
        deal=deal,
        reason=world.reasons["price-too-high"],
        actor=world.alice,
        revisit_on=revisit,
        nurture_sequence=sequence,
    )
    closed = closure.closed_at
    assert _rows(closure) == [
        ("owner_task", None, closed + timedelta(days=1), "pending"),
        ("contact_email", "noor@birch.example", closed + timedelta(days=2), "pending"),
        ("contact_email", "noor@birch.example", closed + timedelta(days=5), "pending"),
        ("reopen_reminder", None, timezone.make_aware(datetime.combine(revisit, time(9))), "pending"),
    ]
    assert set(FollowUp.objects.filter(closure=closure).values_list("assignee", flat=True)) == {
        world.alice.pk
    }
    nurture = ClosureSequence.objects.get(closure=closure)
    assert (nurture.sequence, nurture.source) == (sequence, "rep")
    # How the dashboards get a closure's sequence.
    assert Closure.objects.filter(nurture__sequence=sequence).get() == closure


def test_the_reasons_default_applies_unless_the_rep_skips(world, sequence, lost_deal):
    reason = world.reasons["no-budget"]
    ReasonSequenceDefault.objects.update_or_create(reason=reason, defaults={"sequence": sequence})
    by_default = deal_services.deal_mark_lost(deal=lost_deal(), reason=reason, actor=world.alice)
    assert ClosureSequence.objects.get(closure=by_default).source == "reason_default"
    assert FollowUp.objects.filter(closure=by_default, sequence=sequence).count() == 3

    skipped = deal_services.deal_mark_lost(
        deal=lost_deal(), reason=reason, actor=world.alice, skip_nurture=True
    )
    assert (skipped.nurture.sequence, skipped.nurture.source) == (None, "skipped")
    assert not FollowUp.objects.filter(closure=skipped).exists()


def test_no_decision_schedules_too_and_a_reason_without_default_schedules_only_the_reminder(
    world, sequence, lost_deal
):
    ReasonSequenceDefault.objects.filter(reason=world.reasons["status-quo"]).delete()
    closure = deal_services.deal_mark_no_decision(
        deal=lost_deal(),
        reason=world.reasons["status-quo"],
        actor=world.alice,
        revisit_on=date.today() + timedelta(days=90),
    )
    assert closure.nurture.source == "none"
    assert [row[0] for row in _rows(closure)] == ["reopen_reminder"]


def test_an_inactive_sequence_is_refused_and_nothing_is_saved(world, sequence, lost_deal):
    sequence.active = False
    sequence.save()
    deal = lost_deal()
    with pytest.raises(deal_services.DealError) as refused:
        deal_services.deal_mark_lost(
            deal=deal, reason=world.reasons["no-budget"], actor=world.alice, nurture_sequence=sequence
        )
    assert refused.value.field == "nurture_sequence"
    deal.refresh_from_db()
    assert deal.status == DealStatus.OPEN
    assert not Closure.objects.filter(deal=deal).exists()
    assert not FollowUp.objects.exists()


def test_a_backdated_close_does_not_schedule_work_long_overdue(world, sequence, lost_deal):
    closure = deal_services.deal_mark_lost(
        deal=lost_deal(),
        reason=world.reasons["no-budget"],
        actor=world.alice,
        nurture_sequence=sequence,
        revisit_on=date.today() - timedelta(days=100),
        closed_at=timezone.now() - timedelta(days=200),
    )
    assert _rows(closure) == []
    assert closure.nurture.sequence == sequence  # the choice is still recorded


@pytest.mark.parametrize("how", ["reopen", "win"])
def test_reopen_and_win_cancel_whats_pending(world, sequence, lost_deal, how):
    deal = lost_deal()
    closure = deal_services.deal_mark_lost(
        deal=deal,
        reason=world.reasons["no-budget"],
        actor=world.alice,
        nurture_sequence=sequence,
        revisit_on=date.today() + timedelta(days=20),
    )
    first = FollowUp.objects.filter(closure=closure).order_by("due_at").first()
    FollowUp.objects.filter(pk=first.pk).update(state=FollowUpState.SENT, sent_at=timezone.now())
    # Later work of another deal is untouched.
    other = deal_services.deal_mark_lost(
        deal=lost_deal(contacts=[("Sam", "sam@birch.example")]),
        reason=world.reasons["no-budget"],
        actor=world.alice,
        nurture_sequence=sequence,
    )
    deal_services.deal_reopen(deal=deal, actor=world.alice)
    if how == "win":
        deal_services.deal_mark_won(deal=deal, reason=world.reasons["win-best-fit"], actor=world.alice)
    rows = FollowUp.objects.filter(closure=closure)
    # The owner's task that was sent is cancelled too: there is nothing left to do for a reopened deal.
    assert set(rows.values_list("state", flat=True)) == {"cancelled"}
    assert set(rows.values_list("cancelled_reason", flat=True)) == {"deal reopened"}
    assert set(FollowUp.objects.filter(closure=other).values_list("state", flat=True)) == {"pending"}


def test_winning_a_deal_cancels_follow_ups_left_from_an_earlier_loss(world, sequence, lost_deal):
    deal = lost_deal()
    closure = deal_services.deal_mark_lost(
        deal=deal, reason=world.reasons["no-budget"], actor=world.alice, nurture_sequence=sequence
    )
    # A row left pending by code that skipped the reopen service (e.g. an old import).
    deal_services.deal_reopen(deal=deal, actor=world.alice)
    FollowUp.objects.filter(closure=closure).update(state=FollowUpState.PENDING, cancelled_reason="")
    deal_services.deal_mark_won(deal=deal, reason=world.reasons["win-best-fit"], actor=world.alice)
    assert set(FollowUp.objects.filter(closure=closure).values_list("cancelled_reason", flat=True)) == {
        "deal won"
    }


def test_opt_out_cancels_pending_emails_and_later_closes_skip_the_address(world, sequence, lost_deal):
    first = deal_services.deal_mark_lost(
        deal=lost_deal(contacts=[("Noor", "Noor@Birch.example"), ("Sam", "sam@birch.example")]),
        reason=world.reasons["no-budget"],
        actor=world.alice,
        nurture_sequence=sequence,
    )
    token = services.opt_out_token("Noor@Birch.example")
    assert services.opt_out_email_from_token(token) == "noor@birch.example"
    assert services.opt_out_email_from_token(token + "x") is None
    assert services.contact_opt_out(email="noor@birch.example") == 2
    emails = FollowUp.objects.filter(closure=first, kind=FollowUpKind.CONTACT_EMAIL)
    assert sorted(emails.values_list("contact__email", "state")) == [
        ("Noor@Birch.example", "cancelled"),
        ("Noor@Birch.example", "cancelled"),
        ("sam@birch.example", "pending"),
        ("sam@birch.example", "pending"),
    ]
    assert FollowUp.objects.get(closure=first, kind=FollowUpKind.OWNER_TASK).state == "pending"
    second = deal_services.deal_mark_lost(
        deal=lost_deal(contacts=[("Noor again", "noor@birch.example")]),
        reason=world.reasons["no-budget"],
        actor=world.alice,
        nurture_sequence=sequence,
    )
    assert list(FollowUp.objects.filter(closure=second).values_list("kind", flat=True)) == ["owner_task"]
    assert ContactOptOut.objects.get().email == "noor@birch.example"


def test_a_crm_close_without_reason_schedules_once_the_reason_is_given(world, sequence, lost_deal):
    ReasonSequenceDefault.objects.update_or_create(
        reason=world.reasons["no-budget"], defaults={"sequence": sequence}
    )
    deal = lost_deal()
    closure = deal_services.deal_mark_lost_from_crm(deal=deal, crm_reason_text="budget")
    assert not FollowUp.objects.filter(closure=closure).exists()
    assert not ClosureSequence.objects.filter(closure=closure).exists()
    deal_services.deal_give_reason(deal=deal, reason=world.reasons["no-budget"], actor=world.alice)
    assert FollowUp.objects.filter(closure=closure).count() == 3
    assert ClosureSequence.objects.get(closure=closure).source == "reason_default"


def test_the_database_refuses_a_contact_email_without_a_contact(world, sequence, lost_deal):
    closure = deal_services.deal_mark_lost(
        deal=lost_deal(), reason=world.reasons["no-budget"], actor=world.alice, nurture_sequence=sequence
    )
    row = FollowUp.objects.filter(closure=closure, kind=FollowUpKind.CONTACT_EMAIL).first()
    with pytest.raises(IntegrityError), transaction.atomic():
        FollowUp.objects.filter(pk=row.pk).update(contact=None)
    with pytest.raises(IntegrityError), transaction.atomic():
        FollowUp.objects.filter(pk=row.pk).update(state=FollowUpState.QUEUED, claimed_at=None)
    with pytest.raises(IntegrityError), transaction.atomic():  # one reminder per closure
        FollowUp.objects.create(
            deal=closure.deal,
            closure=closure,
            kind="reopen_reminder",
            assignee=world.alice,
            due_at=timezone.now(),
        )
        FollowUp.objects.create(
            deal=closure.deal,
            closure=closure,
            kind="reopen_reminder",
            assignee=world.alice,
            due_at=timezone.now(),
        )


def test_the_close_form_offers_the_sequences_and_saves_the_reps_choice(client, world, sequence, lost_deal):
    NurtureSequence.objects.create(name="Retired sequence", active=False)
    deal = lost_deal()
    client.force_login(world.alice)
    url = reverse("deals:mark-lost", args=[deal.pk])
    page = client.get(url).content.decode()
    assert "Nurture sequence" in page and "Test nurture" in page and "Retired sequence" not in page
    assert "No sequence (skip follow-ups)" in page
    response = client.post(url, {"reason": world.reasons["no-budget"].pk, "nurture_sequence": "99999"})
    assert response.status_code == 400
    assert "That sequence is not available" in response.content.decode()
    response = client.post(url, {"reason": world.reasons["no-budget"].pk, "nurture_sequence": sequence.pk})
    assert response.status_code == 302
    closure = Closure.objects.get(deal=deal)
    assert (closure.nurture.sequence, closure.nurture.source) == (sequence, "rep")
    assert FollowUp.objects.filter(closure=closure).count() == 3


def test_the_close_form_can_skip_the_sequence(client, world, sequence, lost_deal):
    ReasonSequenceDefault.objects.update_or_create(
        reason=world.reasons["no-budget"], defaults={"sequence": sequence}
    )
    deal = lost_deal()
    client.force_login(world.alice)
    response = client.post(
        reverse("deals:mark-no-decision", args=[deal.pk]),
        {"reason": world.reasons["status-quo"].pk, "nurture_sequence": "none"},
    )
    assert response.status_code == 302
    assert Closure.objects.get(deal=deal).nurture.source == "skipped"
    assert not FollowUp.objects.filter(deal=deal).exists()
    assert (
        "nurture_sequence"
        not in client.get(reverse("deals:mark-won", args=[lost_deal().pk])).content.decode()
    )
