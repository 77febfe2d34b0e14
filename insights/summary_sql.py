"""The dashboards' summary in PostgreSQL: its functions, view and triggers live in insights/sql/.

`install` runs every file, in name order, in one transaction. Each file replaces what it defines
(CREATE OR REPLACE), so installing twice changes nothing. A change to a file ships with a
migration that calls `install` (see docs/summary.md); `manage.py rollup --install` does the same
by hand. `installed_definitions` and `file_definitions` let a test compare the database with the
files.
"""

import re
from pathlib import Path

from django.db import transaction

SQL_DIR = Path(__file__).resolve().parent / "sql"

FUNCTION = re.compile(r"^CREATE OR REPLACE FUNCTION (\w+)\(.*?\n\$function\$", re.MULTILINE | re.DOTALL)
TRIGGER = re.compile(r"^CREATE (?:OR REPLACE )?(CONSTRAINT )?TRIGGER (\w+) .*?\);$", re.MULTILINE)
VIEW = re.compile(r"^CREATE OR REPLACE VIEW (\w+) AS\n(.*?);$", re.MULTILINE | re.DOTALL)


def sql_files() -> list[Path]:
    return sorted(SQL_DIR.glob("*.sql"))


def install(connection) -> None:
    """Create or replace every function, view and trigger of the summary from the files."""
    if connection.vendor != "postgresql":
        return
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        for path in sql_files():
            cursor.execute(path.read_text())


def file_definitions() -> dict[str, dict[str, str]]:
    """What the files define, in the form PostgreSQL prints it back: functions and triggers by
    name; views by name with their query text (compared after PostgreSQL parses it)."""
    out = {"functions": {}, "triggers": {}, "views": {}}
    for path in sql_files():
        text = path.read_text()
        for match in FUNCTION.finditer(text):
            out["functions"][match.group(1)] = match.group(0) + "\n"
        for match in TRIGGER.finditer(text):
            statement = match.group(0).rstrip(";").replace("CREATE OR REPLACE TRIGGER", "CREATE TRIGGER")
            out["triggers"][match.group(2)] = statement
        for match in VIEW.finditer(text):
            out["views"][match.group(1)] = match.group(2)
    return out


def installed_definitions(connection) -> dict[str, dict[str, str]]:
    """The summary's functions, triggers and views as the database holds them now (public schema,
    names starting with insights_), schema names dropped as the files leave them out."""
    out = {"functions": {}, "triggers": {}, "views": {}}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.proname, pg_get_functiondef(p.oid) FROM pg_proc p"
            " JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = 'public' AND p.proname LIKE 'insights\\_%%'"
        )
        for name, definition in cursor.fetchall():
            out["functions"][name] = definition.replace("FUNCTION public.", "FUNCTION ", 1)
        cursor.execute(
            "SELECT t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t"
            " WHERE NOT t.tgisinternal AND t.tgname LIKE 'insights\\_%%'"
        )
        for name, definition in cursor.fetchall():
            out["triggers"][name] = definition.replace(" ON public.", " ON ", 1)
        cursor.execute(
            "SELECT viewname, pg_get_viewdef(viewname::regclass) FROM pg_views"
            " WHERE schemaname = 'public' AND viewname LIKE 'insights\\_%%'"
        )
        out["views"] = dict(cursor.fetchall())
    return out
