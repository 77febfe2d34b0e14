"""Celery tasks of teams: thin, safe to run twice."""

from celery import shared_task

from teams import services


@shared_task(name="teams.delete_expired_tokens", acks_late=True, ignore_result=True)
def delete_expired_tokens() -> int:
    """Daily (beat): every user's API tokens that expired a while ago are deleted."""
    return services.api_tokens_delete_expired()
