"""Celery tasks: thin wrappers around surveys.services, safe to run twice."""

from celery import shared_task
from django.db import OperationalError

from surveys import services


@shared_task(name="surveys.dispatch_due", acks_late=True, ignore_result=True)
def dispatch_due() -> int:
    """Every minute (beat): create due automatic surveys and hand out the pending ones."""
    return services.surveys_dispatch()


@shared_task(
    bind=True,
    name="surveys.send",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    autoretry_for=(OperationalError,),  # database gone for a moment: try again shortly
    retry_backoff=True,
    retry_backoff_max=services.MAX_BACKOFF_SECONDS,
    max_retries=None,
)
def send_survey(self, survey_id: int) -> str:
    """E-mail one survey; a second message for the same survey sends nothing."""
    delivery = services.survey_deliver(survey_id=survey_id)
    if delivery.retry_in is not None:
        raise self.retry(countdown=delivery.retry_in, max_retries=None)
    return delivery.outcome
