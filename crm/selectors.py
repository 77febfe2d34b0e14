"""Reads for the CRM pages; deals always through deals.selectors' scoping."""

from urllib.parse import urlencode

from django.db.models import Count, QuerySet
from django.urls import reverse

from crm.connection_history import ConnectionChange
from crm.models import (
    CrmConnection,
    CrmKind,
    CrmLostReason,
    DealOwnerSync,
    DealSync,
    ReasonMapping,
    UnmappedReason,
    WebhookEvent,
)
from deals.models import Deal
from deals.selectors import deals_visible_to
from outbox.selectors import outbox_backlog
from teams.models import User

PROBLEM_STATUSES = [WebhookEvent.Status.FAILED, WebhookEvent.Status.DEAD]


def deals_needing_reason(*, user: User) -> QuerySet[Deal]:
    """Deals the user may see that a CRM closed lost without a standard reason, oldest first."""
    return (
        deals_visible_to(user)
        .filter(needs_reason=True)
        .select_related("account", "owner", "stage", "crm_lost_reason")
        .order_by("closed_at", "pk")
    )


def crm_reason_text(*, deal: Deal) -> str:
    return CrmLostReason.objects.filter(deal=deal).values_list("text", flat=True).first() or ""


def deal_syncs(*, deal: Deal) -> list[DealSync]:
    return list(DealSync.objects.filter(deal=deal))


def deal_owner_syncs(*, deal: Deal) -> list[DealOwnerSync]:
    return list(DealOwnerSync.objects.filter(deal=deal))


def webhook_address(*, kind: str, connection: CrmConnection | None, base: str, reveal: bool = True) -> str:
    """The full address to paste into the CRM: Salesforce's carries its shared token (or, with
    `reveal` off, a placeholder for it)."""
    address = base.rstrip("/") + reverse(f"crm-webhooks:webhook-{kind}")
    if kind == CrmKind.SALESFORCE and connection is not None and connection.webhook_secret:
        address += "?" + urlencode({"token": connection.webhook_secret if reveal else "YOUR-TOKEN"})
    return address


def integrations_overview(*, base_url: str) -> dict:
    """`base_url`: the public address the CRMs reach us at (CRM_WEBHOOK_BASE_URL or this site's)."""
    connections = {c.kind: c for c in CrmConnection.objects.all()}
    counts = dict(WebhookEvent.objects.values_list("status").annotate(n=Count("pk")).order_by())
    return {
        "connections": [
            (
                kind,
                label,
                connections.get(kind),
                webhook_address(kind=kind, connection=connections.get(kind), base=base_url),
            )
            for kind, label in CrmKind.choices
        ],
        "event_counts": counts,
        "dead_count": counts.get(WebhookEvent.Status.DEAD, 0),
        "unmapped_count": UnmappedReason.objects.filter(mapping__isnull=True).count(),
        "failed_syncs": DealSync.objects.filter(state=DealSync.State.FAILED).count(),
        "handoffs": outbox_backlog(),
    }


def connection_changes(*, kind: str, limit: int = 20) -> list[ConnectionChange]:
    """The latest changes of one connection's settings and owner map, newest first."""
    return list(ConnectionChange.objects.filter(kind=kind).select_related("actor")[:limit])


def webhook_events(*, status: str, limit: int = 200) -> list[WebhookEvent]:
    qs = WebhookEvent.objects.select_related("deal").defer("body", "headers")
    if status == "problems":
        qs = qs.filter(status__in=PROBLEM_STATUSES)
    elif status in WebhookEvent.Status.values:
        qs = qs.filter(status=status)
    return list(qs[:limit])


def reason_mappings() -> list[ReasonMapping]:
    return list(ReasonMapping.objects.select_related("reason", "competitor", "created_by"))


def unmapped_reasons() -> list[UnmappedReason]:
    return list(UnmappedReason.objects.filter(mapping__isnull=True))
