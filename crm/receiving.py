"""Webhooks in: prove the sender (each CRM's own way) and store each event raw, once per dedupe
key, handing its processing to the worker through the outbox. Nothing here reads deals."""

import base64
import binascii
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

from defusedxml import ElementTree
from django.db import transaction
from django.utils import timezone

from crm.models import CrmConnection, CrmKind, WebhookEvent
from outbox.services import handoff_enqueue

HANDOFF_WEBHOOK = "crm.webhook"
HUBSPOT_MAX_AGE_MS = 5 * 60 * 1000
SALESFORCE_NS = "http://soap.sforce.com/2005/09/outbound"
# Headers kept with a stored event; credentials and cookies never are.
DROPPED_HEADERS = {"authorization", "cookie", "proxy-authorization"}


class WebhookRejected(Exception):
    """The request is not from the CRM we trust; `status` is the HTTP answer."""

    def __init__(self, message: str, *, status: int = 401):
        super().__init__(message)
        self.message = message
        self.status = status


# --- signatures and authentication ---------------------------------------------------------

# HubSpot signs the URI with these characters decoded.
_HUBSPOT_DECODE = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}


def hubspot_signature_v3(*, secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """base64(HMAC-SHA256(secret, method + URI + body + timestamp)), as HubSpot computes it."""
    for encoded, char in _HUBSPOT_DECODE.items():
        uri = uri.replace(encoded, char).replace(encoded.lower(), char)
    message = method.upper().encode() + uri.encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def hubspot_verify(
    *, connection: CrmConnection, method: str, uri: str, body: bytes, headers, now_ms: int | None = None
) -> None:
    """Raise WebhookRejected unless the v3 signature is right and at most five minutes old."""
    signature = headers.get("X-HubSpot-Signature-v3")
    timestamp = headers.get("X-HubSpot-Request-Timestamp")
    if not signature or not timestamp:
        raise WebhookRejected("Missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp.")
    if not timestamp.isdigit():
        raise WebhookRejected("X-HubSpot-Request-Timestamp is not a number of milliseconds.")
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    if abs(now_ms - int(timestamp)) > HUBSPOT_MAX_AGE_MS:
        raise WebhookRejected("X-HubSpot-Request-Timestamp is more than five minutes old.")
    if not connection.webhook_secret:
        raise WebhookRejected("No HubSpot client secret is configured.")
    expected = hubspot_signature_v3(
        secret=connection.webhook_secret, method=method, uri=uri, body=body, timestamp=timestamp
    )
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise WebhookRejected("X-HubSpot-Signature-v3 does not match.")


def pipedrive_verify(*, connection: CrmConnection, headers) -> None:
    """Basic auth with the user name and password set on the Pipedrive webhook."""
    header = headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise WebhookRejected("Basic authentication is required.")
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise WebhookRejected("The Authorization header is not valid Basic authentication.") from exc
    if not connection.webhook_secret:
        raise WebhookRejected("No Pipedrive webhook password is configured.")
    user_ok = hmac.compare_digest(user.encode(), connection.webhook_username.encode())
    password_ok = hmac.compare_digest(password.encode(), connection.webhook_secret.encode())
    if not (user_ok and password_ok):
        raise WebhookRejected("Wrong user name or password.")


def salesforce_verify(*, connection: CrmConnection, token: str) -> None:
    """Outbound messages are not signed: a shared token in the endpoint URL (plus the org id)."""
    if not connection.webhook_secret:
        raise WebhookRejected("No Salesforce token is configured.")
    if not hmac.compare_digest(token.encode(), connection.webhook_secret.encode()):
        raise WebhookRejected("Wrong or missing token.")


# --- receiving: parse the envelope, store raw -------------------------------------------------


@dataclass(frozen=True)
class Received:
    dedupe_key: str
    item: int


# HubSpot's eventId is not unique across subscriptions: one change is the event of one
# subscription about one object (and property) at one moment. A retry repeats all of these
# (only attemptNumber grows), so it is stored once.
HUBSPOT_KEY_FIELDS = ("portalId", "subscriptionId", "eventId", "objectId", "propertyName", "occurredAt")


def hubspot_dedupe_key(event: dict) -> str:
    return "hubspot:" + ":".join(str(event.get(name, "")) for name in HUBSPOT_KEY_FIELDS)


def hubspot_items(*, connection: CrmConnection, body: bytes) -> list[Received]:
    try:
        events = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WebhookRejected("The body is not JSON.", status=400) from exc
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise WebhookRejected("The body must be a JSON array of event objects.", status=400)
    received = []
    for index, event in enumerate(events):
        if event.get("eventId") in (None, "") or event.get("portalId") in (None, ""):
            raise WebhookRejected(f"Event {index} has no eventId or portalId.", status=400)
        if connection.account_id and str(event["portalId"]) != connection.account_id:
            raise WebhookRejected(f"Event {index} is from another HubSpot portal.", status=403)
        received.append(Received(hubspot_dedupe_key(event), index))
    return received


def pipedrive_items(*, connection: CrmConnection, body: bytes) -> list[Received]:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WebhookRejected("The body is not JSON.", status=400) from exc
    meta = payload.get("meta") if isinstance(payload, dict) else None
    if not isinstance(meta, dict):
        raise WebhookRejected("The body has no meta object.", status=400)
    if connection.account_id and str(meta.get("company_id", "")) != connection.account_id:
        raise WebhookRejected("The event is from another Pipedrive company.", status=403)
    if meta.get("id"):
        key = f"pipedrive:{meta['id']}"
    else:
        parts = [meta.get(k, "") for k in ("entity", "entity_id", "action", "timestamp")]
        key = "pipedrive:" + ":".join(str(p) for p in parts)
    return [Received(key, 0)]


def _salesforce_notifications(body: bytes):
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        raise WebhookRejected("The body is not XML.", status=400) from exc
    notifications = root.find(f".//{{{SALESFORCE_NS}}}notifications")
    if notifications is None:
        raise WebhookRejected("The body is not a Salesforce outbound message.", status=400)
    return notifications


def salesforce_items(*, connection: CrmConnection, body: bytes) -> list[Received]:
    notifications = _salesforce_notifications(body)
    org = (notifications.findtext(f"{{{SALESFORCE_NS}}}OrganizationId") or "").strip()
    if connection.account_id and org[:15] != connection.account_id[:15]:
        raise WebhookRejected("The message is from another Salesforce organization.", status=403)
    received = []
    for index, notification in enumerate(notifications.findall(f"{{{SALESFORCE_NS}}}Notification")):
        notification_id = (notification.findtext(f"{{{SALESFORCE_NS}}}Id") or "").strip()
        if not notification_id:
            raise WebhookRejected(f"Notification {index} has no Id.", status=400)
        received.append(Received(f"salesforce:{notification_id}", index))
    return received


ITEM_PARSERS = {
    CrmKind.HUBSPOT: hubspot_items,
    CrmKind.PIPEDRIVE: pipedrive_items,
    CrmKind.SALESFORCE: salesforce_items,
}


def webhook_receive(*, connection: CrmConnection, body: bytes, headers) -> int:
    """Store each event of a verified request (once per dedupe key) and queue its processing.

    Returns how many events were new. A repeated delivery stores nothing and queues nothing.
    One INSERT ... ON CONFLICT DO NOTHING RETURNING statement stores the batch and says which
    rows are new; one outbox message, in the same transaction, hands them to the worker (the
    broker's state never changes the answer).
    """
    items = ITEM_PARSERS[connection.kind](connection=connection, body=body)
    if not items:
        return 0
    kept_headers = json.dumps({k: v for k, v in headers.items() if k.lower() not in DROPPED_HEADERS})
    text = body.decode("utf-8", errors="replace")
    db = transaction.get_connection()
    now = db.ops.adapt_datetimefield_value(timezone.now())
    table = WebhookEvent._meta.db_table
    columns = "kind, dedupe_key, body, item, headers, received_at, status, attempts, last_error, result"
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
    with transaction.atomic(), db.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}) VALUES {rows} ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",  # noqa: S608 - fixed names
            params,
        )
        new_ids = [row[0] for row in cursor.fetchall()]
        handoff_enqueue(kind=HANDOFF_WEBHOOK, items=new_ids)
    return len(new_ids)
