"""Running an import job: the file streamed in chunks, each chunk in one transaction.

The dashboards' summary is refreshed once per import, not at each chunk's commit: the chunks put
their deals' refresh off (insights.rollup.defer_refresh) and the run refreshes them all in its
last step, or when it fails; a run whose worker died is refreshed by the next run of the job (the
outbox gives it out again) or by the compaction, whichever comes first.

New plain rows go the set-based route (crm.importing.bulk), the others through the services one
by one (crm.importing.apply). If anything in a chunk fails after writing, the chunk is undone and
run again row by row, each in its own savepoint, so a bad row is only reported.
"""

from itertools import islice

from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import Value
from django.db.models.functions import StrIndex
from django.utils import timezone

from crm.changes import unmapped_reason_record
from crm.importing.chunk import ChunkRedo, row_error, rows_upsert
from crm.importing.columns import RowError
from crm.importing.people import attach_people, people_apply
from crm.importing.reading import UNDECODABLE, records, row_values, stored_pieces
from crm.importing.rows import Lookups, Reasons, lookups, parse_row
from crm.models import ImportJob, ImportRowError
from insights.rollup import defer_refresh, refresh_pending

CHUNK = 2000  # rows per transaction (crm.importing.chunk writes them)


def _parse_chunk(job: ImportJob, chunk, columns: dict, look: Lookups, undecodable: bool = True):
    parsed, errors = [], []
    for line, cells in chunk:
        try:
            if isinstance(cells, RowError):
                raise cells
            values = row_values(cells, columns, job.encoding, undecodable=undecodable)
            row = parse_row(values, look)
            attach_people(row, values)  # the contacts and company domain columns
            parsed.append((line, row))
            errors += [
                ImportRowError(job=job, row=line, field=field, problem=problem[:300], value=value[:300],
                               warning=True)
                for field, problem, value in row.warnings
            ]  # fmt: skip
        except RowError as exc:
            errors.append(row_error(job, line, exc))
    return parsed, errors


def _chunk_done(job, errors, unmapped, counts, totals) -> None:
    """Inside the chunk's transaction: errors, the classification queue, and the totals."""
    for (outcome, text), count in unmapped.items():
        unmapped_reason_record(kind=job.kind, text=text, count=count, outcome=outcome)
    ImportRowError.objects.bulk_create(sorted(errors, key=lambda e: e.row))
    job.error_count += sum(1 for error in errors if not error.warning)
    for key, value in counts.items():
        totals[key] += value


def _run_chunk(job, chunk, columns, look, reasons, totals, undecodable: bool = True) -> None:
    parsed, parse_errors = _parse_chunk(job, chunk, columns, look, undecodable)
    accounts = dict(look.accounts)
    try:
        with transaction.atomic():
            defer_refresh()
            counts, errors, unmapped = rows_upsert(
                job=job, parsed=parsed, look=look, reasons=reasons, careful=False
            )
            people_apply(job=job, parsed=parsed)
            _chunk_done(job, parse_errors + errors, unmapped, counts, totals)
    except (ChunkRedo, IntegrityError, DataError):
        look.accounts = accounts  # accounts made by the undone attempt are gone
        with transaction.atomic():
            defer_refresh()
            counts, errors, unmapped = rows_upsert(
                job=job, parsed=parsed, look=look, reasons=reasons, careful=True
            )
            people_apply(job=job, parsed=parsed)
            _chunk_done(job, parse_errors + errors, unmapped, counts, totals)


# Tables a large first import grows many times over: the summary's triggers query them per chunk,
# and with the planner's row estimates from before the import those queries turn quadratic.
GROWING_TABLES = ("deals_closure", "insights_losshistory")


def _refresh_statistics(chunks_done: int) -> None:
    """ANALYZE the growing tables after chunk 1, 4, 16, 64, ... (a few times per import)."""
    if (
        connection.vendor != "postgresql"
        or chunks_done & (chunks_done - 1)
        or chunks_done.bit_length() % 2 == 0
    ):
        return
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {', '.join(GROWING_TABLES)}")


def _has_undecodable(job_id: int) -> bool:
    """Whether the stored file holds any character its encoding could not decode (if not, no
    cell needs searching for one)."""
    return (
        ImportJob.objects.filter(pk=job_id)
        .annotate(at=StrIndex("content", Value(UNDECODABLE)))
        .values_list("at", flat=True)
        .get()
        > 0
    )


def import_job_run(*, job_id: int) -> str:
    """Import every row of a queued job, in chunks, recording progress and per-row errors."""
    claimed = ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.QUEUED).update(
        status=ImportJob.Status.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        return "not claimed"
    job = ImportJob.objects.defer("content").select_related("created_by").get(pk=job_id)
    try:
        rows = records(stored_pieces(job.pk))
        _number, header = next(rows, (1, []))
        index = {column: i for i, column in enumerate(header if isinstance(header, list) else [])}
        columns = {field: index[column] for field, column in job.column_map.items() if column in index}
        look, reasons = lookups(job.stage_map, job.column_map), Reasons(job.kind)
        undecodable = _has_undecodable(job.pk)
        totals = {"created": 0, "updated": 0, "unchanged": 0}
        processed = 0
        while chunk := list(islice(rows, CHUNK)):
            _run_chunk(job, chunk, columns, look, reasons, totals, undecodable)
            processed += len(chunk)
            if len(chunk) == CHUNK:  # a small file does not grow the tables enough to matter
                _refresh_statistics(processed // CHUNK)
            ImportJob.objects.filter(pk=job.pk).update(
                processed_rows=processed,
                created_count=totals["created"],
                updated_count=totals["updated"],
                unchanged_count=totals["unchanged"],
                error_count=job.error_count,
            )
        refresh_pending()  # the figures count every imported row before the job says done
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.DONE, finished_at=timezone.now(), total_rows=processed
        )
        return "done"
    except Exception as exc:
        refresh_pending()  # the chunks committed before the failure count in the figures
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.FAILED,
            error=f"{type(exc).__name__}: {exc}"[:2000],
            finished_at=timezone.now(),
        )
        raise
