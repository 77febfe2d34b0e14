"""Celery tasks: thin wrappers around followups.services, safe to run twice."""

import smtplib

from celery import shared_task
from django.db import OperationalError

from followups import services


@shared_task(name="followups.dispatch_due", acks_late=True, ignore_result=True)
def dispatch_due() -> int:
    """Every minute (beat): claim due follow-ups and hand each to `send_followup`."""
    return services.followups_dispatch()


@shared_task(
    bind=True,
    name="followups.send",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    autoretry_for=(OperationalError,),  # database gone for a moment: try again shortly
    retry_backoff=True,
    retry_backoff_max=services.MAX_BACKOFF_SECONDS,
    max_retries=None,
)
def send_followup(self, followup_id: int) -> str:
    """Deliver one claimed follow-up; a second delivery of the same message sends nothing."""
    delivery = services.followup_deliver(followup_id=followup_id)
    if delivery.retry_in is not None:
        raise self.retry(countdown=delivery.retry_in, max_retries=None)
    return delivery.outcome


@shared_task(
    name="followups.send_digests",
    acks_late=True,
    ignore_result=True,
    autoretry_for=(smtplib.SMTPException, OSError),
    retry_backoff=60,
    retry_backoff_max=services.MAX_BACKOFF_SECONDS,
    max_retries=5,
)
def send_digests() -> int:
    """Every morning (beat): each rep's follow-ups overdue or due today, in one e-mail."""
    return services.followup_digests_send()
