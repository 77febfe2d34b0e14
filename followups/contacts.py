"""Follow-ups when a deal's contacts change (deals.signals.deal_contacts_changed).

A contact removed from a deal receives nothing further about it. A contact added to a deal that
is already closed lost (or No Decision) with a nurture sequence gets that close's e-mail steps
still to come, at the times the close set: a CRM may send the close before the contacts.
"""

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from deals.models import Closure, Contact, DealStatus
from followups import emails
from followups.models import DUE_STATES, FollowUp, FollowUpKind, FollowUpState, StepAction
from followups.scheduling import BACKDATE_GRACE, opted_out_emails


def followups_cancel_for_removed(*, removed: list[tuple[int, int]], now=None) -> int:
    """Cancel the pending e-mails of each (deal, contact) pair. Returns how many."""
    if not removed:
        return 0
    pairs = Q()
    for deal_id, contact_id in removed:
        pairs |= Q(deal_id=deal_id, contact_id=contact_id)
    return (
        FollowUp.objects.filter(pairs, kind=FollowUpKind.CONTACT_EMAIL)
        .filter(state__in=[*DUE_STATES, FollowUpState.QUEUED])
        .update(state=FollowUpState.CANCELLED, cancelled_reason="contact removed from the deal",
                completed_at=now or timezone.now())
    )  # fmt: skip


def followups_schedule_for_added(*, added: list[tuple[int, int]], now=None) -> list[FollowUp]:
    """The standing close's e-mail steps still to come, for each contact added to a closed deal."""
    if not added:
        return []
    now = now or timezone.now()
    by_deal: dict[int, list[int]] = {}
    for deal_id, contact_id in added:
        by_deal.setdefault(deal_id, []).append(contact_id)
    closures = list(
        Closure.objects.filter(
            deal_id__in=list(by_deal), reopened_at__isnull=True, needs_reason=False,
            outcome__in=[DealStatus.LOST, DealStatus.NO_DECISION], nurture__sequence__isnull=False,
        ).select_related("deal__owner", "deal__account", "nurture__sequence")
    )  # fmt: skip
    if not closures:
        return []
    contacts = Contact.objects.in_bulk([c for cl in closures for c in by_deal[cl.deal_id]])
    opted_out = opted_out_emails([c.email for c in contacts.values() if c.email])
    rows = []
    for closure in closures:
        sequence = closure.nurture.sequence
        steps = [s for s in sequence.steps.all() if s.active and s.action != StepAction.OWNER_TASK]
        recipients = [contacts[pk] for pk in by_deal[closure.deal_id] if pk in contacts]
        recipients = [c for c in recipients if c.email and c.email.lower() not in opted_out]
        title = emails.followup_titles(closure.deal)
        for step in steps:
            due_at = closure.closed_at + timedelta(days=step.days_after_close)
            if due_at < now - BACKDATE_GRACE:
                continue
            rows += [
                FollowUp(deal=closure.deal, closure=closure, sequence=sequence, step=step,
                         kind=FollowUpKind.CONTACT_EMAIL, contact=c, title=title(step, c), due_at=due_at,
                         assignee_id=closure.deal.owner_id, created_at=now)
                for c in recipients
            ]  # fmt: skip
    return FollowUp.objects.bulk_create(rows, ignore_conflicts=True)
