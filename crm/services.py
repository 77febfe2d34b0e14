"""The CRM integration's services: connections, processing stored events, write-back.

Webhook receivers only verify and store (`crm.receiving`); the worker processes each stored
event through `webhook_event_process`, which reads and applies it with `crm.changes` (through
deals.services). Both modules' names are re-exported here for the rest of the app.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

# crm.changes and crm.receiving grew out of this module: their names stay importable here.
from crm.adapters import adapter_for
from crm.adapters.base import Handled, StageNotMapped
from crm.addresses import validate_crm_address
from crm.changes import (  # noqa: F401
    HANDOFF_REMINDER,
    LOST,
    LOST_REASON_KINDS,
    OPEN,
    WON,
    CrmChange,
    EventFailed,
    _apply_change,
    change_of,
    crm_change_apply,
    crm_lost_reason_record,
    normalise_reason_text,
    reason_for_crm_text,
    unmapped_reason_record,
)
from crm.connection_history import connection_change_record
from crm.http import CrmAddressRefused, CrmHttpError, CrmRequestFailed, crm_request
from crm.models import (
    CONNECTION_DEFAULTS,
    EXTERNAL_ID_FIELD,
    CrmConnection,
    CrmDealState,
    CrmKind,
    DealSync,
    WebhookEvent,
)
from crm.receiving import (  # noqa: F401
    HANDOFF_WEBHOOK,
    Received,
    WebhookRejected,
    connection_for_webhook,
    hubspot_dedupe_key,
    hubspot_items,
    hubspot_signature_v3,
    hubspot_verify,
    pipedrive_items,
    pipedrive_verify,
    salesforce_items,
    salesforce_verify,
    webhook_receive,
    webhook_verify_and_receive,
)
from deals import services as deal_services
from deals.models import Deal, DealStatus
from outbox.services import handoff_enqueue
from reasons.models import Reason
from teams.models import User

logger = logging.getLogger(__name__)

# The kinds of hand-off to the worker this app registers with the outbox (crm.apps).
HANDOFF_WRITE_BACK = "crm.write_back"
HANDOFF_IMPORT = "crm.import"


def max_attempts() -> int:
    return getattr(settings, "CRM_MAX_ATTEMPTS", 5)


def retry_delay(attempt: int) -> float:
    """Seconds before retry number `attempt`: short exponential backoff (nothing long in the broker)."""
    base = getattr(settings, "CRM_RETRY_BASE_SECONDS", 2.0)
    return min(base * 2 ** max(attempt - 1, 0), 300)


# --- connections -------------------------------------------------------------------------


def connection_get(*, kind: str) -> CrmConnection | None:
    return CrmConnection.objects.filter(kind=kind, active=True).first()


def connection_create(*, kind: str, **fields) -> CrmConnection:
    """A connection with the CRM's standard stages and reason field unless given."""
    values = {**CONNECTION_DEFAULTS[kind], **{k: v for k, v in fields.items() if v not in (None, "")}}
    if fields.get("base_url"):  # CONNECTION_DEFAULTS are the CRMs' own public addresses
        validate_crm_address(fields["base_url"])
    return CrmConnection.objects.create(kind=kind, **values)


def connection_save(*, kind: str, **fields) -> tuple[CrmConnection, bool]:
    """Create the CRM's connection (with its standard stages unless given) or update the given
    fields of the existing one. Raises ValidationError naming the field. Returns (it, created)."""
    if kind not in CrmKind.values:
        raise ValidationError({"kind": f"Unknown CRM “{kind}”: choose one of {', '.join(CrmKind.values)}."})
    with transaction.atomic():
        connection = CrmConnection.objects.select_for_update().filter(kind=kind).first()
        created = connection is None
        if created:
            connection = CrmConnection(kind=kind, **CONNECTION_DEFAULTS[kind])
        for name, value in fields.items():
            setattr(connection, name, value)
        connection.full_clean()
        if "base_url" in fields:
            try:
                validate_crm_address(connection.base_url)
            except ValidationError as exc:
                raise ValidationError({"base_url": exc.messages}) from exc
        connection.save()
    return connection, created


def connection_update(
    *, kind: str, actor: User | None, note: str = "", **fields
) -> tuple[CrmConnection, bool]:
    """`connection_save`, and in the same transaction the history rows (crm.connection_history)
    saying who changed what: the owner map entry by entry, the other settings field by field
    (secrets only as set or cleared)."""
    with transaction.atomic():
        current = CrmConnection.objects.select_for_update().filter(kind=kind).first()
        old = {name: getattr(current, name) for name in fields} if current else {}
        connection, created = connection_save(kind=kind, **fields)
        new = {name: getattr(connection, name) for name in fields}
        connection_change_record(kind=kind, actor=actor, old=old, new=new, note=note)
    return connection, created


@dataclass(frozen=True)
class Processed:
    status: str
    retry_in: float | None = None


def webhook_event_process(*, event_id: int) -> Processed:
    """Process one stored event once: claim it, apply it atomically, record the outcome.

    Safe to run twice: only a pending or failed event (or one whose worker died, processing
    for longer than OUTBOX_CLAIM_LEASE) is claimed; one in processing is tried again later.
    """
    now = timezone.now()
    lease = timedelta(seconds=settings.OUTBOX_CLAIM_LEASE)
    claimable = Q(status__in=[WebhookEvent.Status.PENDING, WebhookEvent.Status.FAILED]) | Q(
        status=WebhookEvent.Status.PROCESSING, claimed_at__lt=now - lease
    )
    claimed = (
        WebhookEvent.objects.filter(claimable, pk=event_id)
        .update(status=WebhookEvent.Status.PROCESSING, attempts=F("attempts") + 1, claimed_at=now)
    )  # fmt: skip
    if not claimed:
        processing = WebhookEvent.objects.filter(pk=event_id, status=WebhookEvent.Status.PROCESSING)
        return Processed("not claimed", retry_in=lease.total_seconds() if processing.exists() else None)
    event = WebhookEvent.objects.get(pk=event_id)
    connection = CrmConnection.objects.filter(kind=event.kind).first()
    try:
        if connection is None:
            raise EventFailed(f"No {event.get_kind_display()} connection is set up.")
        with transaction.atomic():
            change = change_of(connection, event)
            result = change if isinstance(change, str) else _apply_change(
                connection=connection, change=change, event=event
            )  # fmt: skip
            not_followed = isinstance(change, str) and not isinstance(change, Handled)
            ignored = not_followed or result.startswith("ignored")
            event.status = WebhookEvent.Status.IGNORED if ignored else WebhookEvent.Status.DONE
            event.result = result[:300]
            event.last_error = ""
            event.processed_at = timezone.now()
            event.save(update_fields=["status", "result", "last_error", "processed_at", "deal"])
        return Processed(event.status)
    except Exception as exc:  # noqa: BLE001 - every failure is recorded on the event and retried
        if not isinstance(exc, EventFailed):
            logger.exception("CRM event %s failed", event_id)
        dead = event.attempts >= max_attempts()
        status = WebhookEvent.Status.DEAD if dead else WebhookEvent.Status.FAILED
        WebhookEvent.objects.filter(pk=event_id).update(
            status=status, last_error=f"{type(exc).__name__}: {exc}"[:2000], deal=event.deal
        )
        return Processed(status, retry_in=None if dead else retry_delay(event.attempts))


REPLAYABLE = [WebhookEvent.Status.PENDING, WebhookEvent.Status.FAILED, WebhookEvent.Status.DEAD]


def webhook_event_replay(*, event: WebhookEvent) -> None:
    """An admin sends a pending, failed or dead event round again with fresh attempts.

    Processing claims the event, so a replay racing an earlier hand-off still runs it once.
    """
    with transaction.atomic():
        updated = WebhookEvent.objects.filter(pk=event.pk, status__in=REPLAYABLE).update(
            status=WebhookEvent.Status.PENDING, attempts=0, last_error=""
        )
        if not updated:
            raise deal_services.DealError("Only pending, failed or dead events can be replayed.")
        handoff_enqueue(kind=HANDOFF_WEBHOOK, items=[event.pk])


def webhook_event_handoff(event_id: int) -> float | None:
    """The outbox's handler for one stored event."""
    return webhook_event_process(event_id=event_id).retry_in


# --- write-back -----------------------------------------------------------------------------


def _reason_value(connection: CrmConnection, reason: Reason) -> str:
    return reason.code if connection.reason_value == CrmConnection.ReasonValue.CODE else reason.label


def write_back_state(*, connection: CrmConnection, deal: Deal) -> dict | None:
    """What the CRM's deal should say for our deal now: its id there, the outcome, the CRM stage
    value, our reason's text and the values remembered as pushed (for echoes). None: nothing."""
    external_id = getattr(deal, connection.external_id_field)
    if not external_id:
        return None
    if deal.status == DealStatus.OPEN:  # reopened here: back to its stage in the CRM
        stage = adapter_for(connection.kind).open_stage_value(
            connection=connection, stage_name=deal.stage.name
        )
        outcome = OPEN
    else:
        stage = (connection.stage_out or {}).get(deal.status)
        outcome = WON if deal.status == DealStatus.WON else LOST
    if not stage:
        return None
    reason = deal.close_reason
    pushed = {
        "status": deal.status,
        "stage": stage,
        "reason": _reason_value(connection, reason) if reason else "",
    }
    return {"external_id": external_id, "outcome": outcome, "stage": stage, "reason": pushed["reason"],
            "pushed": pushed}  # fmt: skip


def write_back_request(*, connection: CrmConnection, deal: Deal) -> tuple[str, dict, dict] | None:
    """(URL, JSON body, the values pushed) for the deal's current state, or None if nothing to send."""
    state = write_back_state(connection=connection, deal=deal)
    if state is None:
        return None
    request = adapter_for(connection.kind).write_back(connection=connection, state=state)
    return (request.url, request.body, request.pushed) if request else None


def _retry_after(value: str | None) -> float:
    if not value:
        return 30.0
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 30.0
    return max((when - datetime.now(tz=UTC)).total_seconds(), 0.0)


def deal_sync_queue(*, deal_id: int, changed_at: datetime | None = None) -> list[str]:
    """After a change here (a close, a reason given, a reopen): mark the deal's CRM syncs pending
    and hand a push to each CRM to the worker, both in one transaction.

    `changed_at` (a reopen's time) counts as the newest change the CRM knows of: a CRM delivery
    older than it (a close sent before the reopen reached the CRM) moves nothing.
    """
    connections = [c for c in CrmConnection.objects.filter(active=True, write_back=True)]
    if not connections:
        return []
    deal = Deal.objects.filter(pk=deal_id).values(*EXTERNAL_ID_FIELD.values()).first() or {}
    kinds = [c.kind for c in connections if deal.get(c.external_id_field)]
    with transaction.atomic():
        for kind in kinds:
            DealSync.objects.update_or_create(
                deal_id=deal_id, kind=kind, defaults={"state": DealSync.State.PENDING, "last_error": ""}
            )
            if changed_at is not None:
                _change_made_here(deal_id=deal_id, kind=kind, at=changed_at)
        handoff_enqueue(kind=HANDOFF_WRITE_BACK, items=[[deal_id, kind] for kind in kinds])
    return kinds


def _change_made_here(*, deal_id: int, kind: str, at: datetime) -> None:
    state, created = CrmDealState.objects.select_for_update().get_or_create(
        deal_id=deal_id, kind=kind, defaults={"changed_at": at}
    )
    if not created and (state.changed_at is None or state.changed_at < at):
        CrmDealState.objects.filter(pk=state.pk).update(changed_at=at)


def write_back_send(
    connection: CrmConnection, request, timeout: float, attempts: int
) -> tuple[str, float | None]:
    """One PATCH; (error text or "", seconds before a retry or None)."""
    try:
        auth = adapter_for(connection.kind).auth_headers(connection=connection)
        crm_request(auth=auth, method=request.method, url=request.url, body=request.body, timeout=timeout)
    except CrmHttpError as exc:
        if exc.status == 429:
            return str(exc), min(_retry_after(exc.headers.get("Retry-After")), 600.0)
        return str(exc), retry_delay(attempts) if exc.status >= 500 else None
    except CrmAddressRefused as exc:  # an admin fixes the address (or the operator allows it)
        return f"Address refused: {exc}", None
    except CrmRequestFailed as exc:
        return str(exc), retry_delay(attempts)
    return "", None


def deal_sync_push(*, deal_id: int, kind: str, timeout: float = 10.0) -> Processed:
    """PATCH the deal's current state (stage and reason, or its open stage) to one CRM; one attempt.

    Returns the sync state, with `retry_in` seconds when it should be tried again
    (after a 429 its Retry-After, after a 5xx or network error a short backoff).
    """
    connection = CrmConnection.objects.filter(kind=kind, active=True, write_back=True).first()
    deal = Deal.objects.select_related("close_reason", "stage").filter(pk=deal_id).first()
    if connection is None or deal is None:
        return Processed("nothing to do")
    sync, _ = DealSync.objects.get_or_create(deal=deal, kind=kind)
    if sync.state in (DealSync.State.SYNCED, DealSync.State.FAILED) and sync.last_attempt_at:
        return Processed(sync.state)  # a repeated hand-off: this change was sent (or given up) already
    now = timezone.now()
    try:
        state = write_back_state(connection=connection, deal=deal)
    except StageNotMapped as exc:  # an admin maps the stage, then retries: no retry on its own
        DealSync.objects.filter(pk=sync.pk).update(
            state=DealSync.State.FAILED, attempts=sync.attempts + 1, last_error=str(exc), last_attempt_at=now
        )
        return Processed(DealSync.State.FAILED)
    request = adapter_for(kind).write_back(connection=connection, state=state) if state else None
    if request is None:
        DealSync.objects.filter(pk=sync.pk).update(state=DealSync.State.SYNCED, last_attempt_at=now)
        return Processed(DealSync.State.SYNCED)
    attempts = sync.attempts + 1
    error, retry_in = write_back_send(connection, request, timeout, attempts)
    if not error:
        DealSync.objects.filter(pk=sync.pk).update(
            state=DealSync.State.SYNCED, attempts=0, last_error="", last_pushed=request.pushed,
            last_attempt_at=now, synced_at=timezone.now(),
        )  # fmt: skip
        return Processed(DealSync.State.SYNCED)
    if retry_in is not None and attempts < max_attempts():
        DealSync.objects.filter(pk=sync.pk).update(
            state=DealSync.State.RETRYING, attempts=attempts, last_error=error[:2000], last_attempt_at=now
        )
        return Processed(DealSync.State.RETRYING, retry_in=retry_in)
    DealSync.objects.filter(pk=sync.pk).update(
        state=DealSync.State.FAILED, attempts=attempts, last_error=error[:2000], last_attempt_at=now
    )
    return Processed(DealSync.State.FAILED)


def deal_sync_retry(*, sync: DealSync) -> None:
    """An admin (or the deal's viewer) asks to send a failed sync again."""
    with transaction.atomic():
        DealSync.objects.filter(pk=sync.pk).update(state=DealSync.State.PENDING, attempts=0)
        handoff_enqueue(kind=HANDOFF_WRITE_BACK, items=[[sync.deal_id, sync.kind]])


def deal_sync_handoff(item: list) -> float | None:
    """The outbox's handler for one write-back: [deal id, CRM kind]."""
    deal_id, kind = item
    return deal_sync_push(deal_id=deal_id, kind=kind).retry_in
