"""Reconciliation: ask each CRM's REST API for the deals changed since the last good run, apply
what the webhooks missed through the same rules, and report the deals whose state still differs.

HubSpot: CRM search on hs_lastmodifieddate; Pipedrive: deals with updated_since; Salesforce:
SOQL on LastModifiedDate. Each is read page by page until the CRM says there is no more.
"""

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from crm.adapters import adapter_for
from crm.adapters.salesforce import SoqlNameRefused
from crm.changes import LOST, OPEN, WON, crm_change_apply
from crm.details import crm_details_apply
from crm.http import CrmHttpError, CrmRequestFailed, crm_request
from crm.models import EXTERNAL_ID_FIELD, CrmConnection
from deals.models import Deal, DealStatus
from outbox.services import handoff_enqueue

logger = logging.getLogger(__name__)

FIRST_RUN_DAYS = 30  # a connection never reconciled looks this far back
OVERLAP = timedelta(minutes=5)  # changes saved while the last run was reading are read again
MATCHES = {LOST: {DealStatus.LOST, DealStatus.NO_DECISION}, WON: {DealStatus.WON}, OPEN: {DealStatus.OPEN}}


class ReconcileFailed(Exception):
    """The CRM could not be read; nothing is recorded as reconciled."""


def _fetcher(connection: CrmConnection):
    auth = adapter_for(connection.kind).auth_headers(connection=connection)

    def fetch(method: str, url: str, body: dict | None) -> dict:
        try:
            return crm_request(auth=auth, method=method, url=url, body=body, timeout=20.0).json()
        except CrmHttpError as exc:
            raise ReconcileFailed(f"{connection} answered {exc.status} for {url}") from exc
        except CrmRequestFailed as exc:
            raise ReconcileFailed(f"{connection} could not be read: {exc}") from exc

    return fetch


def _changes(connection: CrmConnection, since: datetime):
    try:
        yield from adapter_for(connection.kind).changed_since(
            connection=connection, since=since, fetch=_fetcher(connection)
        )
    except SoqlNameRefused as exc:
        raise ReconcileFailed(str(exc)) from exc


def _apply(connection: CrmConnection, change, deal: Deal, started: datetime) -> str:
    try:
        result = crm_change_apply(connection=connection, change=change, deal=deal, received_at=started)
        details = crm_details_apply(connection=connection, change=change, deal=deal)
    except Exception as exc:  # noqa: BLE001 - one deal that cannot be applied is drift, not a stop
        return f"not applied: {exc}"
    changed = [d for d in details if "ignored" not in d]
    if result.startswith("ignored") and changed:
        return "; ".join(changed)
    return "; ".join([result, *changed])


def _mirror_stages(connection: CrmConnection) -> dict:
    """Pipelines and stages as the CRM has them now (added and renamed follow, removed are kept)."""
    from crm.sync.fetch import CrmNotFound, CrmRefused, CrmUnavailable, sync_fetcher
    from crm.sync.mirror import pipelines_mirror

    try:
        pipelines = adapter_for(connection.kind).read_pipelines(
            connection=connection, fetch=sync_fetcher(connection)
        )
    except (NotImplementedError, CrmNotFound):
        return {}
    except (CrmUnavailable, CrmRefused) as exc:
        raise ReconcileFailed(f"{connection}'s pipelines could not be read: {exc}") from exc
    return pipelines_mirror(connection=connection, pipelines=pipelines)


def _arrive(connection: CrmConnection, change, started: datetime) -> Deal | dict:
    """A deal the CRM has and we do not: read it and make it here, or say why not."""
    from crm.sync.continuous import DealNotCreated, deal_arrive
    from crm.sync.fetch import CrmRefused, CrmUnavailable

    try:
        with transaction.atomic():
            return deal_arrive(connection=connection, external_id=change.external_id, received_at=started)[0]
    except DealNotCreated as exc:
        return {"id": change.external_id, "why": str(exc)[:200]}
    except (CrmUnavailable, CrmRefused) as exc:
        raise ReconcileFailed(str(exc)) from exc
    except NotImplementedError:
        return {"id": change.external_id, "why": "this CRM's deals are not read yet"}


def _contacts(connection: CrmConnection, deal: Deal) -> str:
    """A changed deal's company and contacts read again (those removed in the CRM leave it)."""
    from crm.sync.continuous import deal_contacts_refresh
    from crm.sync.fetch import CrmNotFound, CrmRefused, CrmUnavailable

    try:
        refreshed = deal_contacts_refresh(connection=connection, deal=deal)
        return f"; {refreshed}" if refreshed else ""
    except (NotImplementedError, CrmNotFound):
        return ""
    except (CrmUnavailable, CrmRefused) as exc:
        raise ReconcileFailed(str(exc)) from exc


def _people_erase(connection: CrmConnection, since: datetime, started: datetime):
    """Contacts deleted in the CRM are erased first (as an admin's erasure would: their pending
    e-mails cancelled as erased, before any re-read takes them off their deals). Returns the
    CRM's people changes (None: this CRM tells them by webhook) and what was erased."""
    from crm.erasure import crm_contact_deleted
    from crm.sync.fetch import CrmNotFound, CrmRefused, CrmUnavailable, sync_fetcher

    try:
        changes = adapter_for(connection.kind).people_changed_since(
            connection=connection, since=since, until=started, fetch=sync_fetcher(connection)
        )
    except (NotImplementedError, CrmNotFound):
        return None, []
    except (CrmUnavailable, CrmRefused) as exc:
        raise ReconcileFailed(f"{connection}'s contacts could not be read: {exc}") from exc
    erased = [crm_contact_deleted(kind=connection.kind, external_id=i) for i in changes.deleted_contacts]
    return changes, [e for e in erased if not e.startswith("ignored")]


def _people_refresh(connection: CrmConnection, changes, refreshed: set) -> list[dict]:
    """Deals whose contacts changed without the deal changing (a Salesforce contact role added or
    removed) have them read again, unless this run read them already."""
    if changes is None:
        return []
    field, done = EXTERNAL_ID_FIELD[connection.kind], []
    for deal in Deal.objects.filter(**{f"{field}__in": [d for d in changes.deals if d not in refreshed]}):
        with transaction.atomic():
            result = _contacts(connection, deal).removeprefix("; ")
        done.append({"deal": deal.pk, "result": result or "contacts read again"})
    return done


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
    read, applied, unknown, drift, created, refreshed = 0, [], [], [], [], set()
    stages = _mirror_stages(connection)
    people, erased = _people_erase(connection, since, started)
    for change in _changes(connection, since):
        read += 1
        refreshed.add(change.external_id)  # its contacts are read with it
        with transaction.atomic():
            deal = Deal.objects.filter(**{field: change.external_id}).first()
            if deal is None:  # made in the CRM and missed by the webhooks: make it here
                made = _arrive(connection, change, started)
                (created if isinstance(made, Deal) else unknown).append(
                    {"deal": made.pk, "name": made.name} if isinstance(made, Deal) else made
                )
                continue
            result = _apply(connection, change, deal, started)
            result += _contacts(connection, deal)
        if not result.startswith(("ignored", "not applied")):
            applied.append({"deal": deal.pk, "result": result[:200]})
        deal.refresh_from_db(fields=["status"])
        if deal.status not in MATCHES[change.outcome]:
            drift.append({"deal": deal.pk, "name": deal.name, "here": deal.status, "crm": change.stage_value,
                          "why": result[:200]})  # fmt: skip
    report = {"at": started.isoformat(), "since": since.isoformat(), "read": read, "applied": applied,
              "created": created, "unknown": len(unknown), "not_created": unknown[:100], "drift": drift,
              "stages": stages, "erased": erased,
              "contacts": _people_refresh(connection, people, refreshed)}  # fmt: skip
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


HANDOFF_RECONCILE = "crm.reconcile"


def reconcile_handoff(kind: str) -> None:
    """The outbox's handler for the "reconcile now" button: one run for one CRM (safe to run
    twice). A CRM that cannot be read is logged; the hourly run tries again."""
    connection = CrmConnection.objects.filter(kind=kind, active=True).first()
    if connection is None:
        return
    try:
        crm_reconcile(connection=connection)
    except ReconcileFailed as exc:
        logger.warning("Reconciliation of %s asked from the page failed: %s", connection, exc)


def reconcile_request(*, connection: CrmConnection) -> None:
    """An admin asks for a run now: written to the outbox (the broker's state never matters)."""
    with transaction.atomic():
        handoff_enqueue(kind=HANDOFF_RECONCILE, items=[connection.kind])
