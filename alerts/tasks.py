"""The beat's alert check: a thin wrapper around alerts.checks, safe to run twice."""

from celery import shared_task

from alerts import checks


@shared_task(name="alerts.check", acks_late=True, ignore_result=True)
def check() -> int:
    """Every ALERTS_CHECK_EVERY seconds (beat): fire the rules due for their last full period."""
    return checks.alerts_check()
