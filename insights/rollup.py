"""Keeping the dashboards' summary (DealFact and Rollup, migration 0007) tidy and checked.

The triggers keep both exact at every commit; this module refreshes them earlier inside a
transaction (`flush`), folds the trigger's appended rows
(`rollup_compact`, Celery beat), rebuilds everything from the deals (`rollup_rebuild`, after a
bulk load that skipped triggers) and measures any disagreement (`rollup_drift`). On databases
other than PostgreSQL there is no summary: the figures are computed from the deals.
"""

import logging

from django.db import connection, transaction

from insights.models import ROLLUP_KEY

logger = logging.getLogger(__name__)

FACTS_NOW = """
    SELECT * FROM insights_facts_compute(ARRAY(
        SELECT id FROM deals_deal WHERE status <> 'open' UNION SELECT deal_id FROM insights_losshistory))
"""
KEY = ", ".join(ROLLUP_KEY)
ROLLUP_STORED = f"""
    SELECT {KEY}, sum(deals) AS deals, sum(needs_reason) AS needs_reason, sum(amount) AS amount,
           sum(cycle_seconds) AS cycle_seconds
      FROM insights_rollup GROUP BY {KEY} HAVING sum(deals) <> 0
"""  # noqa: S608 - fixed names only


def summary_available() -> bool:
    return connection.vendor == "postgresql"


def flush() -> None:
    """Refresh the facts of the deals this transaction changed (at commit otherwise): for a read
    of the summary inside the writing transaction. Nothing is pending outside a transaction."""
    if summary_available() and connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS insights_rollup_flush IMMEDIATE")
            cursor.execute("SET CONSTRAINTS insights_rollup_flush DEFERRED")


def rollup_compact() -> int:
    """Fold the rows the triggers appended into one settled row per key; returns how many folded."""
    if not summary_available():
        return 0
    flush()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT insights_rollup_compact()")
        return cursor.fetchone()[0]


def rollup_rebuild() -> None:
    """Recompute every fact and the rollup from the deals (locks both tables while it runs)."""
    if summary_available():
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT insights_facts_rebuild()")


def rollup_drift() -> dict[str, int]:
    """Rows that differ between the stored facts and the deals now, and between the rollup's
    sums and the stored facts (both 0 when the summary agrees with the live computation)."""
    if not summary_available():
        return {"facts": 0, "rollup": 0}
    flush()
    out = {}
    with connection.cursor() as cursor:
        for name, stored, expected in (
            ("facts", "SELECT * FROM insights_dealfact", FACTS_NOW),
            ("rollup", ROLLUP_STORED, "SELECT * FROM insights_rollup_expected"),
        ):
            cursor.execute(
                f"SELECT (SELECT count(*) FROM ({stored} EXCEPT ALL {expected}) a)"  # noqa: S608
                f" + (SELECT count(*) FROM ({expected} EXCEPT ALL {stored}) b)"
            )
            out[name] = cursor.fetchone()[0]
    return out
