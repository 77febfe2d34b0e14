"""Classifying a CRM reason text from the "needs classification" queue into a loss or a
no-decision reason; the deals waiting with that text get it (a no-decision reason makes them
No Decision). Used by the classification page; webhooks and imports read the same mapping."""

from django.db import transaction
from django.utils import timezone

from crm.models import ReasonMapping, UnmappedReason
from deals import services as deal_services
from deals.models import Deal
from reasons.models import Competitor, Reason, ReasonKind
from teams.models import User

CLASSIFY_KINDS = (ReasonKind.LOSS, ReasonKind.NO_DECISION)


def unmapped_reason_classify(
    *, unmapped: UnmappedReason, reason: Reason, actor: User, competitor: Competitor | None = None
) -> int:
    """Map a queued CRM text onto a loss or no-decision reason; deals waiting with that text get
    it. Returns how many did."""
    if reason.kind not in CLASSIFY_KINDS or not reason.active:
        raise deal_services.DealError("Choose an active loss or no-decision reason.", field="reason")
    with transaction.atomic():
        mapping, _created = ReasonMapping.objects.update_or_create(
            kind=unmapped.kind,
            crm_value=unmapped.crm_value,
            defaults={"reason": reason, "competitor": competitor, "created_by": actor},
        )
        UnmappedReason.objects.filter(pk=unmapped.pk).update(mapping=mapping, resolved_at=timezone.now())
    given = 0
    waiting = Deal.objects.filter(
        needs_reason=True, crm_lost_reason__kind=unmapped.kind, crm_lost_reason__crm_value=unmapped.crm_value
    )
    for deal in waiting:
        try:
            with transaction.atomic():
                # A no-decision reason makes the deal No Decision on the same closure.
                deal_services.deal_give_reason(deal=deal, reason=reason, actor=actor, competitor=competitor)
            given += 1
        except deal_services.DealError:
            continue  # the rep will give one from the queue
    return given
