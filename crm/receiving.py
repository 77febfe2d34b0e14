"""Webhooks in: prove the sender (through the CRM's adapter) and store each event raw, once per
dedupe key, handing its processing to the worker through the outbox. Nothing here reads deals."""

import json
import time
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

# Each CRM's own checks live in its adapter; their names stay importable here.
from crm.adapters import adapter_for
from crm.adapters.base import IncomingRequest, Received, WebhookRejected  # noqa: F401
from crm.adapters.hubspot import (  # noqa: F401
    HUBSPOT_KEY_FIELDS,
    HUBSPOT_MAX_AGE_MS,
    hubspot_dedupe_key,
    hubspot_items,
    hubspot_signature_v3,
    hubspot_verify,
)
from crm.adapters.pipedrive import pipedrive_items, pipedrive_verify  # noqa: F401
from crm.adapters.salesforce import SALESFORCE_NS, salesforce_items, salesforce_verify  # noqa: F401
from crm.models import CrmConnection, WebhookEvent
from crm.statements import Prepared, run_repeatable
from outbox.services import handoff_publish_soon

HANDOFF_WEBHOOK = "crm.webhook"
# Headers kept with a stored event; credentials and cookies never are.
DROPPED_HEADERS = {"authorization", "cookie", "proxy-authorization"}
COLUMNS = "kind, dedupe_key, body, item, headers, received_at, status, attempts, last_error, result"


class ProcessCache:
    """What each web process keeps for CRM_CONNECTION_CACHE_SECONDS (0: nothing): the active
    connections a receiver reads (one statement per delivery, not two) and whether any CRM is
    written back to (asked by every close). A connection saved in this process clears it
    (crm.receivers); other processes see a change within that many seconds."""

    def __init__(self):
        self._values: dict = {}

    def get(self, key, compute):
        ttl = getattr(settings, "CRM_CONNECTION_CACHE_SECONDS", 0)
        now = time.monotonic()
        cached = self._values.get(key)
        if ttl > 0 and cached is not None and cached[0] > now:
            return cached[1]
        value = compute()
        if ttl > 0:
            self._values[key] = (now + ttl, value)
        return value

    def clear(self) -> None:
        self._values.clear()


connections_cache = ProcessCache()


def connection_for_webhook(kind: str) -> CrmConnection | None:
    """The active connection of this CRM, as a receiver needs it (briefly cached)."""
    return connections_cache.get(kind, lambda: CrmConnection.objects.filter(kind=kind, active=True).first())


def connections_forget() -> None:
    connections_cache.clear()


def webhook_verify_and_receive(*, connection: CrmConnection, request: IncomingRequest) -> int:
    """Prove the sender, then store the delivery's events (see webhook_receive)."""
    adapter_for(connection.kind).verify(connection=connection, request=request)
    return webhook_receive(connection=connection, body=request.body, headers=request.headers)


def webhook_receive(*, connection: CrmConnection, body: bytes, headers) -> int:
    """Store each event of a verified request (once per dedupe key) and queue its processing.

    Returns how many events were new. A repeated delivery stores nothing and queues nothing.
    One statement stores the batch (INSERT ... ON CONFLICT DO NOTHING RETURNING id): atomic by
    itself, one round trip, prepared once per connection (crm.statements). The stored rows
    (status pending) are the hand-off's intent: once committed, the process's background
    publisher hands their ids to the worker, and the outbox's sweep hands over any left
    pending (events_left_over).
    """
    items = adapter_for(connection.kind).received(connection=connection, body=body)
    if not items:
        return 0
    kept_headers = json.dumps({k: v for k, v in headers.items() if k.lower() not in DROPPED_HEADERS})
    text = body.decode("utf-8", errors="replace")
    db = transaction.get_connection()
    now = db.ops.adapt_datetimefield_value(timezone.now())
    rows = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, 0, '', '')"] * len(items))
    params = []
    for item in items:
        params += [
            connection.kind,
            item.dedupe_key,
            text if item.body is None else item.body,
            item.item,
            kept_headers,
            now,
            WebhookEvent.Status.PENDING,
        ]
    sql, prepared = _store_sql(rows), _store_prepared(len(items))
    if not getattr(settings, "CRM_WEBHOOK_SYNCHRONOUS_COMMIT", True):
        # The answer need not wait for the disk (a database crash in the next instant could
        # lose the last deliveries, which reconciliation repairs). set_config(..., true) holds
        # for this statement's own transaction.
        sql = (
            "WITH durability AS (SELECT set_config('synchronous_commit', 'off', true)), "  # noqa: S608
            f"new AS ({sql}) SELECT id FROM new, durability"
        )
        prepared = None
    stored = [row[0] for row in run_repeatable(db, plain=sql, prepared=prepared, params=params)]
    if stored:
        transaction.on_commit(partial(handoff_publish_soon, kind=HANDOFF_WEBHOOK, items=stored))
    return len(stored)


def _store_sql(rows: str) -> str:
    return (
        f"INSERT INTO {WebhookEvent._meta.db_table} ({COLUMNS}) VALUES {rows} "  # noqa: S608 - fixed names
        "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id"
    )


PREPARED_UP_TO = 10  # deliveries of up to this many events have a prepared statement each
ROW_TYPES = ["text", "text", "text", "integer", "jsonb", "timestamptz", "text"]


def _store_prepared(count: int) -> Prepared | None:
    if count > PREPARED_UP_TO:
        return None
    width = len(ROW_TYPES)
    params = [", ".join(f"${width * i + n}" for n in range(1, width + 1)) for i in range(count)]
    rows = ", ".join(f"({row}, 0, '', '')" for row in params)
    return Prepared(f"crm_webhook_store_{count}", ROW_TYPES * count, lambda: _store_sql(rows))


def events_left_over(*, now, older_than, lease, limit: int) -> list[int]:
    """The outbox's `left_over` for stored events: those still pending since before
    `older_than` (their publish was lost) and those a worker claimed longer than `lease` ago
    (it died) go back to pending, marked (claimed_at) so that the next sweeps leave them to
    the outbox rows they go into for a lease."""
    Status = WebhookEvent.Status
    stale = now - lease
    unfinished = Q(status=Status.PENDING, claimed_at__isnull=True) | Q(
        status__in=[Status.PENDING, Status.PROCESSING], claimed_at__lt=stale
    )
    waiting = WebhookEvent.objects.filter(unfinished, received_at__lt=older_than).select_for_update(
        skip_locked=True
    )
    ids = list(waiting.order_by("pk").values_list("pk", flat=True)[:limit])
    WebhookEvent.objects.filter(pk__in=ids).update(status=Status.PENDING, claimed_at=now)
    return ids
