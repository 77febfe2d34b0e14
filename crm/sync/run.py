"""The first sync ("bring in deals"): pipelines and stages, then open deals and deals closed in
the chosen window, page by page, on the outbox.

Each page is read from the CRM outside any transaction, then written in one transaction that
also moves the run's cursor and counts: a run stopped anywhere (the CRM down, the worker killed)
resumes after the last page written, and a page is never written twice. A CRM that does not
answer makes the run wait and retry with backoff (the outbox hands it out again); one that
refuses us (token, address) fails the run until an admin resumes it.

As with a CSV import, the pages put their deals' summary refresh off
(insights.rollup.defer_refresh). The last page refreshes them in the transaction that marks the
run done (so a run shown done has its figures whole); a call that ends otherwise (paused,
waiting, failed) refreshes them as it returns, and the compaction takes what a killed worker left.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from closedlost.errors import ServiceError
from crm.adapters import adapter_for
from crm.models import CrmConnection, CrmSyncRun
from crm.services import retry_delay
from crm.sync.apply import Mirror, deals_apply
from crm.sync.fetch import CrmRefused, CrmUnavailable, sync_fetcher
from crm.sync.mirror import pipelines_mirror
from insights.rollup import defer_refresh, refresh_pending
from outbox.services import handoff_enqueue

logger = logging.getLogger(__name__)

HANDOFF_SYNC = "crm.sync"
SKIPPED_KEPT = 500  # the report keeps this many skipped deals with why (all are counted)


class SyncError(ServiceError):
    """A sync cannot start (one is running, no connection, no API token)."""


def _max_waits() -> int:
    return getattr(settings, "CRM_SYNC_MAX_WAITS", 12)


def sync_start(*, connection: CrmConnection, window_months: int = 24, actor=None) -> CrmSyncRun:
    """Queue a first sync of `connection`: open deals and those closed in the last `window_months`."""
    if not connection.api_token:
        raise SyncError("Set the CRM's API token first: the sync reads the CRM's API.", field="api_token")
    if not 1 <= window_months <= 120:
        raise SyncError("Choose a window between 1 and 120 months.", field="window_months")
    now = timezone.now()
    with transaction.atomic():
        if (
            CrmSyncRun.objects.select_for_update()
            .filter(kind=connection.kind, status__in=CrmSyncRun.ACTIVE)
            .exists()
        ):
            raise SyncError(f"A sync of {connection} is already under way.", field="window_months")
        run = CrmSyncRun.objects.create(
            kind=connection.kind,
            window_months=window_months,
            requested_by=actor,
            created_at=now,
            closed_since=now - timedelta(days=round(window_months * 30.44)),
        )
        handoff_enqueue(kind=HANDOFF_SYNC, items=[run.pk])
    return run


def sync_resume(*, run: CrmSyncRun) -> CrmSyncRun:
    """Resume a failed run from where it stopped."""
    with transaction.atomic():
        if CrmSyncRun.objects.filter(kind=run.kind, status__in=CrmSyncRun.ACTIVE).exclude(pk=run.pk).exists():
            raise SyncError("Another sync of this CRM is under way.")
        updated = CrmSyncRun.objects.filter(pk=run.pk, status=CrmSyncRun.Status.FAILED).update(
            status=CrmSyncRun.Status.QUEUED, attempts=0, last_error="", finished_at=None
        )
        if not updated:
            raise SyncError("Only a failed sync can be resumed.")
        handoff_enqueue(kind=HANDOFF_SYNC, items=[run.pk])
    run.refresh_from_db()
    return run


def _pipelines(run: CrmSyncRun, connection: CrmConnection, fetch) -> None:
    pipelines = adapter_for(connection.kind).read_pipelines(connection=connection, fetch=fetch)
    with transaction.atomic():
        locked = CrmSyncRun.objects.select_for_update().get(pk=run.pk)
        if locked.pipelines_done:
            return
        report = pipelines_mirror(connection=connection, pipelines=pipelines)
        CrmSyncRun.objects.filter(pk=run.pk).update(
            pipelines_done=True, stages_report=report, progressed_at=timezone.now(), attempts=0
        )


def _batch_size() -> int:
    return getattr(settings, "CRM_SYNC_BATCH", 500)


def _read_batch(run: CrmSyncRun, connection: CrmConnection, fetch) -> tuple[list, list, str | None, int]:
    """The CRM's pages from the run's cursor until about a batch of deals (written together: fewer
    round trips and commits per deal). Returns (deals, skipped, the cursor after them, pages)."""
    adapter, deals, skipped, cursor, pages = adapter_for(connection.kind), [], [], run.cursor, 0
    while True:
        page = adapter.read_deals(
            connection=connection, fetch=fetch, cursor=cursor, closed_since=run.closed_since
        )
        deals, skipped, cursor, pages = deals + page.deals, skipped + page.skipped, page.cursor, pages + 1
        if cursor is None or len(deals) + len(skipped) >= _batch_size():
            return deals, skipped, cursor, pages


def _page(run: CrmSyncRun, connection: CrmConnection, fetch, mirror: Mirror) -> bool:
    """Read and write one batch of pages; False when the run has read its last page."""
    deals, read_skipped, cursor, pages = _read_batch(run, connection, fetch)
    with transaction.atomic():
        locked = CrmSyncRun.objects.select_for_update().get(pk=run.pk)
        if locked.cursor != run.cursor or locked.status not in CrmSyncRun.ACTIVE:
            run.cursor = locked.cursor  # another worker wrote these pages meanwhile: read on from there
            return locked.status in CrmSyncRun.ACTIVE
        done = cursor is None
        if done:
            refresh_pending()  # the earlier pages' deals: the figures are whole when the run is done
        else:
            defer_refresh()
        applied = deals_apply(connection=connection, mirror=mirror, deals=deals)
        skipped = read_skipped + applied.skipped
        kept = locked.skipped + [{"id": i, "name": n[:100], "why": w[:200]} for i, n, w in skipped]
        CrmSyncRun.objects.filter(pk=run.pk).update(
            cursor=cursor or "",
            pages=F("pages") + pages,
            read_count=F("read_count") + len(deals) + len(read_skipped),
            created_count=F("created_count") + applied.created,
            updated_count=F("updated_count") + applied.updated + applied.unchanged,
            skipped_count=F("skipped_count") + len(skipped),
            contacts_count=F("contacts_count") + applied.contacts,
            skipped=kept[:SKIPPED_KEPT],
            progressed_at=timezone.now(),
            attempts=0,
            **({"status": CrmSyncRun.Status.DONE, "finished_at": timezone.now()} if done else {}),
        )
    run.cursor = cursor or ""
    return not done


def sync_run(*, run_id: int, max_pages: int | None = None, fetch=None) -> float | None:
    """Run (or resume) one sync. Returns None when it is finished (done or failed for good), or
    the seconds after which to try again (the CRM did not answer). `fetch`: how the CRM is read
    (crm.sync.fetch.sync_fetcher, unless a benchmark reads an in-process CRM)."""
    run = CrmSyncRun.objects.filter(pk=run_id, status__in=CrmSyncRun.ACTIVE).first()
    if run is None:
        return None
    connection = CrmConnection.objects.filter(kind=run.kind).first()
    if connection is None:
        _fail(run, "The CRM connection was removed.")
        return None
    CrmSyncRun.objects.filter(pk=run.pk).update(
        status=CrmSyncRun.Status.RUNNING, started_at=run.started_at or timezone.now()
    )
    fetch = fetch or sync_fetcher(connection)
    try:
        return _run_pages(run, connection, fetch, max_pages)
    finally:
        refresh_pending()


def _run_pages(run: CrmSyncRun, connection: CrmConnection, fetch, max_pages: int | None) -> float | None:
    try:
        if not run.pipelines_done:
            _pipelines(run, connection, fetch)
        mirror = Mirror.load(connection)
        pages = 0
        while _page(run, connection, fetch, mirror):
            pages += 1
            if max_pages is not None and pages >= max_pages:
                return 0.0
    except CrmUnavailable as exc:
        return _wait(run, str(exc))
    except CrmRefused as exc:
        _fail(run, str(exc))
    except Exception as exc:  # noqa: BLE001 - recorded on the run for the admin, then resumable
        logger.exception("CRM sync %s failed", run.pk)
        _fail(run, f"{type(exc).__name__}: {exc}")
    else:
        logger.info("CRM sync %s of %s done", run.pk, connection)
    return None


def _wait(run: CrmSyncRun, error: str) -> float | None:
    run.refresh_from_db(fields=["attempts"])
    attempts = run.attempts + 1
    if attempts > _max_waits():
        _fail(run, f"The CRM did not answer after {attempts - 1} tries: {error}")
        return None
    CrmSyncRun.objects.filter(pk=run.pk, status__in=CrmSyncRun.ACTIVE).update(
        status=CrmSyncRun.Status.WAITING, attempts=attempts, last_error=error[:2000]
    )
    logger.warning("CRM sync %s waits for the CRM (try %s): %s", run.pk, attempts, error)
    return retry_delay(attempts)


def _fail(run: CrmSyncRun, error: str) -> None:
    CrmSyncRun.objects.filter(pk=run.pk).update(
        status=CrmSyncRun.Status.FAILED, last_error=error[:2000], finished_at=timezone.now()
    )


def sync_handoff(run_id: int) -> float | None:
    """The outbox's handler for one run (safe to run twice: pages already written are skipped)."""
    return sync_run(run_id=run_id)


def sync_latest(*, kind: str) -> CrmSyncRun | None:
    return CrmSyncRun.objects.filter(kind=kind).first()


def run_progress(run: CrmSyncRun) -> dict:
    """What the connection page shows while a run goes and after it."""
    return {
        "status": run.get_status_display(),
        "active": run.is_active,
        "pages": run.pages,
        "read": run.read_count,
        "created": run.created_count,
        "updated": run.updated_count,
        "skipped": run.skipped_count,
        "contacts": run.contacts_count,
        "error": run.last_error,
    }


__all__ = ["HANDOFF_SYNC", "SyncError", "sync_start", "sync_resume", "sync_run", "sync_handoff"]
