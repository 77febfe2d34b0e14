"""The first rows of a stored export as the columns page shows them, and how many characters
could not be decoded (so the admin sees a wrong encoding before importing): the first slice of
the file only, and the count made at upload."""

from dataclasses import dataclass
from itertools import islice

from crm.importing.reading import records, stored_pieces
from crm.models import ImportJob

PREVIEW_ROWS = 5
PREVIEW_CELL = 60  # characters of a cell shown


@dataclass
class Preview:
    header: list[str]
    rows: list[list[str]]
    undecodable: int  # U+FFFD characters in the whole file


def import_preview(*, job: ImportJob) -> Preview:
    """Header and first rows from the first slice of the file."""
    first = records(stored_pieces(job.pk, size=256 * 1024))
    head = list(islice(first, PREVIEW_ROWS + 1))
    first.close()
    cells = [row for _line, row in head if isinstance(row, list)]
    header = cells[0] if cells else []
    rows = [[cell[:PREVIEW_CELL] for cell in row] for row in cells[1:]]
    return Preview(header=header, rows=rows, undecodable=job.undecodable)
