"""The outbox's Celery tasks: deliver messages, run items handed over directly, and the beat's sweep."""

from celery import shared_task
from django.db import OperationalError

from outbox import services


@shared_task(
    name="outbox.deliver",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    autoretry_for=(OperationalError,),  # database gone for a moment: the row is still there
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=5,
)
def deliver(message_ids: list[int] | int) -> list[str]:
    """Run the outbox messages named (each claimed on its own, so a copy of this task is harmless)."""
    ids = [message_ids] if isinstance(message_ids, int) else message_ids
    return [services.message_deliver(message_id=pk) for pk in ids]


@shared_task(
    name="outbox.run",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=5,
)
def run(kind: str, items: list) -> str:
    """Run items handed over without an outbox row (their kind's rows are the intent)."""
    return services.items_run(kind=kind, items=items)


@shared_task(name="outbox.sweep", acks_late=True, ignore_result=True)
def sweep() -> int:
    """Every OUTBOX_SWEEP_EVERY seconds (beat): publish again whatever was left."""
    return services.messages_sweep()
