"""Writing one chunk of parsed deal rows, shared by the CSV import (crm.importing.run) and the
CRM sync (crm.sync.apply): new plain rows go the set-based route (crm.importing.bulk), the others
through the services one by one (crm.importing.apply).

Call `rows_upsert` inside a transaction. On its fast path the first failing row raises ChunkRedo:
the caller undoes the chunk and runs it again `careful`, each row in its own savepoint, so a bad
row is only reported.
"""

from django.db import connection, transaction

from crm.importing.apply import apply_row, is_unchanged
from crm.importing.bulk import accounts_ready, bulk_close, bulk_create_rows
from crm.importing.columns import RowError
from crm.models import EXTERNAL_ID_FIELD, ImportJob, ImportRowError
from deals import services as deal_services
from deals.models import Deal

# New plain rows go the set-based route; False sends every row through the services (the route
# before it existed: bench/bench_import.py measures both in one run).
SET_BASED = True


class ChunkRedo(Exception):
    """A row failed after writing: undo the chunk and run it again row by row in savepoints."""


def row_error(job: ImportJob, line: int, exc: Exception) -> ImportRowError:
    if isinstance(exc, RowError):
        return ImportRowError(
            job=job, row=line, field=exc.field, problem=exc.problem[:300], value=exc.value[:300]
        )
    return ImportRowError(job=job, row=line, field=exc.field or "row", problem=exc.message[:300])


def rows_upsert(*, job, parsed, look, reasons, careful: bool):
    """Apply the parsed rows of one chunk; returns (counts, errors, {(outcome, unmapped text): rows}).

    Not `careful` (the fast path): new plain rows in bulk, the first failing row raises ChunkRedo.
    `careful`: each row through the services in its own savepoint; a failing row is recorded.
    """
    id_field = EXTERNAL_ID_FIELD[job.kind]
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    errors, unmapped = [], {}
    ids = [row.external_id for _, row in parsed]
    existing = _existing(id_field, ids)
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
        for key, count in bulk_create_rows(job=job, rows=bulk, look=look).items():
            unmapped[key] = unmapped.get(key, 0) + count
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
                    result, deal, key = apply_row(job=job, row=row, deal=deal, look=look, reasons=reasons)
            else:
                result, deal, key = apply_row(job=job, row=row, deal=deal, look=look, reasons=reasons)
        except (RowError, deal_services.DealError) as exc:
            if not careful:
                raise ChunkRedo from exc
            errors.append(row_error(job, line, exc))
            continue
        existing[row.external_id] = deal
        counts[result] += 1
        if key:
            unmapped[key] = unmapped.get(key, 0) + 1
    return counts, errors, unmapped


__all__ = ["SET_BASED", "ChunkRedo", "row_error", "rows_upsert"]


def _existing(id_field: str, ids: list[str]) -> dict:
    """The chunk's deals we already have, by the CRM's id: one indexed array lookup, and the deals
    themselves only when there are any (a first import has none)."""
    column = Deal._meta.get_field(id_field).column
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM deals_deal WHERE {column} = ANY(%s)", [ids])  # noqa: S608
        pks = [pk for (pk,) in cursor.fetchall()]
    return {getattr(d, id_field): d for d in Deal.objects.filter(pk__in=pks)} if pks else {}
