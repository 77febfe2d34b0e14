"""Follow-ups listen to the deal services (deals.signals): deals knows nothing of follow-ups.

The receivers run inside the close's (or reopen's) transaction: a refused follow-up (an
inactive sequence, a FollowUpError naming `nurture_sequence`) refuses the close with it.
"""

from django.dispatch import receiver

from deals.models import DealStatus
from deals.signals import (
    CloseChoice,
    close_choice_register,
    contact_erasing,
    deal_closing,
    deal_contacts_changed,
    deal_owner_changing,
    deal_reopening,
)
from followups import services
from followups.models import OPEN_Q, FollowUp


@receiver(deal_closing, dispatch_uid="followups_on_close")
def on_close(sender, *, closure, nurture_sequence=None, skip_nurture=False, **kwargs) -> None:
    """A win cancels what is still to come; a loss or no decision with its reason schedules the
    nurture sequence and the reopen reminder (a CRM close without a reason waits for it)."""
    if closure.outcome == DealStatus.WON:
        services.followups_cancel_for_deal(deal=closure.deal, reason="deal won", now=closure.closed_at)
    elif not closure.needs_reason:
        services.followups_schedule_for_closure(
            closure=closure, sequence=nurture_sequence, skip_nurture=skip_nurture
        )


@receiver(deal_reopening, dispatch_uid="followups_on_reopen")
def on_reopen(sender, *, closure, reopened_at, **kwargs) -> None:
    services.followups_cancel_for_deal(deal=closure.deal, reason="deal reopened", now=reopened_at)


@receiver(deal_owner_changing, dispatch_uid="followups_on_owner_change")
def on_owner_change(sender, *, deal_id, previous_owner_id, owner, **kwargs) -> None:
    """What was still to do on the deal for its previous owner (tasks, reminders, e-mails sent in
    the owner's name) is the new owner's now."""
    FollowUp.objects.filter(OPEN_Q, deal_id=deal_id, assignee_id=previous_owner_id).update(assignee=owner)


def _nurture_api_fields() -> dict:
    from rest_framework import serializers

    from followups.models import NurtureSequence

    return {
        "nurture_sequence": serializers.PrimaryKeyRelatedField(
            queryset=NurtureSequence.objects.filter(active=True),
            required=False,
            allow_null=True,
            default=None,
            help_text="The nurture sequence's id; left out or null: the reason's default sequence.",
        ),
        "skip_nurture": serializers.BooleanField(
            required=False, default=False, help_text="True: no nurture sequence (the reopen reminder stays)."
        ),
    }


def register_close_choice() -> None:
    """The close form's and API's nurture choice (called from FollowupsConfig.ready)."""
    from followups.forms import NurtureSequenceField, nurture_kwargs

    close_choice_register(
        "nurture_sequence",
        CloseChoice(
            form_field=NurtureSequenceField, service_kwargs=nurture_kwargs, api_fields=_nurture_api_fields
        ),
    )


@receiver(deal_contacts_changed, dispatch_uid="followups_on_contacts_changed")
def on_contacts_changed(sender, *, added, removed, **kwargs) -> None:
    """A removed contact gets nothing further; one added to a closed deal gets its close's e-mails."""
    from followups import contacts

    contacts.followups_cancel_for_removed(removed=removed)
    contacts.followups_schedule_for_added(added=added)


@receiver(contact_erasing, dispatch_uid="followups_on_contact_erasing")
def on_contact_erasing(sender, *, contact_ids, names, email, deal_ids, now, **kwargs) -> dict:
    """An erased person gets nothing more; their follow-ups lose their name; an opt-out stays as a
    fingerprint of the address (still honoured if the address comes back)."""
    from followups import erasure

    return erasure.followups_erase_person(
        contact_ids=contact_ids, names=names, email=email, deal_ids=deal_ids, now=now
    )
