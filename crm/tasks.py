"""Celery tasks of the CRM integration: thin, idempotent, each calling one service.

Work now reaches the worker through the outbox (crm.handoffs); the tasks below stay for
messages an earlier release left in the broker, and `remind_needs_reason` holds the e-mail.
"""

from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.template.loader import render_to_string
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
    """Tell the owner a CRM closed their deal (lost or won) without a standard reason."""
    deal = Deal.objects.select_related("owner", "account").filter(pk=deal_id, needs_reason=True).first()
    if deal is None or not deal.owner.email:
        return False
    base = getattr(settings, "SITE_URL", "").rstrip("/")
    link = base + reverse("crm:give-reason", args=[deal.pk])
    context = {"deal": deal, "link": link}
    message = EmailMultiAlternatives(
        subject=f"Give a reason: “{deal.name}” was closed {deal.get_status_display().lower()} in the CRM",
        body=render_to_string("crm/email/needs_reason.txt", context),
        to=[deal.owner.email],
        connection=get_connection(timeout=30),  # a hung mail server must not hold the worker
    )
    message.attach_alternative(render_to_string("crm/email/needs_reason.html", context), "text/html")
    message.send()
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
def reconcile_one(kind: str) -> None:
    """One CRM (safe to run twice); the "reconcile now" button now goes through the outbox
    (crm.reconcile), and this stays for messages an earlier release left in the broker."""
    from crm.reconcile import reconcile_handoff

    reconcile_handoff(kind)
