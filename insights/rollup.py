"""Keeping the dashboards' summary (DealFact, Rollup and RollupDay; SQL in insights/sql/) tidy and checked.

The triggers keep both exact at every commit; this module refreshes them earlier inside a
transaction (`flush`), folds the trigger's appended rows
(`rollup_compact`, Celery beat), rebuilds everything from the deals (`rollup_rebuild`, after a
bulk load that skipped triggers, in slices that closes do not wait for) and measures any
disagreement (`rollup_drift`). docs/summary.md has the rules. On databases
other than PostgreSQL there is no summary: the figures are computed from the deals.
"""

import logging
import time

from django.conf import settings
from django.db import connection, transaction

from insights import summary_sql
from insights.models import ROLLUP_DAY_KEY, ROLLUP_KEY, DealFact

logger = logging.getLogger(__name__)

FACT_COLUMNS = ", ".join(field.column for field in DealFact._meta.concrete_fields)
FACTS_STORED = f"SELECT {FACT_COLUMNS} FROM insights_dealfact"  # noqa: S608 - fixed names only
FACTS_NOW = f"""
    SELECT {FACT_COLUMNS} FROM insights_facts_compute(ARRAY(
        SELECT id FROM deals_deal WHERE status <> 'open' UNION SELECT deal_id FROM insights_losshistory))
"""  # noqa: S608 - fixed names only
MEASURES = "deals, needs_reason, amount, amount_sq, cycle_seconds"
# Deals per slice of a rebuild: a close of one of them waits for at most one slice.
SLICE = 2000


def _rollup_sql(table: str, key: list[str]) -> tuple[str, str]:
    """The rollup `table` summed by key, and what it sums to when it agrees with the facts."""
    columns = ", ".join(key)
    stored = (
        f"SELECT {columns}, sum(deals) AS deals, sum(needs_reason) AS needs_reason, sum(amount) AS amount,"  # noqa: S608
        f" sum(amount_sq) AS amount_sq, sum(cycle_seconds) AS cycle_seconds"
        f" FROM {table} GROUP BY {columns} HAVING sum(deals) <> 0"
    )
    return stored, f"SELECT {columns}, {MEASURES} FROM {table}_expected"  # noqa: S608 - fixed names only


ROLLUP_STORED, ROLLUP_EXPECTED = _rollup_sql("insights_rollup", ROLLUP_KEY)
ROLLUP_DAY_STORED, ROLLUP_DAY_EXPECTED = _rollup_sql("insights_rollupday", ROLLUP_DAY_KEY)


def summary_available() -> bool:
    return connection.vendor == "postgresql"


def flush() -> None:
    """Refresh the facts of the deals this transaction changed (at commit otherwise): for a read
    of the summary inside the writing transaction. Nothing is pending outside a transaction."""
    if summary_available() and connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS insights_rollup_flush IMMEDIATE")
            cursor.execute("SET CONSTRAINTS insights_rollup_flush DEFERRED")


def defer_refresh() -> None:
    """For a long writer (a CSV import), inside each of its transactions: the deals this
    transaction changes are kept in insights_pendingdeal instead of being refreshed at its commit.
    The writer calls `refresh_pending` once at its end (and when it fails); the figures of those
    deals are the ones from before the writer until then."""
    if summary_available() and connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('insights.deferred', 'on', true)")


def refresh_pending(*, older_than: int = 0) -> int:
    """Refresh the deals whose refresh was put off (those waiting at least `older_than` seconds),
    in one transaction whose commit refreshes them as a close would; returns how many."""
    if not summary_available():
        return 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT insights_facts_refresh_pending(now() - make_interval(secs => %s))", [older_than]
        )
        taken = cursor.fetchone()[0]
        flush()  # now, also when a caller's transaction holds this one
        return taken


def pending_count() -> int:
    """How many deals wait for their put-off refresh (0 once every writer has refreshed them)."""
    if not summary_available():
        return 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM insights_pendingdeal")
        return cursor.fetchone()[0]


def rollup_compact() -> int:
    """Fold the rows the triggers appended into one settled row per key; returns how many folded.
    First the deals an import put off refreshing whose worker died (ROLLUP_PENDING_AFTER)."""
    if not summary_available():
        return 0
    flush()
    refresh_pending(older_than=settings.ROLLUP_PENDING_AFTER)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT insights_rollup_compact()")
        return cursor.fetchone()[0]


def summary_install() -> None:
    """Create or replace the summary's functions, view and triggers from insights/sql/."""
    summary_sql.install(connection)


def rollup_rebuild(
    *, slice_size: int = SLICE, at_once: bool = False, pause_ms: int | None = None
) -> dict[str, int]:
    """Recompute every fact and the rollup from the deals, writing only what is wrong.

    In slices of deal ids, one transaction each, so a close waits for one slice at most; then
    the rollup gets what it lacks against the facts; between slices it rests `pause_ms`
    (settings.ROLLUP_REBUILD_PAUSE_MS). `at_once` empties and refills everything in one
    transaction that every close waits for (an empty summary after a bulk load).
    """
    if not summary_available():
        return {"deals": 0, "rollup": 0}
    if at_once:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT insights_facts_rebuild()")
        return {"deals": -1, "rollup": -1}
    flush()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT least((SELECT min(id) FROM deals_deal), (SELECT min(deal_id) FROM insights_dealfact),"
            " (SELECT min(deal_id) FROM insights_losshistory)),"
            " greatest((SELECT max(id) FROM deals_deal), (SELECT max(deal_id) FROM insights_dealfact),"
            " (SELECT max(deal_id) FROM insights_losshistory))"
        )
        low, high = cursor.fetchone()
    repaired_deals = 0
    pause = (settings.ROLLUP_REBUILD_PAUSE_MS if pause_ms is None else pause_ms) / 1000
    for first in range(low or 0, (high or -1) + 1, slice_size):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT insights_facts_rebuild_slice(%s, %s)", [first, first + slice_size - 1])
            repaired_deals += cursor.fetchone()[0]
        if pause and not connection.in_atomic_block:
            time.sleep(pause)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT insights_rollup_repair()")
        repaired = cursor.fetchone()[0]
    logger.info("rollup rebuilt", extra={"deals": repaired_deals, "rollup_rows_added": repaired})
    return {"deals": repaired_deals, "rollup": repaired}


def rollup_drift() -> dict[str, int]:
    """Rows that differ between the stored facts and the deals now, and between each rollup's (by
    month, by day) sums and the stored facts (all 0 when the summary agrees with the live
    computation)."""
    if not summary_available():
        return {"facts": 0, "rollup": 0, "rollup_day": 0}
    flush()
    out = {}
    with connection.cursor() as cursor:
        for name, stored, expected in (
            ("facts", FACTS_STORED, FACTS_NOW),
            ("rollup", ROLLUP_STORED, ROLLUP_EXPECTED),
            ("rollup_day", ROLLUP_DAY_STORED, ROLLUP_DAY_EXPECTED),
        ):
            cursor.execute(
                f"SELECT (SELECT count(*) FROM ({stored} EXCEPT ALL {expected}) a)"  # noqa: S608
                f" + (SELECT count(*) FROM ({expected} EXCEPT ALL {stored}) b)"
            )
            out[name] = cursor.fetchone()[0]
    return out
