"""Webhooks in: prove the sender (through the CRM's adapter) and store each event raw, once per
dedupe key, handing its processing to the worker through the outbox. Nothing here reads deals."""

import json
import time
from functools import partial

from django.conf import settings
from django.db import transaction
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
from outbox.services import handoff_insert_sql, messages_publish_soon

HANDOFF_WEBHOOK = "crm.webhook"
# Headers kept with a stored event; credentials and cookies never are.
DROPPED_HEADERS = {"authorization", "cookie", "proxy-authorization"}
COLUMNS = "kind, dedupe_key, body, item, headers, received_at, status, attempts, last_error, result"


# Each web process keeps the connections it read for CRM_CONNECTION_CACHE_SECONDS: a receiver
# then costs one statement, not two. A connection saved in this process is read again at once
# (crm.receivers clears the cache); other processes see a change within that many seconds.
_connections: dict[str, tuple[float, CrmConnection | None]] = {}


def connection_for_webhook(kind: str) -> CrmConnection | None:
    """The active connection of this CRM, as a receiver needs it (briefly cached)."""
    ttl = getattr(settings, "CRM_CONNECTION_CACHE_SECONDS", 0)
    now = time.monotonic()
    cached = _connections.get(kind)
    if ttl > 0 and cached is not None and cached[0] > now:
        return cached[1]
    connection = CrmConnection.objects.filter(kind=kind, active=True).first()
    if ttl > 0:
        _connections[kind] = (now + ttl, connection)
    return connection


def connections_forget() -> None:
    _connections.clear()


def webhook_verify_and_receive(*, connection: CrmConnection, request: IncomingRequest) -> int:
    """Prove the sender, then store the delivery's events (see webhook_receive)."""
    adapter_for(connection.kind).verify(connection=connection, request=request)
    return webhook_receive(connection=connection, body=request.body, headers=request.headers)


def webhook_receive(*, connection: CrmConnection, body: bytes, headers) -> int:
    """Store each event of a verified request (once per dedupe key) and queue its processing.

    Returns how many events were new. A repeated delivery stores nothing and queues nothing.
    One statement stores the batch (INSERT ... ON CONFLICT DO NOTHING RETURNING) and records
    the outbox message for the new rows: atomic by itself, one round trip to the database and
    no transaction to open and commit. Once committed, the process's background publisher
    hands the message to the broker (the broker's state never changes the answer).
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
    message_sql, message_params = handoff_insert_sql(kind=HANDOFF_WEBHOOK, ids_from="new")
    # The answer waits for the disk unless CRM_WEBHOOK_SYNCHRONOUS_COMMIT is "0" (then a database
    # crash in the next instant could lose the last deliveries, which reconciliation repairs).
    # set_config(..., true) holds for this statement's own transaction.
    commit = "on" if getattr(settings, "CRM_WEBHOOK_SYNCHRONOUS_COMMIT", True) else "off"
    sql = (
        "WITH durability AS (SELECT set_config('synchronous_commit', %s, true) AS value), "  # noqa: S608 - fixed names
        f"new AS (INSERT INTO {WebhookEvent._meta.db_table} ({COLUMNS}) VALUES {rows} "
        "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id), "
        f"message AS ({message_sql}) "
        "SELECT (SELECT count(*) FROM new), (SELECT id FROM message), (SELECT value FROM durability)"
    )
    with db.cursor() as cursor:  # one statement: atomic by itself, one round trip
        cursor.execute(sql, [commit, *params, *message_params])
        stored, message_id, _ = cursor.fetchone()
    if message_id is not None:
        transaction.on_commit(partial(messages_publish_soon, [message_id]))
    return stored
