"""The CSV import's entry points; the code lives in the crm.importing package."""

from crm.importing import (  # noqa: F401 - re-exported
    CHUNK,
    ENCODINGS,
    FIELDS,
    PRESETS,
    RowError,
    import_job_create,
    import_job_run,
    import_job_start,
)
