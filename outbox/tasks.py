"""The outbox's Celery tasks: deliver messages, run items handed over directly, and the beat's sweep."""

from celery import shared_task
from django.db import OperationalError

from outbox import services

# Both run handlers that claim their own rows: acknowledged once done, given back if the worker
# dies, and tried again while the database is away for a moment (the rows are still there).
RELIABLE = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "ignore_result": True,
    "autoretry_for": (OperationalError,),
    "retry_backoff": True,
    "retry_backoff_max": 60,
    "max_retries": 5,
}


@shared_task(name="outbox.deliver", **RELIABLE)
def deliver(message_ids: list[int] | int) -> list[str]:
    """Run the outbox messages named (each claimed on its own, so a copy of this task is harmless)."""
    ids = [message_ids] if isinstance(message_ids, int) else message_ids
    return [services.message_deliver(message_id=pk) for pk in ids]


@shared_task(name="outbox.run", **RELIABLE)
def run(kind: str, items: list) -> str:
    """Run items handed over without an outbox row (their kind's rows are the intent)."""
    return services.items_run(kind=kind, items=items)


@shared_task(name="outbox.sweep", acks_late=True, ignore_result=True)
def sweep() -> int:
    """Every OUTBOX_SWEEP_EVERY seconds (beat): publish again whatever was left."""
    services.sweep_heartbeat()
    return services.messages_sweep()
