"""Adding and removing nurture sequences and steps (admins, on /follow-ups/setup/), each change a
NurtureChange row through followups.setup.nurture_change.

Nothing a close used is deleted: a sequence that closes chose (or follow-ups came from) is
deactivated instead (no new close starts it; what was scheduled goes on), and a step that
follow-ups were made from is deactivated (new closes skip it; its follow-ups not yet sent are
cancelled, those sent keep naming it). What nobody used is deleted, its last state kept in the
removal's history row.
"""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from followups.models import (
    DUE_STATES,
    ClosureSequence,
    FollowUp,
    FollowUpState,
    NurtureSequence,
    NurtureStep,
    ReasonSequenceDefault,
)
from followups.setup import STEP_FIELDS, _check_admin, nurture_change
from teams.models import User

SEQUENCE_FIELDS = ("name", "description", "active")


@dataclass(frozen=True)
class Removal:
    deleted: bool  # else deactivated
    used_by: int  # closes (a sequence) or follow-ups (a step) that name it
    cancelled: int = 0  # a step's follow-ups not sent yet, cancelled


def _sequence_values(sequence: NurtureSequence) -> dict:
    return {name: getattr(sequence, name) for name in SEQUENCE_FIELDS}


def _check_name(name: str, *, other_than: int | None = None) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError({"name": "Give the sequence a name."})
    clash = NurtureSequence.objects.filter(name__iexact=name).exclude(pk=other_than).first()
    if clash is not None:
        raise ValidationError({"name": f"There is already a sequence named {clash.name}."})
    return name


def nurture_sequence_create(*, actor: User, name: str, description: str = "") -> NurtureSequence:
    """A new, active sequence with no steps yet (and no reason starting it)."""
    _check_admin(actor)
    with transaction.atomic():
        sequence = NurtureSequence(name=_check_name(name), description=description.strip(), active=True)
        sequence.full_clean()
        sequence.save()
        nurture_change(
            actor=actor, sequence=sequence, what="sequence_created", after=_sequence_values(sequence)
        )
    return sequence


def nurture_sequence_update(
    *, actor: User, sequence: NurtureSequence, name: str, description: str, active: bool
) -> NurtureSequence:
    """Rename, describe, deactivate or reactivate a sequence (an inactive one is not offered on the
    close form and starts for no reason; what it scheduled goes on)."""
    _check_admin(actor)
    with transaction.atomic():
        locked = NurtureSequence.objects.select_for_update().get(pk=sequence.pk)
        before = _sequence_values(locked)
        locked.name = _check_name(name, other_than=locked.pk)
        locked.description, locked.active = description.strip(), bool(active)
        locked.full_clean()
        after = _sequence_values(locked)
        if after != before:
            locked.save(update_fields=list(SEQUENCE_FIELDS))
            what = "sequence_changed"
            if before["active"] != after["active"]:
                what = "sequence_reactivated" if locked.active else "sequence_deactivated"
            nurture_change(actor=actor, sequence=locked, what=what, before=before, after=after)
    return locked


def sequence_use(sequence: NurtureSequence) -> int:
    """How many closes chose (or follow-ups came from) `sequence`."""
    closes = ClosureSequence.objects.filter(sequence=sequence).count()
    return closes or FollowUp.objects.filter(sequence=sequence).count()


def step_use(step: NurtureStep) -> int:
    """How many follow-ups came from `step`."""
    return FollowUp.objects.filter(step=step).count()


def nurture_sequence_remove(*, actor: User, sequence: NurtureSequence) -> Removal:
    """Delete a sequence nobody used (its steps and reasons kept in the history row), else
    deactivate it."""
    _check_admin(actor)
    with transaction.atomic():
        locked = NurtureSequence.objects.select_for_update().get(pk=sequence.pk)
        used = sequence_use(locked)
        if used:
            if locked.active:
                before = _sequence_values(locked)
                locked.active = False
                locked.save(update_fields=["active"])
                nurture_change(
                    actor=actor, sequence=locked, what="sequence_deactivated", before=before,
                    after=_sequence_values(locked),
                )  # fmt: skip
            return Removal(deleted=False, used_by=used)
        reasons = ReasonSequenceDefault.objects.filter(sequence=locked)
        before = {
            **_sequence_values(locked),
            "steps": [
                {name: getattr(s, name) for name in STEP_FIELDS} for s in locked.steps.order_by("position")
            ],
            "reasons": sorted(reasons.values_list("reason__code", flat=True)),
        }
        nurture_change(actor=actor, sequence=locked, what="sequence_removed", before=before)
        reasons.delete()
        locked.steps.all().delete()
        locked.delete()  # its history rows keep its name (sequence set to NULL)
    return Removal(deleted=True, used_by=0)


def nurture_step_remove(*, actor: User, step: NurtureStep, now=None) -> Removal:
    """Delete a step no follow-up came from; else deactivate it and cancel its follow-ups not
    sent yet (under a worker's row lock the cancel waits, then re-checks: one sent stays sent)."""
    _check_admin(actor)
    with transaction.atomic():
        locked = NurtureStep.objects.select_for_update().select_related("sequence").get(pk=step.pk)
        before = {name: getattr(locked, name) for name in STEP_FIELDS}
        used = step_use(locked)
        if not used:
            nurture_change(
                actor=actor, sequence=locked.sequence, step_id=locked.pk, what="step_removed", before=before
            )
            locked.delete()
            return Removal(deleted=True, used_by=0)
        cancelled = FollowUp.objects.filter(
            Q(step=locked), Q(state__in=[*DUE_STATES, FollowUpState.QUEUED])
        ).update(
            state=FollowUpState.CANCELLED, cancelled_reason="step removed", completed_at=now or timezone.now()
        )
        if locked.active:
            locked.active = False
            locked.save(update_fields=["active"])
            nurture_change(
                actor=actor, sequence=locked.sequence, step_id=locked.pk, what="step_deactivated",
                before=before, after={"follow_ups_cancelled": cancelled},
            )  # fmt: skip
    return Removal(deleted=False, used_by=used, cancelled=cancelled)


def nurture_step_reactivate(*, actor: User, step: NurtureStep) -> NurtureStep:
    """A deactivated step runs again for closes from now on (cancelled follow-ups stay so)."""
    _check_admin(actor)
    with transaction.atomic():
        locked = NurtureStep.objects.select_for_update().select_related("sequence").get(pk=step.pk)
        if not locked.active:
            locked.active = True
            locked.save(update_fields=["active"])
            nurture_change(actor=actor, sequence=locked.sequence, step_id=locked.pk, what="step_reactivated")
    return locked
