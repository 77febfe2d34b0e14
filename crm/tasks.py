"""Celery tasks of the CRM integration: thin, idempotent, each calling one service.

Work reaches the worker through the outbox (crm.handoffs); the only task here is beat's
reconciliation. The needs-a-reason e-mail is the outbox's `crm.reminder` handler.
"""

from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.template.loader import render_to_string
from django.urls import reverse

from deals.models import Deal


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
def reconcile_all() -> dict:
    """Scheduled reconciliation of every active CRM connection (safe to run twice)."""
    from crm.reconcile import crm_reconcile_all

    results = crm_reconcile_all()
    return {kind: (len(r["drift"]) if isinstance(r, dict) else r) for kind, r in results.items()}
