"""Salesforce: outbound messages (SOAP, a shared token in the URL), REST sObjects and SOQL."""

import hmac
import re
import urllib.parse
from collections.abc import Iterator
from datetime import datetime
from xml.parsers import expat

from defusedxml import ElementTree
from django.http import HttpResponse

from crm.adapters.base import (
    LOST,
    WON,
    CrmAdapter,
    CrmChange,
    CrmOwner,
    Fetch,
    IncomingRequest,
    Received,
    WebhookRejected,
    WriteBack,
    crm_value,
    outcome_of,
    parse_amount,
    parse_time,
    reason_field_for,
    reason_field_out,
)
from crm.adapters.salesforce_sync import SalesforceSyncReads
from crm.models import CrmConnection, CrmKind, WebhookEvent

SALESFORCE_NS = "http://soap.sforce.com/2005/09/outbound"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
SOQL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
MAX_PAGES = 1000
SALESFORCE_ACK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    "<soapenv:Body>"
    '<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>{ack}</Ack></notificationsResponse>'
    "</soapenv:Body></soapenv:Envelope>"
)


class SoqlNameRefused(ValueError):
    """A configured field name is not a Salesforce field name (it would go into SOQL)."""


def salesforce_verify(*, connection: CrmConnection, token: str) -> None:
    """Outbound messages are not signed: a shared token in the endpoint URL (plus the org id)."""
    if not connection.webhook_secret:
        raise WebhookRejected("No Salesforce token is configured.")
    if not hmac.compare_digest(token.encode(), connection.webhook_secret.encode()):
        raise WebhookRejected("Wrong or missing token.")


def salesforce_notifications(body: bytes):
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        raise WebhookRejected("The body is not XML.", status=400) from exc
    notifications = root.find(f".//{{{SALESFORCE_NS}}}notifications")
    if notifications is None:
        raise WebhookRejected("The body is not a Salesforce outbound message.", status=400)
    return notifications


def salesforce_items(*, connection: CrmConnection, body: bytes) -> list[Received]:
    notifications = salesforce_notifications(body)
    org = (notifications.findtext(f"{{{SALESFORCE_NS}}}OrganizationId") or "").strip()
    if connection.account_id and org[:15] != connection.account_id[:15]:
        raise WebhookRejected("The message is from another Salesforce organization.", status=403)
    received = []
    for index, notification in enumerate(notifications.findall(f"{{{SALESFORCE_NS}}}Notification")):
        notification_id = (notification.findtext(f"{{{SALESFORCE_NS}}}Id") or "").strip()
        if not notification_id:
            raise WebhookRejected(f"Notification {index} has no Id.", status=400)
        received.append(Received(f"salesforce:{notification_id}", index))
    if len(received) < 2:
        return received
    # A message carries up to 100 notifications: each row keeps the envelope and its own
    # notification, exactly as sent, not the whole message once per notification.
    spans = _notification_spans(body)
    head, tail = body[: spans[0][0]], body[spans[-1][1] :]
    return [
        Received(item.dedupe_key, 0, (head + body[start:end] + tail).decode("utf-8", errors="replace"))
        for item, (start, end) in zip(received, spans, strict=True)
    ]


def _competitor(connection: CrmConnection, fields: dict) -> str | None:
    """The connection's competitor field when the record carries it (as the first sync reads it);
    None when the record says nothing of it."""
    name = connection.competitor_field
    return str(fields.get(name) or "") if name and name in fields else None


def _notification_spans(body: bytes) -> list[tuple[int, int]]:
    """The byte span of each Notification element of a message (already parsed safely once)."""
    parser = expat.ParserCreate(namespace_separator="}")
    name, spans, depth, start = f"{SALESFORCE_NS}}}Notification", [], 0, None

    def on_start(tag, attributes):
        nonlocal depth, start
        depth += 1
        if tag == name and start is None:
            start = (parser.CurrentByteIndex, depth)

    def on_end(tag):
        nonlocal depth, start
        if start is not None and tag == name and depth == start[1]:
            spans.append((start[0], body.index(b">", parser.CurrentByteIndex) + 1))
            start = None
        depth -= 1

    parser.StartElementHandler, parser.EndElementHandler = on_start, on_end
    parser.Parse(body, True)
    return spans


class SalesforceAdapter(SalesforceSyncReads, CrmAdapter):
    kind = CrmKind.SALESFORCE
    amount_field = "Amount"
    owner_field = "OwnerId"

    def verify(self, *, connection: CrmConnection, request: IncomingRequest) -> None:
        salesforce_verify(connection=connection, token=request.query.get("token", ""))

    def received(self, *, connection: CrmConnection, body: bytes) -> list[Received]:
        return salesforce_items(connection=connection, body=body)

    def accepted(self, stored: int) -> HttpResponse:
        return HttpResponse(SALESFORCE_ACK.format(ack="true"), content_type="text/xml; charset=utf-8")

    def refused(self, exc: WebhookRejected) -> HttpResponse:
        # No Ack: Salesforce keeps the message and retries it.
        return HttpResponse(
            SALESFORCE_ACK.format(ack="false"), status=exc.status, content_type="text/xml; charset=utf-8"
        )

    def _record(self, connection: CrmConnection, fields: dict) -> CrmChange:
        if "StageName" not in fields:  # an outbound message of other fields (a reason, the amount)
            return self._fields_only(connection, fields)
        stage = fields.get("StageName") or ""
        outcome = outcome_of(connection, stage)
        field = reason_field_for(connection, outcome)
        at = parse_time(fields.get("LastModifiedDate")) or parse_time(fields.get("CloseDate"))
        return CrmChange(
            fields["Id"], outcome, fields.get(field) if field else None, at, stage_value=stage,
            amount=parse_amount(fields.get(self.amount_field)), owner=crm_value(fields.get(self.owner_field)),
            competitor_text=_competitor(connection, fields),
        )  # fmt: skip

    def _fields_only(self, connection: CrmConnection, fields: dict) -> CrmChange:
        """A message without the stage says nothing of the outcome: a reason it carries is kept
        until its close (the loss reason first), its amount and owner are followed."""
        at = parse_time(fields.get("LastModifiedDate"))
        reason_outcome, reason = None, None
        for outcome, field in ((LOST, connection.reason_field), (WON, connection.win_reason_field)):
            if field and field in fields:
                reason_outcome, reason = outcome, fields[field]
                break
        return CrmChange(
            fields["Id"], None, reason, at, amount=parse_amount(fields.get(self.amount_field)),
            owner=crm_value(fields.get(self.owner_field)), reason_outcome=reason_outcome,
            competitor_text=_competitor(connection, fields),
        )  # fmt: skip

    def change(self, *, connection: CrmConnection, event: WebhookEvent) -> CrmChange | str:
        notifications = salesforce_notifications(event.body.encode())
        notification = notifications.findall(f"{{{SALESFORCE_NS}}}Notification")[event.item]
        sobject = notification.find(f"{{{SALESFORCE_NS}}}sObject")
        if sobject is None or not (sobject.get(XSI_TYPE) or "").endswith("Opportunity"):
            return "not an Opportunity"
        fields = {child.tag.rsplit("}", 1)[-1]: (child.text or "").strip() for child in sobject}
        return self._record(connection, fields)

    def write_back(self, *, connection: CrmConnection, state: dict) -> WriteBack | None:
        body = {"StageName": state["stage"]}
        if field := reason_field_out(connection, state):
            body[field] = state["reason"]
        base = connection.base_url.rstrip("/")
        url = f"{base}/services/data/{connection.api_version}/sobjects/Opportunity/{state['external_id']}"
        return WriteBack("PATCH", url, body, state["pushed"])

    def changed_since(
        self, *, connection: CrmConnection, since: datetime, fetch: Fetch
    ) -> Iterator[CrmChange]:
        base = connection.base_url.rstrip("/")
        fields = [
            "Id",
            "StageName",
            "LastModifiedDate",
            self.amount_field,
            self.owner_field,
            connection.reason_field,
        ]
        fields += [name for name in (connection.win_reason_field, connection.competitor_field) if name]
        bad = [name for name in fields if not SOQL_NAME.match(name)]
        if bad:
            raise SoqlNameRefused(f"{connection}: {', '.join(bad)} is not a Salesforce field name.")
        # Field names checked above, the date formatted here: nothing else goes into the query.
        columns, after = ", ".join(dict.fromkeys(fields)), since.strftime("%Y-%m-%dT%H:%M:%SZ")
        soql = (
            f"SELECT {columns} FROM Opportunity WHERE LastModifiedDate >= {after} ORDER BY LastModifiedDate"  # noqa: S608
        )
        url = f"{base}/services/data/{connection.api_version}/query?{urllib.parse.urlencode({'q': soql})}"
        for _ in range(MAX_PAGES):
            page = fetch("GET", url, None)
            for record in page.get("records") or []:
                yield self._record(connection, {k: v for k, v in record.items() if k != "attributes"})
            if page.get("done", True) or not page.get("nextRecordsUrl"):
                return
            url = base + page["nextRecordsUrl"]

    def list_owners(self, *, connection: CrmConnection, fetch: Fetch) -> list[CrmOwner]:
        """SOQL on User (standard licences: people, not integration or portal users), through
        nextRecordsUrl pages."""
        soql = "SELECT Id, Name, Email, IsActive FROM User WHERE UserType = 'Standard' ORDER BY Name"
        return [
            CrmOwner(
                str(r["Id"]),
                r.get("Name") or r.get("Email") or "",
                (r.get("Email") or "").strip(),
                bool(r.get("IsActive")),
            )  # fmt: skip
            for r in self._query(connection, fetch, soql)
        ]

    def owner_write_back(self, *, connection: CrmConnection, external_id: str, owner_id: str) -> WriteBack:
        base = connection.base_url.rstrip("/")
        url = f"{base}/services/data/{connection.api_version}/sobjects/Opportunity/{external_id}"
        return WriteBack("PATCH", url, {self.owner_field: owner_id}, {"owner": owner_id})
