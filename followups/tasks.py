"""Celery tasks: thin wrappers around followups.services, safe to run twice."""

import smtplib

from celery import shared_task

from followups import services


@shared_task(name="followups.dispatch_due", acks_late=True, ignore_result=True)
def dispatch_due() -> int:
    """Every minute (beat): claim due follow-ups and hand them to the worker (the outbox)."""
    return services.followups_dispatch()


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
