"""Listeners on the deal services' signals: a close made here goes back to the CRM."""

import logging

from django.db import transaction
from django.dispatch import receiver

from crm import services
from crm.models import CrmConnection
from deals.signals import deal_closing

logger = logging.getLogger(__name__)


@receiver(deal_closing, dispatch_uid="crm_write_back")
def write_back_close(sender, *, deal_id: int, closure_id: int, via_crm: bool, **kwargs) -> None:
    """Inside the close's transaction: the sync rows and their outbox row commit with the close."""
    if via_crm:  # the CRM made this change; sending it back would start a loop
        return
    if not CrmConnection.objects.filter(active=True, write_back=True).exists():
        return  # no CRM to write to: the close pays one query, not a savepoint
    try:
        with transaction.atomic():  # a savepoint: a broken CRM link must never undo the close
            services.deal_sync_queue(deal_id=deal_id)
    except Exception:
        logger.exception("Could not queue CRM write-back of deal %s", deal_id)
