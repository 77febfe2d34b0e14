"""Admins add, change and remove nurture sequences and steps on /follow-ups/setup/: through
followups.sequences_setup, each change a NurtureChange row. What a close used is deactivated,
never deleted; what nobody used is deleted, its last state kept in the history."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from deals import services as deal_services
from followups.models import (
    ClosureSequence,
    FollowUp,
    FollowUpState,
    NurtureChange,
    NurtureSequence,
    NurtureStep,
    ReasonSequenceDefault,
)

pytestmark = pytest.mark.django_db


def _step_form(**values):
    data = {
        "days_after_close": 3,
        "action": "contact_email",
        "subject": "Hello {{ contact.first_name }}",
        "body": "Hi {{ contact.first_name }}, any news at {{ account.name }}?",
        "preview_deal": "",
        "do": "save",
    }
    data.update(values)
    return data


def test_managers_and_reps_reach_none_of_the_new_pages(client, world, sequence):
    step = sequence.steps.first()
    urls = [
        ("get", reverse("followups:setup-sequence-new")),
        ("post", reverse("followups:setup-sequence-new")),
        ("get", reverse("followups:setup-sequence", args=[sequence.pk])),
        ("post", reverse("followups:setup-sequence", args=[sequence.pk])),
        ("get", reverse("followups:setup-sequence-remove", args=[sequence.pk])),
        ("post", reverse("followups:setup-sequence-remove", args=[sequence.pk])),
        ("get", reverse("followups:setup-step-new", args=[sequence.pk])),
        ("post", reverse("followups:setup-step-new", args=[sequence.pk])),
        ("get", reverse("followups:setup-step-remove", args=[step.pk])),
        ("post", reverse("followups:setup-step-remove", args=[step.pk])),
        ("post", reverse("followups:setup-step-reactivate", args=[step.pk])),
    ]
    before = NurtureSequence.objects.count()
    for user in (world.alice, world.bob, world.grace):
        client.force_login(user)
        for method, url in urls:
            response = getattr(client, method)(url, {"name": "Sneaky", **_step_form()})
            assert response.status_code == 404, (user, method, url)
            assert b"Test nurture" not in response.content
    assert NurtureSequence.objects.count() == before and sequence.steps.count() == 3
    assert not NurtureChange.objects.exists()


def test_admin_adds_a_sequence_and_its_steps_and_the_next_loss_runs_them(client, world, lost_deal):
    client.force_login(world.carol)
    response = client.post(
        reverse("followups:setup-sequence-new"),
        {"name": "  Budget  next year ", "description": "For budgets"},
    )
    sequence = NurtureSequence.objects.get(name="Budget next year")
    assert response.status_code == 302 and response.url == reverse(
        "followups:setup-step-new", args=[sequence.pk]
    )
    assert sequence.active and sequence.description == "For budgets"
    page = client.get(response.url).content.decode()
    assert "Add a step to Budget next year" in page
    # A buyer e-mail naming the deal is refused with the field named; nothing is added.
    bad = client.post(response.url, _step_form(subject="About {{ deal.amount }}"))
    assert bad.status_code == 400 and "Allowed placeholders" in bad.content.decode()
    assert not sequence.steps.exists()
    assert client.post(response.url, _step_form()).status_code == 302
    assert (
        client.post(
            response.url, _step_form(days_after_close=30, action="owner_task", subject="Call")
        ).status_code
        == 302
    )
    steps = list(sequence.steps.order_by("position"))
    assert [(s.position, s.days_after_close, s.action) for s in steps] == [
        (1, 3, "contact_email"),
        (2, 30, "owner_task"),
    ]
    assert list(NurtureChange.objects.order_by("pk").values_list("what", "sequence_name", "actor")) == [
        ("sequence_created", "Budget next year", world.carol.pk),
        ("step_created", "Budget next year", world.carol.pk),
        ("step_created", "Budget next year", world.carol.pk),
    ]
    # A taken name (any case) is refused naming the field.
    clash = client.post(reverse("followups:setup-sequence-new"), {"name": "budget NEXT year"})
    assert (
        clash.status_code == 400
        and "There is already a sequence named Budget next year." in clash.content.decode()
    )
    # The rep's next loss with it schedules both steps.
    deal = lost_deal(contacts=[("Pat Lee", "pat@birch.example")])
    closure = deal_services.deal_mark_lost(
        deal=deal, reason=world.reasons["no-budget"], actor=world.alice, nurture_sequence=sequence
    )
    assert set(FollowUp.objects.filter(closure=closure).values_list("step", flat=True)) == {
        s.pk for s in steps
    }
    page = client.get(reverse("followups:setup")).content.decode()
    assert "Budget next year" in page and "Step added" in page


def test_a_step_nobody_used_is_deleted_and_one_used_is_deactivated(client, world, sequence, lost_deal):
    client.force_login(world.carol)
    task, email, later = sequence.steps.order_by("position")
    # Unused: deleted; the history keeps what it said.
    assert (
        "it is <strong>deleted</strong>"
        in client.get(reverse("followups:setup-step-remove", args=[later.pk])).content.decode()
    )
    assert client.post(reverse("followups:setup-step-remove", args=[later.pk])).status_code == 302
    assert not NurtureStep.objects.filter(pk=later.pk).exists()
    removed = NurtureChange.objects.get(what="step_removed")
    assert removed.step_id == later.pk and removed.before["subject"] == "Worth another look?"
    # Used: a loss scheduled it; removing it deactivates it and cancels what is not sent yet.
    deal = lost_deal(contacts=[("Pat Lee", "pat@birch.example")])
    closure = deal_services.deal_mark_lost(
        deal=deal, reason=world.reasons["no-budget"], actor=world.alice, nurture_sequence=sequence
    )
    pending = FollowUp.objects.get(closure=closure, step=email)
    page = client.get(reverse("followups:setup-step-remove", args=[email.pk])).content.decode()
    assert "1 follow-up(s) came from this step" in page and "deactivated, not deleted" in page
    done = client.post(reverse("followups:setup-step-remove", args=[email.pk]), follow=True)
    assert "1 not sent yet are cancelled" in done.content.decode()
    email.refresh_from_db()
    pending.refresh_from_db()
    assert not email.active
    assert (pending.state, pending.cancelled_reason) == (FollowUpState.CANCELLED, "step removed")
    change = NurtureChange.objects.get(what="step_deactivated")
    assert change.after == {"follow_ups_cancelled": 1}
    # The next loss skips the inactive step; reactivated, the one after runs it again.
    second = deal_services.deal_mark_lost(
        deal=lost_deal(), reason=world.reasons["no-budget"], actor=world.alice, nurture_sequence=sequence
    )
    assert list(
        FollowUp.objects.filter(closure=second, step__isnull=False).values_list("step", flat=True)
    ) == [task.pk]
    assert client.post(reverse("followups:setup-step-reactivate", args=[email.pk])).status_code == 302
    third = deal_services.deal_mark_lost(
        deal=lost_deal(), reason=world.reasons["no-budget"], actor=world.alice, nurture_sequence=sequence
    )
    assert set(FollowUp.objects.filter(closure=third, step__isnull=False).values_list("step", flat=True)) == {
        task.pk,
        email.pk,
    }
    assert NurtureChange.objects.filter(what="step_reactivated").count() == 1


def test_a_sequence_nobody_used_is_deleted_with_its_history_kept(client, world, sequence):
    client.force_login(world.carol)
    ReasonSequenceDefault.objects.update_or_create(
        reason=world.reasons["bad-timing"], defaults={"sequence": sequence}
    )
    client.post(reverse("followups:setup-sequence", args=[sequence.pk]),
                {"name": "Test nurture", "description": "Changed", "active": "on"})  # fmt: skip
    assert client.post(reverse("followups:setup-sequence-remove", args=[sequence.pk])).status_code == 302
    assert not NurtureSequence.objects.filter(name="Test nurture").exists()
    assert not NurtureStep.objects.filter(subject="Worth another look?").exists()
    assert not ReasonSequenceDefault.objects.filter(reason=world.reasons["bad-timing"]).exists()
    rows = list(NurtureChange.objects.order_by("pk"))
    assert [r.what for r in rows] == ["sequence_changed", "sequence_removed"]
    assert all(r.sequence_id == sequence.pk and r.sequence_name == "Test nurture" for r in rows)
    assert [s["subject"] for s in rows[1].before["steps"]][1] == "What changed at {{ account.name }}?"
    assert rows[1].before["reasons"] == ["bad-timing"]
    assert "Sequence removed" in client.get(reverse("followups:setup")).content.decode()


def test_a_sequence_a_close_used_is_deactivated_not_deleted(client, world, sequence, lost_deal):
    closure = deal_services.deal_mark_lost(
        deal=lost_deal(), reason=world.reasons["no-budget"], actor=world.alice, nurture_sequence=sequence
    )
    client.force_login(world.carol)
    page = client.get(reverse("followups:setup-sequence-remove", args=[sequence.pk])).content.decode()
    assert "1 close(s) used this sequence" in page
    client.post(reverse("followups:setup-sequence-remove", args=[sequence.pk]))
    sequence.refresh_from_db()
    assert not sequence.active and sequence.steps.count() == 3
    assert ClosureSequence.objects.get(closure=closure).sequence == sequence
    assert FollowUp.objects.filter(closure=closure).exclude(state=FollowUpState.CANCELLED).exists()
    assert NurtureChange.objects.get().what == "sequence_deactivated"
    # No longer offered to the rep; reactivated on its page, offered again.
    form = client.get(reverse("followups:setup-sequence", args=[sequence.pk])).content.decode()
    assert "1 close(s) used it: it can be deactivated, never deleted." in form
    client.post(reverse("followups:setup-sequence", args=[sequence.pk]),
                {"name": "Test nurture", "description": "", "active": "on"})  # fmt: skip
    sequence.refresh_from_db()
    assert sequence.active and NurtureChange.objects.filter(what="sequence_reactivated").count() == 1


def test_the_nurture_history_is_append_only(client, world, sequence):
    client.force_login(world.carol)
    client.post(reverse("followups:setup-sequence", args=[sequence.pk]),
                {"name": "Renamed", "description": "Changed", "active": "on"})  # fmt: skip
    change = NurtureChange.objects.get(what="sequence_changed")
    for statement in ("UPDATE followups_nurturechange SET what = 'x'", "DELETE FROM followups_nurturechange"):
        with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"{statement} WHERE id = %s", [change.pk])
    with pytest.raises(ValueError, match="append-only"):
        change.save()
    with pytest.raises(ValueError, match="append-only"):
        change.delete()
    assert NurtureChange.objects.get(pk=change.pk).what == "sequence_changed"
