"""Classifying a CRM reason text from the "needs classification" queue into a loss or a
no-decision reason (a win reason for a text from the CRM's win-reason field); the deals waiting
with that text get it (a no-decision reason makes them No Decision). Used by the classification
page; webhooks and imports read the same mapping."""

from django.db import transaction
from django.utils import timezone

from crm.models import ReasonMapping, UnmappedReason
from deals import services as deal_services
from deals.models import Deal, DealStatus
from reasons.models import Competitor, Reason, ReasonKind
from teams.models import User

CLASSIFY_KINDS = (ReasonKind.LOSS, ReasonKind.NO_DECISION)


def classify_kinds(outcome: str) -> tuple[str, ...]:
    return (ReasonKind.WIN,) if outcome == UnmappedReason.Outcome.WON else CLASSIFY_KINDS


def unmapped_reason_classify(
    *, unmapped: UnmappedReason, reason: Reason, actor: User, competitor: Competitor | None = None
) -> int:
    """Map a queued CRM text onto a reason of its outcome (a loss or no-decision reason; a win
    reason for a win-reason text); deals waiting with that text get it. Returns how many did."""
    won = unmapped.outcome == UnmappedReason.Outcome.WON
    if reason.kind not in classify_kinds(unmapped.outcome) or not reason.active:
        wanted = "win" if won else "loss or no-decision"
        raise deal_services.DealError(f"Choose an active {wanted} reason.", field="reason")
    with transaction.atomic():
        mapping, _created = ReasonMapping.objects.update_or_create(
            kind=unmapped.kind,
            crm_value=unmapped.crm_value,
            defaults={"reason": reason, "competitor": competitor, "created_by": actor},
        )
        UnmappedReason.objects.filter(pk=unmapped.pk).update(mapping=mapping, resolved_at=timezone.now())
    given = 0
    waiting = Deal.objects.filter(
        needs_reason=True,
        status=DealStatus.WON if won else DealStatus.LOST,
        crm_lost_reason__kind=unmapped.kind,
        crm_lost_reason__crm_value=unmapped.crm_value,
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
