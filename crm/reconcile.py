"""Reconciliation: ask each CRM's REST API for the deals changed since the last good run, apply
what the webhooks missed through the same rules, and report the deals whose state still differs.

HubSpot: CRM search on hs_lastmodifieddate; Pipedrive: deals with updated_since; Salesforce:
SOQL on LastModifiedDate. Each is read page by page until the CRM says there is no more.
"""

import json
import logging
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from crm.changes import LOST, OPEN, WON, CrmChange, _outcome_of, _parse_time, crm_change_apply
from crm.models import EXTERNAL_ID_FIELD, CrmConnection, CrmKind
from deals.models import Deal, DealStatus

logger = logging.getLogger(__name__)

FIRST_RUN_DAYS = 30  # a connection never reconciled looks this far back
OVERLAP = timedelta(minutes=5)  # changes saved while the last run was reading are read again
PAGE_SIZE = 100
MAX_PAGES = 1000  # a CRM that never says "done" must not keep us reading forever
MATCHES = {LOST: {DealStatus.LOST, DealStatus.NO_DECISION}, WON: {DealStatus.WON}, OPEN: {DealStatus.OPEN}}


SOQL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class ReconcileFailed(Exception):
    """The CRM could not be read; nothing is recorded as reconciled."""


@dataclass(frozen=True)
class RemoteDeal:
    external_id: str
    stage_value: str
    reason_text: str | None
    changed_at: datetime | None


def _request(connection: CrmConnection, url: str, body: dict | None = None, timeout: float = 20.0) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - the admin-configured CRM address
        url,
        data=data,
        method="POST" if data is not None else "GET",
        headers={
            "Authorization": f"Bearer {connection.api_token}",
            "Accept": "application/json",
            **({"Content-Type": "application/json"} if data is not None else {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        raise ReconcileFailed(f"{connection} answered {exc.code} for {url}") from exc
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        raise ReconcileFailed(f"{connection} could not be read: {exc}") from exc


def _hubspot(connection: CrmConnection, since: datetime) -> Iterator[RemoteDeal]:
    url = connection.base_url.rstrip("/") + "/crm/v3/objects/deals/search"
    fields = [f for f in ("dealstage", connection.reason_field, connection.win_reason_field) if f]
    after = None
    for _ in range(MAX_PAGES):
        body = {
            "filterGroups": [{"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GTE",
                                           "value": str(int(since.timestamp() * 1000))}]}],
            "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
            "properties": [*fields, "hs_lastmodifieddate"],
            "limit": PAGE_SIZE,
            **({"after": after} if after else {}),
        }  # fmt: skip
        page = _request(connection, url, body)
        for result in page.get("results", []):
            props = result.get("properties") or {}
            stage = props.get("dealstage") or ""
            field = {LOST: connection.reason_field, WON: connection.win_reason_field}.get(
                _outcome_of(connection, stage)
            )
            yield RemoteDeal(
                str(result["id"]),
                stage,
                props.get(field) if field else None,
                _parse_time(props.get("hs_lastmodifieddate")),
            )
        after = ((page.get("paging") or {}).get("next") or {}).get("after")
        if not after:
            return


def _pipedrive(connection: CrmConnection, since: datetime) -> Iterator[RemoteDeal]:
    base = connection.base_url.rstrip("/") + "/api/v2/deals"
    cursor = None
    for _ in range(MAX_PAGES):
        query = {"updated_since": since.strftime("%Y-%m-%dT%H:%M:%SZ"), "limit": PAGE_SIZE,
                 "sort_by": "update_time", "sort_direction": "asc"}  # fmt: skip
        if cursor:
            query["cursor"] = cursor
        page = _request(connection, f"{base}?{urllib.parse.urlencode(query)}")
        for deal in page.get("data") or []:
            status = deal.get("status") or ""
            reason = deal.get(connection.reason_field) if status in connection.lost_stages else None
            yield RemoteDeal(str(deal["id"]), status, reason, _parse_time(deal.get("update_time")))
        cursor = (page.get("additional_data") or {}).get("next_cursor")
        if not cursor:
            return


def _salesforce(connection: CrmConnection, since: datetime) -> Iterator[RemoteDeal]:
    base = connection.base_url.rstrip("/")
    fields = ["Id", "StageName", "LastModifiedDate", connection.reason_field]
    if connection.win_reason_field:
        fields.append(connection.win_reason_field)
    bad = [name for name in fields if not SOQL_NAME.match(name)]
    if bad:
        raise ReconcileFailed(f"{connection}: {', '.join(bad)} is not a Salesforce field name.")
    # Field names checked above, the date formatted here: nothing else goes into the query.
    columns, after = ", ".join(dict.fromkeys(fields)), since.strftime("%Y-%m-%dT%H:%M:%SZ")
    soql = f"SELECT {columns} FROM Opportunity WHERE LastModifiedDate >= {after} ORDER BY LastModifiedDate"  # noqa: S608
    url = f"{base}/services/data/{connection.api_version}/query?{urllib.parse.urlencode({'q': soql})}"
    for _ in range(MAX_PAGES):
        page = _request(connection, url)
        for record in page.get("records") or []:
            stage = record.get("StageName") or ""
            field = {LOST: connection.reason_field, WON: connection.win_reason_field}.get(
                _outcome_of(connection, stage)
            )
            yield RemoteDeal(
                record["Id"],
                stage,
                record.get(field) if field else None,
                _parse_time(record.get("LastModifiedDate")),
            )
        if page.get("done", True) or not page.get("nextRecordsUrl"):
            return
        url = base + page["nextRecordsUrl"]


READERS = {CrmKind.HUBSPOT: _hubspot, CrmKind.PIPEDRIVE: _pipedrive, CrmKind.SALESFORCE: _salesforce}


def crm_reconcile(*, connection: CrmConnection, now: datetime | None = None) -> dict:
    """One run for one CRM. Returns (and stores on the connection) what it read, applied and found
    still different; a CRM that cannot be read raises ReconcileFailed and records nothing."""
    started = now or timezone.now()
    since = (
        (connection.reconciled_at - OVERLAP)
        if connection.reconciled_at
        else started - timedelta(days=FIRST_RUN_DAYS)
    )
    field = EXTERNAL_ID_FIELD[connection.kind]
    read, applied, unknown, drift = 0, [], 0, []
    for remote in READERS[connection.kind](connection, since):
        read += 1
        change = CrmChange(
            remote.external_id, _outcome_of(connection, remote.stage_value), remote.reason_text,
            remote.changed_at, stage_value=remote.stage_value,
        )  # fmt: skip
        with transaction.atomic():
            deal = Deal.objects.filter(**{field: remote.external_id}).first()
            if deal is None:
                unknown += 1
                continue
            try:
                result = crm_change_apply(
                    connection=connection, change=change, deal=deal, received_at=started
                )
            except Exception as exc:  # noqa: BLE001 - one deal that cannot be applied is drift, not a stop
                result = f"not applied: {exc}"
        if not result.startswith(("ignored", "not applied")):
            applied.append({"deal": deal.pk, "result": result[:200]})
        deal.refresh_from_db(fields=["status"])
        if deal.status not in MATCHES[change.outcome]:
            drift.append({"deal": deal.pk, "name": deal.name, "here": deal.status, "crm": remote.stage_value,
                          "why": result[:200]})  # fmt: skip
    report = {"at": started.isoformat(), "since": since.isoformat(), "read": read, "applied": applied,
              "unknown": unknown, "drift": drift}  # fmt: skip
    CrmConnection.objects.filter(pk=connection.pk).update(reconciled_at=started, reconcile_report=report)
    connection.reconciled_at, connection.reconcile_report = started, report
    logger.info(
        "Reconciled %s", connection, extra={"read": read, "applied": len(applied), "drift": len(drift)}
    )
    return report


def crm_reconcile_all(*, now: datetime | None = None) -> dict[str, dict | str]:
    """Every active connection; one CRM that cannot be read does not stop the others."""
    results: dict[str, dict | str] = {}
    for connection in CrmConnection.objects.filter(active=True):
        try:
            results[connection.kind] = crm_reconcile(connection=connection, now=now)
        except ReconcileFailed as exc:
            logger.warning("Reconciliation of %s failed: %s", connection, exc)
            results[connection.kind] = str(exc)
    return results
