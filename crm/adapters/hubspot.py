"""HubSpot: v3 request signatures, one event per property change, CRM v3 objects API."""

import base64
import hashlib
import hmac
import json
import time
import urllib.parse
from collections.abc import Iterator
from datetime import datetime

from crm.adapters.base import (
    LOST,
    WON,
    CrmAdapter,
    CrmChange,
    CrmOwner,
    Fetch,
    Handled,
    IncomingRequest,
    Received,
    StageNotMapped,
    WebhookRejected,
    WriteBack,
    crm_value,
    from_ms,
    outcome_of,
    parse_amount,
    parse_time,
    reason_field_for,
    reason_field_out,
)
from crm.adapters.hubspot_sync import HubSpotSyncReads
from crm.models import CrmConnection, CrmKind, WebhookEvent

HUBSPOT_MAX_AGE_MS = 5 * 60 * 1000
PAGE_SIZE = 100
MAX_PAGES = 1000  # a CRM that never says "done" must not keep us reading forever

# HubSpot signs the URI with these characters decoded.
_HUBSPOT_DECODE = {
    "%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$",
    "%27": "'", "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";",
}  # fmt: skip

# HubSpot's eventId is not unique across subscriptions: one change is the event of one
# subscription about one object (and property) at one moment. A retry repeats all of these
# (only attemptNumber grows), so it is stored once.
HUBSPOT_KEY_FIELDS = ("portalId", "subscriptionId", "eventId", "objectId", "propertyName", "occurredAt")


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


def hubspot_dedupe_key(event: dict) -> str:
    return "hubspot:" + ":".join(str(event.get(name, "")) for name in HUBSPOT_KEY_FIELDS)


def _raw_elements(text: str) -> list[str]:
    """The exact text of each element of a JSON array (already known to parse)."""
    decoder, elements = json.JSONDecoder(), []
    position = text.index("[") + 1
    while True:
        while text[position] in " \t\r\n,":
            position += 1
        if text[position] == "]":
            return elements
        _, end = decoder.raw_decode(text, position)
        elements.append(text[position:end])
        position = end


def _per_object(events: list[dict], body: bytes) -> list[tuple[str | None, int]]:
    """(what to store, position in it) per event. A delivery about one deal is stored as
    received; one about several stores with each event only the events about its deal (the
    change reads its siblings from there), so a batch is not stored once per event."""
    groups: dict[str, list[int]] = {}
    for index, event in enumerate(events):
        groups.setdefault(str(event.get("objectId")), []).append(index)
    whole: list[tuple[str | None, int]] = [(None, index) for index in range(len(events))]
    if len(groups) <= 1:
        return whole
    try:
        elements = _raw_elements(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, IndexError):  # an unusual encoding: keep it whole
        return whole
    if len(elements) != len(events):
        return whole
    stored: list[tuple[str | None, int]] = [(None, 0)] * len(events)
    for indexes in groups.values():
        text = "[" + ",".join(elements[i] for i in indexes) + "]"
        for position, index in enumerate(indexes):
            stored[index] = (text, position)
    return stored


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
    for index, (text, position) in enumerate(_per_object(events, body)):
        received.append(Received(hubspot_dedupe_key(events[index]), position, text))
    return received


def _sibling(events: list[dict], object_id: str, field: str) -> str | None:
    """The value of property `field` of the deal in another event of the same delivery, if any."""
    return next(
        (
            e.get("propertyValue") or ""
            for e in events
            if field and str(e.get("objectId")) == object_id and e.get("propertyName") == field
        ),
        None,
    )


def _association_change(connection: CrmConnection, item: dict) -> str | Handled:
    """A contact taken off a deal in HubSpot leaves it here (history kept); one added makes us read
    the deal's contacts again."""
    kind = item.get("associationType")
    if kind not in {"DEAL_TO_CONTACT", "CONTACT_TO_DEAL"}:
        return f"association {kind} is not followed"
    deal_id, contact_id = str(item.get("fromObjectId")), str(item.get("toObjectId"))
    if kind == "CONTACT_TO_DEAL":
        deal_id, contact_id = contact_id, deal_id
    if not item.get("associationRemoved"):
        from crm.sync.links import crm_deal_contacts_reread

        return Handled(crm_deal_contacts_reread(connection=connection, deal_external_id=deal_id))
    from crm.sync.links import crm_contact_left_deal

    return Handled(
        crm_contact_left_deal(connection=connection, deal_external_id=deal_id, person_external_id=contact_id)
    )


class HubSpotAdapter(HubSpotSyncReads, CrmAdapter):
    kind = CrmKind.HUBSPOT
    amount_field = "amount"
    owner_field = "hubspot_owner_id"

    def verify(self, *, connection: CrmConnection, request: IncomingRequest) -> None:
        hubspot_verify(
            connection=connection, method=request.method, uri=request.uri, body=request.body,
            headers=request.headers,
        )  # fmt: skip

    def received(self, *, connection: CrmConnection, body: bytes) -> list[Received]:
        return hubspot_items(connection=connection, body=body)

    def open_stage_value(self, *, connection: CrmConnection, stage_name: str) -> str:
        """HubSpot's dealstage takes the stage's internal id, never its label: only the stage
        map can say which one our stage is."""
        value = (connection.stage_map or {}).get(stage_name)
        if not value:
            raise StageNotMapped(
                f"Our stage “{stage_name}” has no HubSpot deal stage in this connection's stage map, "
                "so the reopen cannot be sent: choose its HubSpot stage on the connection page, "
                "then retry this sync."
            )
        return value

    def change(self, *, connection: CrmConnection, event: WebhookEvent) -> CrmChange | str:
        events = json.loads(event.body)
        item = events[event.item]
        if item.get("subscriptionType") in {"contact.deletion", "contact.privacyDeletion"}:
            from crm.erasure import crm_contact_deleted  # a deleted person is erased here too

            return Handled(crm_contact_deleted(kind="hubspot", external_id=str(item["objectId"])))
        if item.get("subscriptionType") in {"deal.associationChange", "contact.associationChange"}:
            return _association_change(connection, item)
        if item.get("subscriptionType") in {"deal.creation", "object.creation"}:
            # A new deal: nothing to apply to a deal we know; one we do not know is read and made.
            return CrmChange(str(item["objectId"]), None, None, from_ms(item.get("occurredAt")))
        if item.get("subscriptionType") not in {"deal.propertyChange", "object.propertyChange"}:
            return f"{item.get('subscriptionType')} is not a deal property change"
        object_id = str(item["objectId"])
        name, value = item.get("propertyName"), item.get("propertyValue") or ""
        at = from_ms(item.get("occurredAt"))
        if name == "dealstage":
            outcome = outcome_of(connection, value)
            # HubSpot sends the reason and the competitor as events of their own; take them from
            # the same delivery when there.
            reason = _sibling(events, object_id, reason_field_for(connection, outcome))
            competitor = _sibling(events, object_id, connection.competitor_field)
            return CrmChange(object_id, outcome, reason, at, stage_value=value, competitor_text=competitor)
        # A reason in its own event (before or after its dealstage event): kept until its close.
        if name == connection.reason_field:
            return CrmChange(object_id, None, value, at, reason_outcome=LOST)
        if connection.win_reason_field and name == connection.win_reason_field:
            return CrmChange(object_id, None, value, at, reason_outcome=WON)
        if connection.competitor_field and name == connection.competitor_field:
            return CrmChange(object_id, None, None, at, competitor_text=value)
        if name == self.amount_field:
            amount = parse_amount(value)
            return CrmChange(object_id, None, None, at, amount=amount) if amount is not None else "no amount"
        if name == self.owner_field:
            return CrmChange(object_id, None, None, at, owner=value) if value else "no owner"
        return f"property {name!r} is not followed"

    def write_back(self, *, connection: CrmConnection, state: dict) -> WriteBack | None:
        properties = {"dealstage": state["stage"]}
        if field := reason_field_out(connection, state):
            properties[field] = state["reason"]
        url = f"{connection.base_url.rstrip('/')}/crm/v3/objects/deals/{state['external_id']}"
        return WriteBack("PATCH", url, {"properties": properties}, state["pushed"])

    def changed_since(
        self, *, connection: CrmConnection, since: datetime, fetch: Fetch
    ) -> Iterator[CrmChange]:
        url = connection.base_url.rstrip("/") + "/crm/v3/objects/deals/search"
        fields = [connection.reason_field, connection.win_reason_field, self.amount_field, self.owner_field,
                  connection.competitor_field]  # fmt: skip
        after = None
        for _ in range(MAX_PAGES):
            body = {
                "filterGroups": [{"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GTE",
                                               "value": str(int(since.timestamp() * 1000))}]}],
                "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
                "properties": ["dealstage", *(f for f in fields if f), "hs_lastmodifieddate"],
                "limit": PAGE_SIZE,
                **({"after": after} if after else {}),
            }  # fmt: skip
            page = fetch("POST", url, body)
            for result in page.get("results", []):
                props = result.get("properties") or {}
                stage = props.get("dealstage") or ""
                outcome = outcome_of(connection, stage)
                field = reason_field_for(connection, outcome)
                yield CrmChange(
                    str(result["id"]), outcome, props.get(field) if field else None,
                    parse_time(props.get("hs_lastmodifieddate")), stage_value=stage,
                    amount=parse_amount(props.get(self.amount_field)),
                    owner=crm_value(props.get(self.owner_field)),
                    competitor_text=props.get(connection.competitor_field or "-"),
                )  # fmt: skip
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return

    def list_owners(self, *, connection: CrmConnection, fetch: Fetch) -> list[CrmOwner]:
        """GET /crm/v3/owners, paged by `after`: the active owners, then the archived ones
        (deactivated HubSpot users, shown but not active)."""
        url = connection.base_url.rstrip("/") + "/crm/v3/owners"
        owners: list[CrmOwner] = []
        for archived in ("false", "true"):
            after = None
            for _ in range(MAX_PAGES):
                query = {"limit": PAGE_SIZE, "archived": archived, **({"after": after} if after else {})}
                page = fetch("GET", f"{url}?{urllib.parse.urlencode(query)}", None)
                for owner in page.get("results") or []:
                    email = (owner.get("email") or "").strip()
                    name = " ".join(n for n in (owner.get("firstName"), owner.get("lastName")) if n)
                    active = archived == "false" and not owner.get("archived")
                    owners.append(CrmOwner(str(owner["id"]), name or email, email, active))
                after = ((page.get("paging") or {}).get("next") or {}).get("after")
                if not after:
                    break
        return owners

    def owner_write_back(self, *, connection: CrmConnection, external_id: str, owner_id: str) -> WriteBack:
        url = f"{connection.base_url.rstrip('/')}/crm/v3/objects/deals/{external_id}"
        return WriteBack("PATCH", url, {"properties": {self.owner_field: owner_id}}, {"owner": owner_id})
