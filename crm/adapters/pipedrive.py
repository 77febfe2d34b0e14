"""Pipedrive: Basic auth on the webhook, v2 deal events (with `previous`), API v2 deals."""

import base64
import binascii
import hmac
import json
import urllib.parse
from collections.abc import Iterator
from datetime import datetime

from crm.adapters.base import (
    LOST,
    OPEN,
    WON,
    CrmAdapter,
    CrmChange,
    CrmOwner,
    Fetch,
    Handled,
    IncomingRequest,
    Received,
    WebhookRejected,
    WriteBack,
    crm_value,
    outcome_of,
    parse_amount,
    parse_time,
    reason_field_out,
)
from crm.adapters.pipedrive_sync import PipedriveSyncReads
from crm.models import CrmConnection, CrmKind, WebhookEvent

PAGE_SIZE = 100
MAX_PAGES = 1000
# A deal's own fields (the rest, e.g. a win reason, are custom fields named by their key).
STANDARD_FIELDS = {"lost_reason", "title", "value", "status"}


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


def _owner(data: dict) -> str | None:
    return crm_value(data.get("owner_id")) or crm_value(data.get("user_id"))  # v2, then v1


def _custom(data: dict) -> dict:
    custom = data.get("custom_fields")
    return custom if isinstance(custom, dict) else {}


def has_field(data: dict, name: str) -> bool:
    return bool(name) and (name in data or name in _custom(data))


def field_text(data: dict, name: str) -> str | None:
    """A deal field's value as text: a standard field (lost_reason) at the top, a custom field (its
    key) in `custom_fields` (webhooks v2: {"type": ..., "value": ...}; API v2: the value itself;
    an option field's label when given, else its id). None: the deal does not carry the field."""
    if not has_field(data, name):
        return None
    value = data[name] if name in data else _custom(data)[name]
    if isinstance(value, dict):
        value = next((value[k] for k in ("value", "label", "id") if value.get(k) not in (None, "")), None)
    return "" if value is None else str(value)


def _stage_of(outcome: str, status: str, data: dict) -> str:
    """The change's stage value: a closed deal's status (what stage_out writes back), an open
    deal's pipeline stage id (what the stage map maps)."""
    if outcome == OPEN and data.get("stage_id") not in (None, ""):
        return str(data["stage_id"])
    return status


def _reason(connection: CrmConnection, outcome: str, data: dict) -> str | None:
    """The deal's reason for its outcome: the loss reason ("" when it has none), the win reason
    (None when the connection names no win-reason field or the event does not carry it)."""
    if outcome == LOST:
        return field_text(data, connection.reason_field) or ""
    if outcome == WON and connection.win_reason_field:
        return field_text(data, connection.win_reason_field)
    return None


def _details_change(external_id: str, data: dict, previous: dict, at) -> CrmChange | None:
    """An edit of the amount or the owner: a field `previous` holds with another value (v2 sends
    only changed fields, v1 the whole deal before the change)."""
    amount = owner = None
    if "value" in previous and parse_amount(previous["value"]) != parse_amount(data.get("value")):
        amount = parse_amount(data.get("value"))
    if ("owner_id" in previous or "user_id" in previous) and _owner(previous) != _owner(data):
        owner = _owner(data)
    if amount is None and owner is None:
        return None
    return CrmChange(external_id, None, None, at, amount=amount, owner=owner)


def _competitor(connection: CrmConnection, data: dict) -> str | None:
    """The deal's competitor field (the connection names its key), None when not carried."""
    return field_text(data, connection.competitor_field) if connection.competitor_field else None


def _changed(previous: dict, data: dict, field: str) -> bool:
    return has_field(previous, field) and (field_text(previous, field) or "") != (
        field_text(data, field) or ""
    )


def _edit(connection: CrmConnection, external_id: str, data: dict, previous: dict, outcome: str, at):
    """A change that leaves the status as it was: a reason edited (kept until its close when the
    deal is not closed yet), an open deal moved to another stage, its amount or owner, its
    competitor, or its person (the contacts are read again)."""
    for reason_outcome, field in ((LOST, connection.reason_field), (WON, connection.win_reason_field)):
        if _changed(previous, data, field):
            text = field_text(data, field) or ""
            return CrmChange(external_id, None, text, at, reason_outcome=reason_outcome)
    details = _details_change(external_id, data, previous, at)
    amount, owner = (details.amount, details.owner) if details else (None, None)
    extra = {
        "competitor_text": field_text(data, connection.competitor_field)
        if _changed(previous, data, connection.competitor_field)
        else None,
        "contacts_changed": "person_id" in previous
        and crm_value(previous.get("person_id")) != crm_value(data.get("person_id")),
    }
    moved = "stage_id" in previous and str(previous.get("stage_id")) != str(data.get("stage_id"))
    if outcome == OPEN and moved and data.get("stage_id") not in (None, ""):
        return CrmChange(
            external_id,
            OPEN,
            None,
            at,
            stage_value=str(data["stage_id"]),
            amount=amount,
            owner=owner,
            **extra,
        )
    if extra["competitor_text"] is not None or extra["contacts_changed"]:
        return CrmChange(external_id, None, None, at, amount=amount, owner=owner, **extra)
    return details


class PipedriveAdapter(PipedriveSyncReads, CrmAdapter):
    kind = CrmKind.PIPEDRIVE
    amount_field = "value"
    owner_field = "owner_id"

    def verify(self, *, connection: CrmConnection, request: IncomingRequest) -> None:
        pipedrive_verify(connection=connection, headers=request.headers)

    def received(self, *, connection: CrmConnection, body: bytes) -> list[Received]:
        return pipedrive_items(connection=connection, body=body)

    def refused(self, exc: WebhookRejected):
        response = super().refused(exc)
        if exc.status == 401:
            response["WWW-Authenticate"] = 'Basic realm="closedlost webhooks"'
        return response

    def change(self, *, connection: CrmConnection, event: WebhookEvent) -> CrmChange | str:
        payload = json.loads(event.body)
        # v2 (entity, create / change, data) or v1 (object, added / updated, current).
        meta, data = payload["meta"], payload.get("data") or payload.get("current") or {}
        entity = meta.get("entity") or meta.get("object")
        action = {"added": "create", "updated": "change", "deleted": "delete"}.get(
            meta.get("action"), meta.get("action")
        )
        if entity == "person" and action == "delete":  # a deleted person is erased here too
            from crm.erasure import crm_contact_deleted

            previous = payload.get("previous") if isinstance(payload.get("previous"), dict) else {}
            person = meta.get("entity_id") or previous.get("id") or meta.get("id")  # v2, then v1
            return Handled(crm_contact_deleted(kind="pipedrive", external_id=str(person)))
        if entity != "deal" or action not in {"change", "create"}:
            return f"{meta.get('action')} of {entity} is not followed"
        status = data.get("status") or ""
        outcome = outcome_of(connection, status)
        changed_at = parse_time(data.get("update_time")) or parse_time(meta.get("timestamp"))
        closed_at = parse_time(data.get({LOST: "lost_time", WON: "won_time"}.get(outcome, ""))) or changed_at
        external_id = str(meta.get("entity_id") or data.get("id") or meta.get("id"))
        # `previous` holds what the change replaced (v2: only the changed fields; v1: the whole
        # deal). An edit that leaves the status as it was is no new close or reopen: a deal
        # reopened here must stay open.
        previous = payload.get("previous")
        previous = previous if isinstance(previous, dict) else {}
        if action == "change" and previous and previous.get("status", status) == status:
            edit = _edit(connection, external_id, data, previous, outcome, changed_at)
            return edit or f"status stayed {status!r}: an edit, not a close or a reopen"
        if outcome == OPEN and action != "change":
            return CrmChange(external_id, None, None, changed_at)  # a new deal: made here if unknown
        details = _details_change(external_id, data, previous, None)
        amount, owner = (details.amount, details.owner) if details else (None, None)
        return CrmChange(
            external_id, outcome, _reason(connection, outcome, data), closed_at,
            stage_value=_stage_of(outcome, status, data), amount=amount, owner=owner,
            competitor_text=_competitor(connection, data),
        )  # fmt: skip

    def auth_headers(self, *, connection: CrmConnection) -> dict[str, str]:
        """A personal API token goes in x-api-token; an OAuth access token is a bearer token."""
        if connection.token_kind == CrmConnection.TokenKind.API_TOKEN:
            return {"x-api-token": connection.api_token}
        return super().auth_headers(connection=connection)

    def open_stage_value(self, *, connection: CrmConnection, stage_name: str) -> str:
        return "open"  # a Pipedrive deal's status; its stage is a pipeline id of its own

    def write_back(self, *, connection: CrmConnection, state: dict) -> WriteBack | None:
        body: dict = {"status": state["stage"]}
        if field := reason_field_out(connection, state):
            if field in STANDARD_FIELDS:
                body[field] = state["reason"]
            else:  # a custom field (a win reason): API v2 takes it by its key in custom_fields
                body["custom_fields"] = {field: state["reason"]}
        url = f"{connection.base_url.rstrip('/')}/api/v2/deals/{state['external_id']}"
        return WriteBack("PATCH", url, body, state["pushed"])

    def changed_since(
        self, *, connection: CrmConnection, since: datetime, fetch: Fetch
    ) -> Iterator[CrmChange]:
        base = connection.base_url.rstrip("/") + "/api/v2/deals"
        cursor = None
        for _ in range(MAX_PAGES):
            query = {"updated_since": since.strftime("%Y-%m-%dT%H:%M:%SZ"), "limit": PAGE_SIZE,
                     "sort_by": "update_time", "sort_direction": "asc"}  # fmt: skip
            if cursor:
                query["cursor"] = cursor
            page = fetch("GET", f"{base}?{urllib.parse.urlencode(query)}", None)
            for deal in page.get("data") or []:
                status = deal.get("status") or ""
                outcome = outcome_of(connection, status)
                yield CrmChange(
                    str(deal["id"]), outcome, _reason(connection, outcome, deal),
                    parse_time(deal.get("update_time")), stage_value=_stage_of(outcome, status, deal),
                    amount=parse_amount(deal.get("value")), owner=_owner(deal),
                    competitor_text=_competitor(connection, deal),
                )  # fmt: skip
            cursor = (page.get("additional_data") or {}).get("next_cursor")
            if not cursor:
                return

    def list_owners(self, *, connection: CrmConnection, fetch: Fetch) -> list[CrmOwner]:
        """GET /api/v1/users (the company's users, active_flag false once deactivated); it pages by
        `start` when it says more_items_in_collection."""
        base = connection.base_url.rstrip("/") + "/api/v1/users"
        owners: list[CrmOwner] = []
        start = 0
        for _ in range(MAX_PAGES):
            page = fetch("GET", f"{base}?{urllib.parse.urlencode({'start': start, 'limit': 500})}", None)
            for user in page.get("data") or []:
                email = (user.get("email") or "").strip()
                owners.append(CrmOwner(str(user["id"]), user.get("name") or email, email,
                                       bool(user.get("active_flag", True))))  # fmt: skip
            paging = (page.get("additional_data") or {}).get("pagination") or {}
            if not paging.get("more_items_in_collection"):
                break
            start = int(paging.get("next_start") or start + len(page.get("data") or []))
        return owners

    def owner_write_back(self, *, connection: CrmConnection, external_id: str, owner_id: str) -> WriteBack:
        """API v2 names the deal's user `owner_id` (v1: `user_id`), a number."""
        url = f"{connection.base_url.rstrip('/')}/api/v2/deals/{external_id}"
        value = int(owner_id) if owner_id.isdigit() else owner_id
        return WriteBack("PATCH", url, {self.owner_field: value}, {"owner": owner_id})
