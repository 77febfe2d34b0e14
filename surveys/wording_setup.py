"""The admins' buyer wording: how each reason and category is named to buyers (the survey page's
choices and groups) and when a reason's closes get the survey on their own. Every change through
here, each a WordingChange row.

The wording is shown as written, never rendered: a placeholder or tag in it would reach the buyer
as braces, so it is refused with the buyer templates' own check and list
(followups.buyer_templates) of what e-mails, not wording, may name.
"""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from followups.buyer_templates import ALLOWED_LIST, buyer_template_check
from reasons.models import Reason, ReasonCategory
from surveys.models import CategoryWording, ReasonWording, WordingChange
from surveys.wording import CATEGORY_DEFAULTS, REASON_DEFAULTS
from teams.models import User

LABEL_MAX = 200


def _check_admin(actor: User) -> None:
    if not actor.is_revops_admin:
        raise PermissionDenied("Only admins change the buyer wording.")


def _clean_label(label: str, *, field: str = "buyer_label", required: bool = False) -> str:
    label = " ".join((label or "").split())
    if required and not label:
        raise ValidationError({field: "Write what the buyer reads."})
    if len(label) > LABEL_MAX:
        raise ValidationError({field: f"At most {LABEL_MAX} characters."})
    check = buyer_template_check(label)
    if any(mark in label for mark in ("{{", "{%", "{#")) or not check.ok:
        why = check.message() if not check.ok else f"E-mails may use {ALLOWED_LIST}."
        raise ValidationError(
            {field: f"Buyer wording is shown as written and takes no placeholders or tags. {why}"}
        )
    return label


def standard_category_label(category: ReasonCategory) -> str:
    return CATEGORY_DEFAULTS.get(category.code, category.name)


def standard_reason_label(reason: Reason) -> str:
    return REASON_DEFAULTS.get(reason.code, reason.label)


def category_wording_set(
    *, actor: User, category: ReasonCategory, buyer_label: str
) -> CategoryWording | None:
    """The category's words for buyers; empty: back to the standard wording (the row goes)."""
    _check_admin(actor)
    label = _clean_label(buyer_label)
    with transaction.atomic():
        ReasonCategory.objects.select_for_update().get(pk=category.pk)
        current = CategoryWording.objects.filter(category=category).first()
        before = {"buyer_label": current.buyer_label if current else ""}
        if before["buyer_label"] == label:
            return current
        if label:
            current, _ = CategoryWording.objects.update_or_create(
                category=category, defaults={"buyer_label": label}
            )
        else:
            CategoryWording.objects.filter(category=category).delete()
            current = None
        WordingChange.objects.create(
            actor=actor, category=category, before=before, after={"buyer_label": label}
        )
    return current


def _reason_values(wording: ReasonWording | None) -> dict:
    if wording is None:
        return {"buyer_label": "", "sending": ReasonWording.Sending.DEFAULT.value, "send_after_days": None}
    return {
        "buyer_label": wording.buyer_label,
        "sending": wording.sending,
        "send_after_days": wording.send_after_days,
    }


def reason_wording_set(
    *, actor: User, reason: Reason, buyer_label: str, sending: str, send_after_days: int | None
) -> ReasonWording:
    """The reason's words for buyers (empty: the standard wording) and when its closes get the
    survey on their own (days only with "after the days given here")."""
    _check_admin(actor)
    label = _clean_label(buyer_label)
    if sending not in ReasonWording.Sending.values:
        raise ValidationError({"sending": "Choose when the survey goes out."})
    if sending == ReasonWording.Sending.DAYS:
        if send_after_days is None:
            raise ValidationError({"send_after_days": "Give the days after the close."})
    else:
        send_after_days = None
    with transaction.atomic():
        Reason.objects.select_for_update().get(pk=reason.pk)
        wording = ReasonWording.objects.filter(reason=reason).first()
        before = _reason_values(wording)
        if wording is None:
            wording = ReasonWording(reason=reason)
        wording.buyer_label, wording.sending, wording.send_after_days = label, sending, send_after_days
        wording.full_clean()
        after = _reason_values(wording)
        if after != before:
            wording.save()
            WordingChange.objects.create(actor=actor, reason=reason, before=before, after=after)
    return wording
