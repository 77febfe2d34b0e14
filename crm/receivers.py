"""Listeners on the deal services' signals: a change made here (a close, a reason given later,
a reopen, an owner change) goes back to the CRM, recorded in the change's own transaction."""

import logging

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from crm import owner_sync, receiving, services
from crm.models import CrmConnection
from deals.signals import deal_closing, deal_owner_changing, deal_reopening

logger = logging.getLogger(__name__)


def _any_write_back() -> bool:
    """Asked by every close and reopen: kept per process like the receivers' connections."""
    return receiving.connections_cache.get(
        "write back", lambda: CrmConnection.objects.filter(active=True, write_back=True).exists()
    )


def _queue(deal_id: int, **kwargs) -> None:
    if not _any_write_back():
        return  # no CRM to write to: no query (once per few seconds), no savepoint
    try:
        with transaction.atomic():  # a savepoint: a broken CRM link must never undo the change
            services.deal_sync_queue(deal_id=deal_id, **kwargs)
    except Exception:
        logger.exception("Could not queue CRM write-back of deal %s", deal_id)


@receiver(deal_closing, dispatch_uid="crm_write_back")
def write_back_close(sender, *, deal_id: int, closure_id: int, via_crm: bool, **kwargs) -> None:
    """Inside the close's (or the reason's) transaction: the sync rows and their outbox row
    commit with it."""
    if via_crm:  # the CRM made this change; sending it back would start a loop
        return
    _queue(deal_id)


@receiver(deal_reopening, dispatch_uid="crm_write_back_reopen")
def write_back_reopen(sender, *, deal_id: int, via_crm: bool, reopened_at=None, **kwargs) -> None:
    """Inside the reopen's transaction. The reopen's time also counts as the newest change the
    CRM knows of, so a CRM delivery from before it cannot close the deal again."""
    if via_crm:
        return
    _queue(deal_id, changed_at=reopened_at)


@receiver(deal_owner_changing, dispatch_uid="crm_write_back_owner")
def write_back_owner(sender, *, deal_id: int, owner, via_crm: bool = False, **kwargs) -> None:
    """Inside the owner change's transaction (e.g. offboarding's hand-over to a successor)."""
    if via_crm or not _any_write_back():
        return
    try:
        with transaction.atomic():
            owner_sync.deal_owner_sync_queue(deal_id=deal_id, owner=owner)
    except Exception:
        logger.exception("Could not queue the CRM owner write-back of deal %s", deal_id)


@receiver([post_save, post_delete], sender=CrmConnection, dispatch_uid="crm_connections_forget")
def forget_connections(sender, **kwargs) -> None:
    """A connection saved here is read again by this process's receivers at once."""
    receiving.connections_forget()
