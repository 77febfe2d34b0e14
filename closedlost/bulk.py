"""Set-based writes for the paths that write thousands of rows at a time (a first CRM sync, a large
import): rows as plain dicts, written with one COPY or one UPDATE ... FROM UNNEST per table,
without building model instances or Django's per-object SQL.

They write exactly the columns given (absent ones take the model's default) and skip nothing the
database checks: constraints, foreign keys and statement triggers apply as to any INSERT/UPDATE.
No save() or model signals run: callers are the services that own those rows. On a database other
than PostgreSQL (SQLite for `make run`) they fall back to Django's bulk_create / bulk_update.
"""

import io
from datetime import datetime

from django.db import connection


def _copy_text(value) -> str:
    """A value in COPY's text format."""
    if value is None:
        return "\\N"
    if value is True or value is False:
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


def _fields(model):
    return [f for f in model._meta.concrete_fields if not f.primary_key]


def insert_rows(model, rows: list[dict], *, returning: bool = True) -> list[int]:
    """COPY `rows` into the model's table (dicts by attribute name; absent fields take the model's
    default), without building model instances; with `returning`, the new ids in the rows' order
    (taken from the table's sequence first). Statement triggers fire as for an INSERT."""
    if not rows:
        return []
    fields = _fields(model)
    defaults = {f.attname: f.get_default() for f in fields}
    names = [f.attname for f in fields]
    if connection.vendor != "postgresql":
        made = model.objects.bulk_create(
            [model(**{name: row.get(name, defaults[name]) for name in names}) for row in rows]
        )
        return [m.pk for m in made] if returning else []
    table = model._meta.db_table
    columns = [f.column for f in fields]
    ids = []
    with connection.cursor() as cursor:
        if returning:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [connection.ops.quote_name(table), len(rows)],
            )
            ids = [pk for (pk,) in cursor.fetchall()]
            columns = ["id", *columns]
        data = io.StringIO()
        for n, row in enumerate(rows):
            values = [row.get(name, defaults[name]) for name in names]
            if returning:
                values.insert(0, ids[n])
            data.write("\t".join(map(_copy_text, values)))
            data.write("\n")
        data.seek(0)
        quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
        cursor.cursor.copy_expert(f"COPY {connection.ops.quote_name(table)} ({quoted}) FROM STDIN", data)
    return ids


def update_rows(model, rows: list[dict], names: list[str]) -> int:
    """Set the attributes `names` of each row (dicts with "id" and those names) in one statement:
    UPDATE ... FROM UNNEST(arrays). Returns how many rows were updated."""
    if not rows:
        return 0
    fields = [model._meta.get_field(name) for name in names]
    if connection.vendor != "postgresql":
        objects = [model(pk=row["id"], **{f.attname: row[f.attname] for f in fields}) for row in rows]
        return model.objects.bulk_update(objects, [f.name for f in fields])
    quote, table = connection.ops.quote_name, connection.ops.quote_name(model._meta.db_table)
    pk = model._meta.pk
    arrays = [f"%s::{pk.db_type(connection)}[]"] + [f"%s::{f.db_type(connection)}[]" for f in fields]
    params = [[row["id"] for row in rows]] + [[row[f.attname] for row in rows] for f in fields]
    aliases = ["id", *(f"v{n}" for n in range(len(fields)))]
    sets = ", ".join(f"{quote(f.column)} = v.v{n}" for n, f in enumerate(fields))
    # Names come from the model, values go as parameters.
    unnest = f"UNNEST({', '.join(arrays)}) AS v({', '.join(aliases)})"
    sql = f"UPDATE {table} SET {sets} FROM {unnest} WHERE {table}.{quote(pk.column)} = v.id"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount
