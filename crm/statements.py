"""The receivers' one statement on PostgreSQL, as cheap as the database allows: prepared once
per connection (parsed and planned once, not at every delivery), without Django's per-request
health check, and run once more on a fresh connection if the kept one was dropped.

Only for statements that are safe to run twice (INSERT ... ON CONFLICT DO NOTHING). Behind a
pooler that hands one client several server connections (PgBouncer in transaction mode), set
CRM_WEBHOOK_PREPARED=0: the statement is then sent whole each time.
"""

from collections.abc import Callable

from django.conf import settings
from django.db import DatabaseError

# PostgreSQL's codes for "no such prepared statement" and "it exists already": the connection's
# prepared statements are not what this process believes (a pooler, a DISCARD ALL).
PREPARED_MISMATCH = {"26000", "42P05"}


class Prepared:
    """A statement with `$n` parameters, prepared on first use on each database connection."""

    def __init__(self, name: str, types: list[str], sql: Callable[[], str]):
        self.name, self.types, self.sql = name, types, sql

    def text(self, db) -> str:
        """What to send on `db` now: EXECUTE, preceded the first time by its PREPARE."""
        execute = f"EXECUTE {self.name}({', '.join(['%s'] * len(self.types))})"
        if self.name in _prepared_on(db):
            return execute
        return f"PREPARE {self.name}({', '.join(self.types)}) AS {self.sql()}; {execute}"

    def done(self, db) -> None:
        _prepared_on(db).add(self.name)


def _prepared_on(db) -> set[str]:
    """The names prepared on `db`'s current connection (a new connection starts with none)."""
    db.ensure_connection()
    known = db.__dict__.get("crm_prepared")
    if known is None or known[0] is not db.connection:
        known = db.__dict__["crm_prepared"] = (db.connection, set())
    return known[1]


def run_repeatable(db, *, plain: str, prepared: Prepared | None, params: list) -> list[tuple]:
    """Run the statement (prepared where allowed, `plain` with %s parameters otherwise) and
    return its rows. Outside a transaction it skips Django's health check (CONN_HEALTH_CHECKS:
    a SELECT 1 round trip before the first query of a request) and, if the connection turns out
    broken or its prepared statements are not what this process believes, runs the statement
    once more on a fresh connection."""
    if db.in_atomic_block or db.vendor != "postgresql" or not settings.CRM_WEBHOOK_PREPARED:
        prepared = None

    def run() -> list[tuple]:
        text = prepared.text(db) if prepared else plain
        with db.cursor() as cursor:
            cursor.execute(text, params)
            rows = cursor.fetchall()
        if prepared:
            prepared.done(db)
        return rows

    if db.in_atomic_block:  # a caller's transaction: no retry is possible, nor needed
        return run()
    db.health_check_done = True
    try:
        return run()
    except DatabaseError as exc:
        code = getattr(exc.__cause__, "pgcode", None)
        if code not in PREPARED_MISMATCH and db.connection is not None and db.is_usable():
            raise  # the statement failed, not the connection
        db.close()
        return run()
