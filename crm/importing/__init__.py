"""CSV import of CRM deal exports: upsert by the CRM's id, one row never stops the others.

columns (our fields, presets, cell parsers), reading (decoding and streaming the stored file),
rows (a row checked and what its close means), apply (one row through the deal services),
bulk (new rows set-based), run (the job), review (what the admin confirms before it starts).
Running the same file twice changes nothing the second time.
"""

from django.db import transaction

from crm.importing.columns import FIELDS, PRESETS, RowError
from crm.importing.reading import ENCODINGS, UNDECODABLE, count_records
from crm.importing.run import CHUNK, import_job_run
from crm.models import ImportJob
from teams.models import User

__all__ = [
    "CHUNK",
    "ENCODINGS",
    "FIELDS",
    "PRESETS",
    "RowError",
    "import_job_create",
    "import_job_run",
    "import_job_start",
]


def import_job_create(
    *, kind: str, filename: str, content: str, actor: User, encoding: str = "utf-8"
) -> ImportJob:
    """Store an uploaded export (already decoded) waiting for its columns to be chosen."""
    return ImportJob.objects.create(
        kind=kind,
        filename=filename[:255],
        content=content,
        encoding=encoding,
        created_by=actor,
        total_rows=max(count_records(content) - 1, 0),
        undecodable=content.count(UNDECODABLE),
    )


def import_job_start(
    *, job: ImportJob, column_map: dict[str, str], stage_map: dict | None = None, links: dict | None = None
) -> None:
    """Save the column mapping (and the review's choices) and hand the import to the worker."""
    from crm.services import HANDOFF_IMPORT
    from outbox.services import handoff_enqueue

    with transaction.atomic():
        updated = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.MAPPING).update(
            column_map=column_map,
            stage_map=stage_map or {},
            links=links or {},
            status=ImportJob.Status.QUEUED,
        )
        if updated:
            handoff_enqueue(kind=HANDOFF_IMPORT, items=[job.pk])
