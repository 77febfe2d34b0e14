"""The review's beat task: a thin wrapper around reviews.services, safe to run twice."""

from celery import shared_task

from reviews import services


@shared_task(name="reviews.create_due", acks_late=True, ignore_result=True)
def create_due() -> int:
    """Each run (beat): make the reviews whose period has ended and hand their e-mails over."""
    return services.reviews_create_due()
