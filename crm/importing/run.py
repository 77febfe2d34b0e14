"""Running an import job: the file streamed in chunks, each chunk in one transaction.

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
from crm.importing.apply import apply_row, is_unchanged
from crm.importing.bulk import accounts_ready, bulk_close, bulk_create_rows
from crm.importing.columns import RowError
from crm.importing.people import attach_people, people_apply
from crm.importing.reading import UNDECODABLE, records, row_values, stored_pieces
from crm.importing.rows import Lookups, Reasons, lookups, parse_row
from crm.models import EXTERNAL_ID_FIELD, ImportJob, ImportRowError
from deals import services as deal_services
from deals.models import Deal

CHUNK = 2000
# New plain rows go the set-based route; False sends every row through the services (the route
# before it existed: bench/bench_import.py measures both in one run).
SET_BASED = True


class _Redo(Exception):
    """A row failed after writing: undo the chunk and run it again row by row in savepoints."""


def _error(job: ImportJob, line: int, exc: Exception) -> ImportRowError:
    if isinstance(exc, RowError):
        return ImportRowError(
            job=job, row=line, field=exc.field, problem=exc.problem[:300], value=exc.value[:300]
        )
    return ImportRowError(job=job, row=line, field=exc.field or "row", problem=exc.message[:300])


def _import_chunk(*, job, parsed, look, reasons, careful: bool):
    """Apply the parsed rows of one chunk; returns (counts, errors, unmapped texts).

    Not `careful` (the fast path): new plain rows in bulk, the first failing row raises _Redo.
    `careful`: each row through the services in its own savepoint; a failing row is recorded.
    """
    id_field = EXTERNAL_ID_FIELD[job.kind]
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    errors, unmapped = [], {}
    existing = _existing(id_field, [row.external_id for _, row in parsed])
    one_by_one, bulk, seen = [], [], set()
    for line, row in parsed:
        plain = SET_BASED and not (careful or row.external_id in existing or row.external_id in seen)
        plain = plain and row.external_id not in job.links
        close = bulk_close(job, row, reasons) if plain else False
        seen.add(row.external_id)
        if close is False:
            one_by_one.append((line, row))
        else:
            bulk.append((row, close))
    accounts_ready([row for _, row in parsed], look)
    if bulk:
        for text, count in bulk_create_rows(job=job, rows=bulk, look=look).items():
            unmapped[text] = unmapped.get(text, 0) + count
        counts["created"] += len(bulk)
        existing.update({row.external_id: None for row, _ in bulk})  # later duplicates re-read them
    for line, row in one_by_one:
        deal = existing.get(row.external_id)
        if deal is None and row.external_id in existing:
            deal = Deal.objects.get(**{id_field: row.external_id})
        if deal is not None and is_unchanged(deal, row, reasons):
            counts["unchanged"] += 1
            continue
        try:
            if careful:
                with transaction.atomic():
                    result, deal, text = apply_row(job=job, row=row, deal=deal, look=look, reasons=reasons)
            else:
                result, deal, text = apply_row(job=job, row=row, deal=deal, look=look, reasons=reasons)
        except (RowError, deal_services.DealError) as exc:
            if not careful:
                raise _Redo from exc
            errors.append(_error(job, line, exc))
            continue
        existing[row.external_id] = deal
        counts[result] += 1
        if text:
            unmapped[text] = unmapped.get(text, 0) + 1
    return counts, errors, unmapped


def _existing(id_field: str, ids: list[str]) -> dict:
    """The chunk's deals we already have, by the CRM's id: one indexed array lookup, and the deals
    themselves only when there are any (a first import has none)."""
    column = Deal._meta.get_field(id_field).column
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM deals_deal WHERE {column} = ANY(%s)", [ids])  # noqa: S608
        pks = [pk for (pk,) in cursor.fetchall()]
    return {getattr(d, id_field): d for d in Deal.objects.filter(pk__in=pks)} if pks else {}


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
            errors.append(_error(job, line, exc))
    return parsed, errors


def _chunk_done(job, errors, unmapped, counts, totals) -> None:
    """Inside the chunk's transaction: errors, the classification queue, and the totals."""
    for text, count in unmapped.items():
        unmapped_reason_record(kind=job.kind, text=text, count=count)
    ImportRowError.objects.bulk_create(sorted(errors, key=lambda e: e.row))
    job.error_count += sum(1 for error in errors if not error.warning)
    for key, value in counts.items():
        totals[key] += value


def _run_chunk(job, chunk, columns, look, reasons, totals, undecodable: bool = True) -> None:
    parsed, parse_errors = _parse_chunk(job, chunk, columns, look, undecodable)
    accounts = dict(look.accounts)
    try:
        with transaction.atomic():
            counts, errors, unmapped = _import_chunk(
                job=job, parsed=parsed, look=look, reasons=reasons, careful=False
            )
            people_apply(job=job, parsed=parsed)
            _chunk_done(job, parse_errors + errors, unmapped, counts, totals)
    except (_Redo, IntegrityError, DataError):
        look.accounts = accounts  # accounts made by the undone attempt are gone
        with transaction.atomic():
            counts, errors, unmapped = _import_chunk(
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
        look, reasons = lookups(job.stage_map), Reasons(job.kind)
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
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.DONE, finished_at=timezone.now(), total_rows=processed
        )
        return "done"
    except Exception as exc:
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.FAILED,
            error=f"{type(exc).__name__}: {exc}"[:2000],
            finished_at=timezone.now(),
        )
        raise
