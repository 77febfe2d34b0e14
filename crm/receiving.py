"""Webhooks in: prove the sender (through the CRM's adapter) and store each event raw, once per
dedupe key, handing its processing to the worker through the outbox. Nothing here reads deals."""

import json
from functools import partial

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
from outbox.services import handoff_insert_sql, messages_publish

HANDOFF_WEBHOOK = "crm.webhook"
# Headers kept with a stored event; credentials and cookies never are.
DROPPED_HEADERS = {"authorization", "cookie", "proxy-authorization"}
COLUMNS = "kind, dedupe_key, body, item, headers, received_at, status, attempts, last_error, result"


def webhook_verify_and_receive(*, connection: CrmConnection, request: IncomingRequest) -> int:
    """Prove the sender, then store the delivery's events (see webhook_receive)."""
    adapter_for(connection.kind).verify(connection=connection, request=request)
    return webhook_receive(connection=connection, body=request.body, headers=request.headers)


def webhook_receive(*, connection: CrmConnection, body: bytes, headers) -> int:
    """Store each event of a verified request (once per dedupe key) and queue its processing.

    Returns how many events were new. A repeated delivery stores nothing and queues nothing.
    One statement stores the batch (INSERT ... ON CONFLICT DO NOTHING RETURNING) and records
    the outbox message for the new rows: atomic by itself, one round trip to the database and
    no transaction to open and commit. The message is published to the broker once committed
    (the broker's state never changes the answer).
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
            text,
            item.item,
            kept_headers,
            now,
            WebhookEvent.Status.PENDING,
        ]
    message_sql, message_params = handoff_insert_sql(kind=HANDOFF_WEBHOOK, ids_from="new")
    sql = (
        f"WITH new AS (INSERT INTO {WebhookEvent._meta.db_table} ({COLUMNS}) VALUES {rows} "  # noqa: S608 - fixed names
        "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id), "
        f"message AS ({message_sql}) "
        "SELECT (SELECT count(*) FROM new), (SELECT id FROM message)"
    )
    with db.cursor() as cursor:
        cursor.execute(sql, params + message_params)
        stored, message_id = cursor.fetchone()
    if message_id is not None:
        transaction.on_commit(partial(messages_publish, [message_id], recorded=True))
    return stored
