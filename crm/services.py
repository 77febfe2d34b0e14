"""Every change the CRM integration makes: webhooks in, reason mapping, write-back.

Webhook receivers only verify and store (`webhook_receive`); Celery processes each stored
event through `webhook_event_process`, which closes deals through deals.services.
"""

import base64
import binascii
import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from defusedxml import ElementTree
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.text import slugify

from crm.addresses import validate_crm_address
from crm.models import (
    CONNECTION_DEFAULTS,
    EXTERNAL_ID_FIELD,
    CrmConnection,
    CrmDealState,
    CrmKind,
    CrmLostReason,
    DealSync,
    ReasonMapping,
    UnmappedReason,
    WebhookEvent,
)
from deals import services as deal_services
from deals.models import Deal, DealStatus, Stage
from outbox.services import handoff_enqueue
from reasons.models import Competitor, Reason, ReasonKind
from teams.models import User

logger = logging.getLogger(__name__)

# The kinds of hand-off to the worker this app registers with the outbox (crm.apps).
HANDOFF_WEBHOOK = "crm.webhook"
HANDOFF_WRITE_BACK = "crm.write_back"
HANDOFF_REMINDER = "crm.reminder"
HANDOFF_IMPORT = "crm.import"

HUBSPOT_MAX_AGE_MS = 5 * 60 * 1000
SALESFORCE_NS = "http://soap.sforce.com/2005/09/outbound"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
# Headers kept with a stored event; credentials and cookies never are.
DROPPED_HEADERS = {"authorization", "cookie", "proxy-authorization"}
# An incoming change equal to what we pushed within this window is our own echo.
ECHO_WINDOW = timedelta(hours=6)


def max_attempts() -> int:
    return getattr(settings, "CRM_MAX_ATTEMPTS", 5)


def retry_delay(attempt: int) -> float:
    """Seconds before retry number `attempt`: short exponential backoff (nothing long in the broker)."""
    base = getattr(settings, "CRM_RETRY_BASE_SECONDS", 2.0)
    return min(base * 2 ** max(attempt - 1, 0), 300)


class WebhookRejected(Exception):
    """The request is not from the CRM we trust; `status` is the HTTP answer."""

    def __init__(self, message: str, *, status: int = 401):
        super().__init__(message)
        self.message = message
        self.status = status


def normalise_reason_text(text: str) -> str:
    return " ".join((text or "").casefold().split())[:300]


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


# --- reasons: CRM text → our taxonomy -------------------------------------------------------


def _active_survivor(reason: Reason | None) -> Reason | None:
    """A retired reason that was merged counts as its survivor."""
    seen = set()
    while reason is not None and not reason.active and reason.pk not in seen:
        seen.add(reason.pk)
        reason = getattr(reason, "merged_into", None)
    return reason if reason is not None and reason.active else None


def _competitor_in(text: str) -> Competitor | None:
    folded = text.casefold()
    for competitor in Competitor.objects.filter(active=True):
        names = [competitor.name, *(competitor.aliases or [])]
        if any(name and name.casefold() in folded for name in names):
            return competitor
    return None


# A CRM's "lost" carries a loss reason or, for a deal that was never decided, a no-decision one.
LOST_REASON_KINDS = (ReasonKind.LOSS, ReasonKind.NO_DECISION)


def reason_for_crm_text(
    *, kind: str, text: str, kinds=LOST_REASON_KINDS
) -> tuple[Reason | None, Competitor | None]:
    """Our reason (of one of `kinds`) for a CRM's reason text: the mapping table, then code, then label."""
    value = normalise_reason_text(text)
    if not value:
        return None, None
    mapping = (
        ReasonMapping.objects.filter(Q(kind=kind) | Q(kind=""), crm_value=value, reason__kind__in=kinds)
        .select_related("reason", "competitor")
        .order_by("-kind")
        .first()
    )
    if mapping is not None:
        reason, competitor = _active_survivor(mapping.reason), mapping.competitor
    else:
        candidates = Reason.objects.filter(kind__in=kinds).filter(
            Q(code=text.strip()) | Q(code=slugify(text)) | Q(label__iexact=text.strip())
        )
        reason, competitor = _active_survivor(candidates.first()), None
    if reason is not None and reason.requires_competitor and competitor is None:
        competitor = _competitor_in(text)
    return reason, competitor


def unmapped_reason_record(*, kind: str, text: str, count: int = 1) -> None:
    """Put a CRM reason text no mapping matched into the "needs classification" queue."""
    value = normalise_reason_text(text)
    if not value:
        return
    now = timezone.now()
    updated = UnmappedReason.objects.filter(kind=kind, crm_value=value).update(
        occurrences=F("occurrences") + count, last_seen=now
    )
    if not updated:
        UnmappedReason.objects.bulk_create(
            [UnmappedReason(kind=kind, crm_value=value, example=text.strip()[:300], occurrences=count)],
            update_conflicts=True,
            unique_fields=["kind", "crm_value"],
            update_fields=["last_seen"],
        )


def crm_lost_reason_record(*, deal: Deal, kind: str, text: str) -> None:
    """Remember what the CRM said for a deal waiting for a reason (one upsert statement)."""
    if text:
        CrmLostReason.objects.bulk_create(
            [CrmLostReason(deal=deal, kind=kind, crm_value=normalise_reason_text(text), text=text[:300])],
            update_conflicts=True,
            unique_fields=["deal"],
            update_fields=["kind", "crm_value", "text"],
        )


def unmapped_reason_classify(
    *, unmapped: UnmappedReason, reason: Reason, actor: User, competitor: Competitor | None = None
) -> int:
    """Map a queued CRM text onto a reason; deals waiting with that text get it. Returns how many."""
    if reason.kind != ReasonKind.LOSS or not reason.active:
        raise deal_services.DealError("Choose an active loss reason.", field="reason")
    with transaction.atomic():
        mapping, _created = ReasonMapping.objects.update_or_create(
            kind=unmapped.kind,
            crm_value=unmapped.crm_value,
            defaults={"reason": reason, "competitor": competitor, "created_by": actor},
        )
        UnmappedReason.objects.filter(pk=unmapped.pk).update(mapping=mapping, resolved_at=timezone.now())
    given = 0
    waiting = Deal.objects.filter(
        needs_reason=True, crm_lost_reason__kind=unmapped.kind, crm_lost_reason__crm_value=unmapped.crm_value
    )
    for deal in waiting:
        try:
            deal_services.deal_give_reason(
                deal=deal, reason=reason, actor=actor, competitor=competitor, via_crm=False
            )
            given += 1
        except deal_services.DealError:
            continue  # the rep will give one from the queue
    return given


# --- processing stored events ----------------------------------------------------------------


class EventFailed(Exception):
    """Processing failed in a way a retry may cure (e.g. the deal is not imported yet)."""


LOST, WON, OPEN = "lost", "won", "open"


@dataclass(frozen=True)
class CrmChange:
    external_id: str
    outcome: str | None  # LOST, WON or OPEN: the deal's state in the CRM; None: only a reason changed
    reason_text: str | None  # the CRM's reason for that outcome, when the event carries one
    closed_at: datetime | None  # when the CRM made the change (its own clock)
    stage_value: str = ""

    @property
    def closes_lost(self) -> bool:
        return self.outcome == LOST


def _outcome_of(connection: CrmConnection, stage_value: str) -> str:
    if stage_value in connection.lost_stages:
        return LOST
    return WON if stage_value in (connection.won_stages or []) else OPEN


def _from_ms(value) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _parse_time(value) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _hubspot_change(connection: CrmConnection, event: WebhookEvent) -> CrmChange | str:
    events = json.loads(event.body)
    item = events[event.item]
    if item.get("subscriptionType") not in {"deal.propertyChange", "object.propertyChange"}:
        return f"{item.get('subscriptionType')} is not a deal property change"
    object_id = str(item["objectId"])
    name, value = item.get("propertyName"), item.get("propertyValue") or ""
    closed_at = _from_ms(item.get("occurredAt"))
    if name == "dealstage":
        outcome = _outcome_of(connection, value)
        field = {LOST: connection.reason_field, WON: connection.win_reason_field}.get(outcome)
        # HubSpot sends the reason as its own event; take it from the same delivery when there.
        reason = next(
            (
                e.get("propertyValue") or ""
                for e in events
                if field and str(e.get("objectId")) == object_id and e.get("propertyName") == field
            ),
            None,
        )
        return CrmChange(object_id, outcome, reason, closed_at, stage_value=value)
    if name == connection.reason_field:
        return CrmChange(object_id, None, value, closed_at)
    return f"property {name!r} is not followed"


def _pipedrive_change(connection: CrmConnection, event: WebhookEvent) -> CrmChange | str:
    payload = json.loads(event.body)
    meta, data = payload["meta"], payload.get("data") or {}
    if meta.get("entity") != "deal" or meta.get("action") not in {"change", "create"}:
        return f"{meta.get('action')} of {meta.get('entity')} is not followed"
    status = data.get("status") or ""
    outcome = _outcome_of(connection, status)
    changed_at = _parse_time(data.get("update_time")) or _parse_time(meta.get("timestamp"))
    closed_at = _parse_time(data.get({LOST: "lost_time", WON: "won_time"}.get(outcome, ""))) or changed_at
    external_id = str(meta.get("entity_id") or data.get("id"))
    reason = data.get(connection.reason_field) if outcome == LOST else None
    # `previous` holds what the change replaced (v2: only the changed fields; v1: the whole deal).
    # An edit that leaves the status as it was (a title, say) is no new close or reopen: a deal
    # reopened here must stay open.
    previous = payload.get("previous")
    if (
        meta.get("action") == "change"
        and isinstance(previous, dict)
        and previous.get("status", status) == status
    ):
        field = connection.reason_field
        if outcome == LOST and field in previous and previous.get(field) != reason:  # the reason was edited
            return CrmChange(external_id, None, reason or "", changed_at)
        return f"status stayed {status!r}: an edit, not a close or a reopen"
    if outcome == OPEN and meta.get("action") != "change":
        return "a new open deal: nothing to record here"
    if outcome == LOST:
        reason = reason if reason is not None else ""
    return CrmChange(external_id, outcome, reason, closed_at, stage_value=status)


def _salesforce_change(connection: CrmConnection, event: WebhookEvent) -> CrmChange | str:
    notifications = _salesforce_notifications(event.body.encode())
    notification = notifications.findall(f"{{{SALESFORCE_NS}}}Notification")[event.item]
    sobject = notification.find(f"{{{SALESFORCE_NS}}}sObject")
    if sobject is None or not (sobject.get(XSI_TYPE) or "").endswith("Opportunity"):
        return "not an Opportunity"
    fields = {child.tag.rsplit("}", 1)[-1]: (child.text or "").strip() for child in sobject}
    stage = fields.get("StageName", "")
    outcome = _outcome_of(connection, stage)
    closed_at = _parse_time(fields.get("LastModifiedDate")) or _parse_time(fields.get("CloseDate"))
    field = {LOST: connection.reason_field, WON: connection.win_reason_field}.get(outcome)
    reason = fields.get(field) if field else None
    return CrmChange(fields["Id"], outcome, reason, closed_at, stage_value=stage)


CHANGE_PARSERS = {
    CrmKind.HUBSPOT: _hubspot_change,
    CrmKind.PIPEDRIVE: _pipedrive_change,
    CrmKind.SALESFORCE: _salesforce_change,
}


def _is_echo(*, deal: Deal, kind: str, change: CrmChange) -> bool:
    """The CRM telling us what we just told it: nothing new, whatever our deal looks like now."""
    sync = DealSync.objects.filter(deal=deal, kind=kind, synced_at__isnull=False).first()
    if sync is None or not sync.last_pushed or timezone.now() - sync.synced_at > ECHO_WINDOW:
        return False
    pushed = sync.last_pushed
    if change.closes_lost and change.stage_value != pushed.get("stage"):
        return False
    if change.reason_text is None:
        return True
    return normalise_reason_text(change.reason_text) == normalise_reason_text(pushed.get("reason", ""))


def _apply_change(*, connection: CrmConnection, change: CrmChange, event: WebhookEvent) -> str:
    field = EXTERNAL_ID_FIELD[connection.kind]
    deal = Deal.objects.filter(**{field: change.external_id}).first()
    if deal is None:
        raise EventFailed(f"No deal has {connection} id {change.external_id}.")
    event.deal = deal
    if _is_echo(deal=deal, kind=connection.kind, change=change):
        return "ignored: the CRM echoed our own change"
    return crm_change_apply(connection=connection, change=change, deal=deal, received_at=event.received_at)


def crm_change_apply(
    *, connection: CrmConnection, change: CrmChange, deal: Deal, received_at: datetime
) -> str:
    """Bring the deal to the CRM's state through the deal services (webhooks and reconciliation).

    Call inside a transaction. A change older than one already applied changes nothing.
    """
    if not _newest_change(deal=deal, kind=connection.kind, at=change.closed_at):
        return "ignored: older than a change already applied"
    moves = change.outcome is not None and deal.status != DealStatus.OPEN
    if moves and change.closed_at and deal.closed_at and change.closed_at < deal.closed_at:
        return "ignored: the deal was closed here after this CRM change"
    apply = {None: _apply_reason, LOST: _apply_lost, WON: _apply_won, OPEN: _apply_open}[change.outcome]
    return apply(connection=connection, change=change, deal=deal, received_at=received_at)


def _newest_change(*, deal: Deal, kind: str, at: datetime | None) -> bool:
    """Record `at` as the deal's newest change from this CRM; False if a newer one was applied.

    Deliveries come late, twice and out of order: the CRM's own clock decides.
    """
    if at is None:
        return True
    state, created = CrmDealState.objects.select_for_update().get_or_create(
        deal=deal, kind=kind, defaults={"changed_at": at}
    )
    if created or at >= state.changed_at:
        CrmDealState.objects.filter(pk=state.pk).update(changed_at=at)
        return True
    return False


def _reason_and_competitor(connection: CrmConnection, change: CrmChange, kinds) -> tuple:
    text = (change.reason_text or "").strip()
    reason, competitor = (
        reason_for_crm_text(kind=connection.kind, text=text, kinds=kinds) if text else (None, None)
    )
    return text, reason, competitor


def _apply_reason(*, connection: CrmConnection, change: CrmChange, deal: Deal, received_at: datetime) -> str:
    """Only the CRM's reason changed: it answers a deal here that waits for its reason."""
    if not (deal.status == DealStatus.LOST and deal.needs_reason):
        return "ignored: a reason for a deal that is not waiting for one"
    return _give_reason(connection=connection, change=change, deal=deal)


def _give_reason(*, connection: CrmConnection, change: CrmChange, deal: Deal) -> str:
    text, reason, competitor = _reason_and_competitor(connection, change, LOST_REASON_KINDS)
    if reason is None or reason.kind != ReasonKind.LOSS:
        if text and reason is None:
            unmapped_reason_record(kind=connection.kind, text=text)
        return "ignored: still no standard reason"
    try:
        deal_services.deal_give_reason(
            deal=deal, reason=reason, actor=None, competitor=competitor, note=_crm_note(connection, text),
            via_crm=True,
        )  # fmt: skip
    except deal_services.DealError as exc:
        return f"ignored: {exc.message}"
    return f"reason given: {reason.code}"


def _reopen_here(*, deal: Deal, change: CrmChange, stage=None) -> None:
    deal_services.deal_reopen(deal=deal, actor=None, stage=stage, reopened_at=change.closed_at, via_crm=True)


def _apply_lost(*, connection: CrmConnection, change: CrmChange, deal: Deal, received_at: datetime) -> str:
    if deal.status == DealStatus.LOST and deal.needs_reason:
        return _give_reason(connection=connection, change=change, deal=deal)
    if deal.status in (DealStatus.LOST, DealStatus.NO_DECISION):
        return f"ignored: the deal is already {deal.get_status_display().lower()}"
    if deal.status == DealStatus.WON:  # the CRM took the win back and lost it since: follow it
        _reopen_here(deal=deal, change=change)
    text, reason, competitor = _reason_and_competitor(connection, change, LOST_REASON_KINDS)
    closed_at = change.closed_at or received_at
    if reason is not None:
        close = deal_services.deal_mark_no_decision if reason.kind == ReasonKind.NO_DECISION else None
        try:
            if close is not None:
                note = _crm_note(connection, text)
                close(deal=deal, reason=reason, actor=None, note=note, closed_at=closed_at, via_crm=True)
                return f"no decision: {reason.code}"
            deal_services.deal_mark_lost(
                deal=deal, reason=reason, actor=None, competitor=competitor, note=_crm_note(connection, text),
                closed_at=closed_at, via_crm=True,
            )  # fmt: skip
            return f"closed lost: {reason.code}"
        except deal_services.DealAlreadyClosed:
            return "ignored: the deal was closed meanwhile"
        except deal_services.DealError:
            pass  # e.g. the reason needs a competitor the CRM did not name: ask the rep
    elif text:
        unmapped_reason_record(kind=connection.kind, text=text)
    # No standard reason yet, but the competitor the CRM named still counts as "lost to".
    competitor = competitor or (_competitor_in(text) if text else None)
    deal_services.deal_mark_lost_from_crm(
        deal=deal, crm_reason_text=text, closed_at=closed_at, competitor=competitor
    )
    crm_lost_reason_record(deal=deal, kind=connection.kind, text=text)
    handoff_enqueue(kind=HANDOFF_REMINDER, items=[deal.pk])
    return "closed lost: needs a reason"


def _apply_won(*, connection: CrmConnection, change: CrmChange, deal: Deal, received_at: datetime) -> str:
    if deal.status == DealStatus.WON:
        return "ignored: the deal is already won"
    if deal.status != DealStatus.OPEN:  # lost (or no decision) here, won in the CRM since
        _reopen_here(deal=deal, change=change)
    text, reason, competitor = _reason_and_competitor(connection, change, (ReasonKind.WIN,))
    try:
        deal_services.deal_mark_won(
            deal=deal, reason=reason, actor=None, competitor=competitor,
            note=_crm_note(connection, text, "won"), closed_at=change.closed_at or received_at,
            via_crm=True,
        )  # fmt: skip
    except deal_services.DealAlreadyClosed:
        return "ignored: the deal was closed meanwhile"
    except (
        deal_services.DealError
    ) as exc:  # the pipeline asks for a win reason the CRM's text does not map to
        raise EventFailed(
            f"Won in {connection} with reason “{text}”: {exc.message} Map the CRM's win reason, then replay."
        ) from exc
    return f"closed won: {reason.code}" if reason else "closed won"


def _apply_open(*, connection: CrmConnection, change: CrmChange, deal: Deal, received_at: datetime) -> str:
    """The CRM has the deal open at a stage: reopen a deal closed here, or follow its stage."""
    stage = Stage.objects.filter(
        pipeline_id=deal.pipeline_id, name__iexact=change.stage_value.strip()
    ).first()
    if deal.status != DealStatus.OPEN:
        _reopen_here(deal=deal, change=change, stage=stage)
        return f"reopened: stage {stage.name if stage else 'at close'}"
    if stage is None or stage.pk == deal.stage_id:
        return f"ignored: open in both (stage {change.stage_value!r})"
    deal_services.deal_change_stage(deal=deal, stage=stage, actor=None, changed_at=change.closed_at)
    return f"stage: {stage.name}"


def _crm_note(connection: CrmConnection, text: str, outcome: str = "lost") -> str:
    return f"Closed {outcome} in {connection}: “{text}”" if text else f"Closed {outcome} in {connection}."


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
            change = CHANGE_PARSERS[event.kind](connection, event)
            result = change if isinstance(change, str) else _apply_change(
                connection=connection, change=change, event=event
            )  # fmt: skip
            ignored = isinstance(change, str) or result.startswith("ignored")
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


def write_back_request(*, connection: CrmConnection, deal: Deal) -> tuple[str, dict, dict] | None:
    """(URL, JSON body, the values pushed) for the deal's current state, or None if nothing to send."""
    external_id = getattr(deal, connection.external_id_field)
    stage = (connection.stage_out or {}).get(deal.status)
    if not external_id or deal.status == DealStatus.OPEN or not stage:
        return None
    reason = deal.close_reason
    pushed = {
        "status": deal.status,
        "stage": stage,
        "reason": _reason_value(connection, reason) if reason else "",
    }
    base = connection.base_url.rstrip("/")
    if connection.kind == CrmKind.HUBSPOT:
        properties = {"dealstage": stage}
        if reason:
            properties[connection.reason_field] = pushed["reason"]
        return f"{base}/crm/v3/objects/deals/{external_id}", {"properties": properties}, pushed
    if connection.kind == CrmKind.PIPEDRIVE:
        body = {"status": stage}
        if reason and deal.status == DealStatus.LOST:
            body[connection.reason_field] = pushed["reason"]
        return f"{base}/api/v2/deals/{external_id}", body, pushed
    body = {"StageName": stage}
    if reason:
        body[connection.reason_field] = pushed["reason"]
    url = f"{base}/services/data/{connection.api_version}/sobjects/Opportunity/{external_id}"
    return url, body, pushed


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


def deal_sync_queue(*, deal_id: int) -> list[str]:
    """After a close here: mark the deal's CRM syncs pending and hand a push to each CRM to the
    worker, both in one transaction."""
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
        handoff_enqueue(kind=HANDOFF_WRITE_BACK, items=[[deal_id, kind] for kind in kinds])
    return kinds


def deal_sync_push(*, deal_id: int, kind: str, timeout: float = 10.0) -> Processed:
    """PATCH the deal's current close (stage and reason) to one CRM; one attempt.

    Returns the sync state, with `retry_in` seconds when it should be tried again
    (after a 429 its Retry-After, after a 5xx or network error a short backoff).
    """
    connection = CrmConnection.objects.filter(kind=kind, active=True, write_back=True).first()
    deal = Deal.objects.select_related("close_reason").filter(pk=deal_id).first()
    if connection is None or deal is None:
        return Processed("nothing to do")
    sync, _ = DealSync.objects.get_or_create(deal=deal, kind=kind)
    if sync.state in (DealSync.State.SYNCED, DealSync.State.FAILED) and sync.last_attempt_at:
        return Processed(sync.state)  # a repeated hand-off: this close was sent (or given up) already
    request = write_back_request(connection=connection, deal=deal)
    now = timezone.now()
    if request is None:
        DealSync.objects.filter(pk=sync.pk).update(state=DealSync.State.SYNCED, last_attempt_at=now)
        return Processed(DealSync.State.SYNCED)
    url, body, pushed = request
    http = urllib.request.Request(  # noqa: S310 - the admin-configured CRM address
        url,
        data=json.dumps(body).encode(),
        method="PATCH",
        headers={
            "Authorization": f"Bearer {connection.api_token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": "closedlost-crm-sync",
        },
    )
    attempts = sync.attempts + 1
    error, retry_in = "", None
    try:
        with urllib.request.urlopen(http, timeout=timeout):  # noqa: S310
            pass
    except urllib.error.HTTPError as exc:
        detail = exc.read(500).decode("utf-8", errors="replace")
        error = f"HTTP {exc.code}: {detail}"
        if exc.code == 429:
            retry_in = min(_retry_after(exc.headers.get("Retry-After")), 600.0)
        elif exc.code >= 500:
            retry_in = retry_delay(attempts)
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        error, retry_in = f"Network error: {exc}", retry_delay(attempts)
    if not error:
        DealSync.objects.filter(pk=sync.pk).update(
            state=DealSync.State.SYNCED, attempts=0, last_error="", last_pushed=pushed,
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
