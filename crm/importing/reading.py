"""Reading an uploaded export without holding it twice: the text is decoded once at upload
(bytes the chosen encoding cannot decode become U+FFFD), stored, and read back by the worker in
slices of the database column, one CSV record at a time.

Encoding choice (documented on the upload page): the admin picks the file's encoding (UTF-8 by
default); the columns page previews the first rows and counts undecodable characters. A row with
one in a mapped column is reported as a row error; the rest of the file imports.
"""

import csv
from collections.abc import Iterable, Iterator

from django.db.models.functions import Substr

from crm.importing.columns import CSV_FIELD_LIMIT, MAX_LENGTH, RowError
from crm.models import ImportJob

ENCODINGS = {
    "utf-8": "UTF-8 (CRM exports, Excel “CSV UTF-8”)",
    "windows-1252": "Windows-1252 (Excel “CSV” on Windows, Western Europe)",
    "latin-1": "ISO-8859-1 (Latin-1)",
}
UNDECODABLE = "\ufffd"
SLICE = 1 << 20  # characters fetched from the database at a time
# Cells may be larger than the csv module's default limit: we report them per row instead of
# letting csv.Error end the whole file (the file itself is at most MAX_IMPORT_BYTES).
csv.field_size_limit(max(csv.field_size_limit(), 64 * 1024 * 1024))


def decode_upload(raw: bytes, encoding: str) -> str:
    """The file as text; undecodable bytes (and NUL, which PostgreSQL text cannot hold) become U+FFFD."""
    codec = "utf-8-sig" if encoding == "utf-8" else encoding
    return raw.decode(codec, errors="replace").replace("\x00", UNDECODABLE)


def stored_pieces(job_id: int, *, size: int = SLICE) -> Iterator[str]:
    """The job's text in slices read from the database (memory holds one slice, not the file)."""
    start = 1
    while True:
        piece = (
            ImportJob.objects.filter(pk=job_id)
            .annotate(part=Substr("content", start, size))
            .values_list("part", flat=True)
            .get()
        )
        if not piece:
            return
        yield piece
        start += size


def lines(pieces: Iterable[str]) -> Iterator[str]:
    """Lines ending in "\\n" (kept, so csv sees line breaks inside quoted cells)."""
    rest = ""
    for piece in pieces:
        rest += piece
        start = 0
        while (end := rest.find("\n", start)) != -1:
            yield rest[start : end + 1]
            start = end + 1
        rest = rest[start:]
    if rest:
        yield rest


def records(pieces: Iterable[str]) -> Iterator[tuple[int, list[str] | RowError]]:
    """(record number, header included as 1; cells or the RowError of a record csv cannot read)."""
    reader = csv.reader(lines(pieces))
    number = 0
    while True:
        number += 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield number, RowError("row", f"is not valid CSV: {exc}")
            continue
        yield number, row


def count_records(text: str) -> int:
    return sum(1 for _ in records([text]))


def row_values(
    cells: list[str], columns: dict[str, int], encoding: str, *, undecodable: bool = True
) -> dict[str, str]:
    """Our field → its cell; RowError for a cell too long or holding undecodable bytes
    (`undecodable`: the file has some; without any, no cell is searched for them)."""
    if max(map(len, cells), default=0) > CSV_FIELD_LIMIT:
        cell = next(cell for cell in cells if len(cell) > CSV_FIELD_LIMIT)
        raise RowError("row", f"has a cell longer than {CSV_FIELD_LIMIT:,} characters", cell[:50])
    width = len(cells)
    values = {field: cells[index] if index < width else "" for field, index in columns.items()}
    if undecodable:
        for field, value in values.items():
            if UNDECODABLE in value:
                raise RowError(
                    field,
                    f"holds bytes that are not {ENCODINGS.get(encoding, encoding).split(' (')[0]}",
                    value[:80],
                )
    for field, limit in MAX_LENGTH.items():
        value = values.get(field)
        if value is not None and len(value) > limit and len(value.strip()) > limit:
            raise RowError(field, f"is longer than {limit} characters", value[:50])
    return values
