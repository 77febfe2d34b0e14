"""Celery tasks of the CRM integration: thin, idempotent, each calling one service."""

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse

from crm import imports, services
from deals.models import Deal


@shared_task(bind=True, acks_late=True, max_retries=None)
def process_webhook_event(self, event_id: int) -> str:
    outcome = services.webhook_event_process(event_id=event_id)
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.status


@shared_task(acks_late=True)
def process_webhook_events(event_ids: list[int]) -> int:
    """Process the events of one delivery; one that fails is retried on its own."""
    for event_id in event_ids:
        outcome = services.webhook_event_process(event_id=event_id)
        if outcome.retry_in is not None:
            process_webhook_event.apply_async((event_id,), countdown=outcome.retry_in)
    return len(event_ids)


@shared_task(bind=True, acks_late=True, max_retries=None)
def push_deal_to_crm(self, deal_id: int, kind: str) -> str:
    outcome = services.deal_sync_push(deal_id=deal_id, kind=kind)
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.status


@shared_task(acks_late=True)
def remind_needs_reason(deal_id: int) -> bool:
    """Tell the owner a CRM closed their deal lost without a standard reason."""
    deal = Deal.objects.select_related("owner").filter(pk=deal_id, needs_reason=True).first()
    if deal is None or not deal.owner.email:
        return False
    base = getattr(settings, "SITE_URL", "").rstrip("/")
    link = base + reverse("crm:give-reason", args=[deal.pk])
    send_mail(
        subject=f"Give a reason: “{deal.name}” was closed lost in the CRM",
        message=(
            f"Hello {deal.owner.display_name},\n\n“{deal.name}” was closed lost in your CRM without one of "
            f"our standard reasons. Please choose one (it takes a few seconds):\n{link}\n"
        ),
        from_email=None,
        recipient_list=[deal.owner.email],
    )
    return True


@shared_task(acks_late=True)
def run_import(job_id: int) -> str:
    return imports.import_job_run(job_id=job_id)


@shared_task(acks_late=True)
def reconcile_all() -> dict:
    """Scheduled reconciliation of every active CRM connection (safe to run twice)."""
    from crm.reconcile import crm_reconcile_all

    results = crm_reconcile_all()
    return {kind: (len(r["drift"]) if isinstance(r, dict) else r) for kind, r in results.items()}


@shared_task(acks_late=True)
def reconcile_one(kind: str) -> int | str:
    """The "reconcile now" button: one CRM (safe to run twice)."""
    from crm.models import CrmConnection
    from crm.reconcile import ReconcileFailed, crm_reconcile

    connection = CrmConnection.objects.filter(kind=kind, active=True).first()
    if connection is None:
        return "no active connection"
    try:
        return len(crm_reconcile(connection=connection)["drift"])
    except ReconcileFailed as exc:
        return str(exc)
