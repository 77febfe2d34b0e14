"""What the follow-ups hold of a person being erased (deals.erasure.contact_erase)."""

import re

from django.db.models import Q

from deals.erasure import ERASED, NAME_PART_MIN, email_fingerprint
from followups.models import DUE_STATES, ContactOptOut, FollowUp, FollowUpKind, FollowUpState

ERASED_TITLE = "Nurture e-mail to an erased contact"


def followups_erase_person(
    *, contact_ids: list[int], names: list[str], email: str, deal_ids: list[int], now
) -> dict:
    """Cancel what was still to be sent to them, take their name out of follow-up titles (their
    own e-mails', and the owner's tasks on their deals), and keep their opt-out as a fingerprint."""
    cancelled = FollowUp.objects.filter(
        contact_id__in=contact_ids,
        kind=FollowUpKind.CONTACT_EMAIL,
        state__in=[*DUE_STATES, FollowUpState.QUEUED, FollowUpState.FAILED],
    ).update(state=FollowUpState.CANCELLED, cancelled_reason="contact erased", completed_at=now)
    retitled = FollowUp.objects.filter(contact_id__in=contact_ids).update(title=ERASED_TITLE, last_error="")
    words = {w for name in names for w in re.split(r"\W+", name) if len(w) >= NAME_PART_MIN}
    if words:
        pattern = re.compile(r"\b(" + "|".join(re.escape(w) for w in sorted(words)) + r")\b", re.IGNORECASE)
        tasks = FollowUp.objects.filter(deal_id__in=deal_ids, contact__isnull=True)
        for followup in tasks.only("pk", "title", "last_error"):
            title, error = pattern.sub(ERASED, followup.title), pattern.sub(ERASED, followup.last_error)
            if (title, error) != (followup.title, followup.last_error):
                FollowUp.objects.filter(pk=followup.pk).update(title=title, last_error=error)
                retitled += 1
    kept = 0
    rows = ContactOptOut.objects.filter(
        Q(contact_id__in=contact_ids) | (Q(email=email) if email else Q(pk=None))
    )
    for opt_out in rows.select_for_update():
        if opt_out.email.startswith("sha256:"):
            continue
        fingerprint = email_fingerprint(opt_out.email)
        if ContactOptOut.objects.filter(email=fingerprint).exists():
            opt_out.delete()
        else:
            ContactOptOut.objects.filter(pk=opt_out.pk).update(email=fingerprint, contact=None)
        kept += 1
    return {
        "pending e-mails cancelled": cancelled,
        "follow-up titles": retitled,
        "opt-outs kept as a fingerprint": kept,
    }
