"""Listeners on the deal services' signals: a close made here goes back to the CRM."""

import logging

from django.dispatch import receiver

from crm import services
from deals.signals import deal_closed

logger = logging.getLogger(__name__)


@receiver(deal_closed, dispatch_uid="crm_write_back")
def write_back_close(sender, *, deal_id: int, closure_id: int, via_crm: bool, **kwargs) -> None:
    if via_crm:  # the CRM made this change; sending it back would start a loop
        return
    try:
        services.deal_sync_queue(deal_id=deal_id)
    except Exception:  # a broken CRM link must never break a close that is already committed
        logger.exception("Could not queue CRM write-back of deal %s", deal_id)
