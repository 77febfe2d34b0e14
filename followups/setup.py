"""The admins' set-up of nurture sequences and steps: every change through here, with a history
row (NurtureChange), and the preview of a step exactly as a chosen lost deal's buyer would
receive it. Sequences and steps that closes used are never deleted (their follow-ups and
figures name them): removing one deactivates it (followups.sequences_setup)."""

from django.core.exceptions import PermissionDenied
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.utils import timezone

from deals.models import Deal, DealStatus
from followups import emails
from followups.models import FollowUp, FollowUpKind, NurtureChange, NurtureSequence, NurtureStep
from teams.models import User

STEP_FIELDS = ("position", "days_after_close", "action", "subject", "body")
PREVIEW_SURVEY_URL = "(the buyer's own survey link)"


def _check_admin(actor: User) -> None:
    if not actor.is_revops_admin:
        raise PermissionDenied("Only admins set up nurture sequences.")


def _values(step: NurtureStep) -> dict:
    return {name: getattr(step, name) for name in STEP_FIELDS}


def nurture_change(
    *, actor: User, sequence: NurtureSequence, what: str, step_id=None, before=None, after=None
):
    """The one writer of NurtureChange rows (the sequence's name kept: it may be removed later)."""
    return NurtureChange.objects.create(
        actor=actor, sequence=sequence, sequence_name=sequence.name, step_id=step_id, what=what,
        before=before or {}, after=after or {},
    )  # fmt: skip


def nurture_step_save(
    *, actor: User, sequence: NurtureSequence, step: NurtureStep | None = None, **values
) -> NurtureStep:
    """Create (step None) or change a step. Validated like every save (an e-mail to the contact
    names only the allowed placeholders: ValidationError listing them), recorded in NurtureChange."""
    _check_admin(actor)
    with transaction.atomic():
        if step is None:
            step, before, what = NurtureStep(sequence=sequence), {}, "step_created"
            if "position" not in values:  # after every step, kept or deactivated
                NurtureSequence.objects.select_for_update().get(pk=sequence.pk)
                last = sequence.steps.order_by("-position").values_list("position", flat=True).first()
                values["position"] = (last or 0) + 1
        else:
            step = NurtureStep.objects.select_for_update().get(pk=step.pk, sequence=sequence)
            before, what = _values(step), "step_changed"
        for name, value in values.items():
            if name not in STEP_FIELDS:
                raise TypeError(f"unknown step field {name}")
            setattr(step, name, value)
        step.full_clean()
        step.save()
        nurture_change(
            actor=actor, sequence=sequence, step_id=step.pk, what=what, before=before, after=_values(step)
        )
    return step


def preview_deals(limit: int = 50) -> list[Deal]:
    """Lost deals to preview a step for (newest closes first), with a contact to write to."""
    return list(
        Deal.objects.filter(status=DealStatus.LOST, contacts__email__gt="")
        .select_related("account")
        .distinct()
        .order_by("-closed_at", "-pk")[:limit]
    )


def nurture_step_preview(*, step: NurtureStep, deal: Deal, to: str | None = None) -> EmailMultiAlternatives:
    """The e-mail `deal`'s first contact with an address would receive from `step` (unsaved
    text is fine), built by the very code that sends it; `to` readdresses it (a test send)."""
    closure = deal.closures.filter(reopened_at__isnull=True).first()
    contact = deal.contacts.filter(email__gt="").order_by("pk").first()
    if closure is None or contact is None:
        raise ValueError("Choose a lost deal with a contact who has an e-mail address.")
    followup = FollowUp(
        deal=deal,
        closure=closure,
        step=step,
        kind=FollowUpKind.CONTACT_EMAIL,
        contact=contact,
        assignee=deal.owner,
        due_at=timezone.now(),
        pk=0,
    )
    # Nothing is written for a preview: the survey link is a stand-in, not a new survey.
    message = emails.contact_message(followup, extra={"survey_url": PREVIEW_SURVEY_URL})
    if to:
        message.to = [to]
    return message


def sequence_reasons_set(*, actor: User, sequence: NurtureSequence, reasons) -> list:
    """Which reasons start `sequence` by default: exactly `reasons` (a reason starts one sequence
    at most, so choosing it here moves it from another). Recorded in NurtureChange."""
    from followups.models import ReasonSequenceDefault

    _check_admin(actor)
    chosen = {r.pk: r for r in reasons}
    with transaction.atomic():
        current = ReasonSequenceDefault.objects.select_for_update().filter(sequence=sequence)
        before = sorted(current.values_list("reason__code", flat=True))
        current.exclude(reason__in=list(chosen)).delete()
        for reason in chosen.values():
            ReasonSequenceDefault.objects.update_or_create(reason=reason, defaults={"sequence": sequence})
        after = sorted(r.code for r in chosen.values())
        if after != before:
            nurture_change(
                actor=actor, sequence=sequence, what="reasons_changed", before={"reasons": before},
                after={"reasons": after},
            )  # fmt: skip
    return list(chosen.values())
