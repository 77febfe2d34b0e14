"""Changing a deal's owner (a CRM reassigns it, or an admin does): the deal's open follow-ups
move with it, in the same transaction.

Kept apart from deals.services (which is being reworked); it belongs there as
`deal_change_owner` and moves in when that module is split.
"""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from deals.models import Deal, DealEvent
from followups.models import OPEN_Q, FollowUp
from teams.models import User


def deal_change_owner(
    *, deal: Deal, owner: User, actor: User | None, changed_at: datetime | None = None, via_crm: bool = False
) -> Deal:
    """Give the deal to `owner`, recording a DealEvent; the open tasks and reminders of the
    previous owner on this deal go to the new one. Unchanged owner: nothing is written."""
    with transaction.atomic():
        locked = Deal.objects.select_for_update(of=("self",)).select_related("owner").get(pk=deal.pk)
        if locked.owner_id == owner.pk:
            return deal
        if via_crm:
            kind = DealEvent.ActorKind.CRM
        else:
            kind = DealEvent.ActorKind.USER if actor is not None else DealEvent.ActorKind.SYSTEM
        DealEvent.objects.create(
            deal=locked, field=DealEvent.Field.OWNER, from_value=locked.owner.get_username(),
            to_value=owner.get_username(), actor=actor, actor_kind=kind, at=changed_at or timezone.now(),
        )  # fmt: skip
        Deal.objects.filter(pk=locked.pk).update(owner=owner)
        # Every follow-up still to do on this deal was the previous owner's (tasks, reminders,
        # e-mails sent in the owner's name): it is the new owner's now.
        FollowUp.objects.filter(OPEN_Q, deal=locked, assignee_id=locked.owner_id).update(assignee=owner)
    deal.owner = owner
    return deal
