"""Which deals each grouping of the summary counts, and by what: written once, here.

The SQL of the summary (insights/sql/02_facts.sql: the VALUES list of insights_fact_groupings, the size-band
CASE of the facts) is checked against `values_sql` and `band_case_sql` by
insights/tests/test_groupings.py; the live path (insights.selectors, any database) filters the
deals with `GROUPINGS` directly. The size bands themselves are deals.selectors.SIZE_BANDS (the
deal list filters by them too).
"""

from __future__ import annotations

from dataclasses import dataclass

from deals.models import DealStatus
from deals.selectors import SIZE_BANDS
from insights.models import Rollup

Grouping = Rollup.Grouping

# The dimensions a grouping may key by, besides month, team, pipeline and status (always keyed),
# in the order of the rollup's columns, with the SQL type a NULL of each needs.
DIMENSIONS = {
    "owner_id": "bigint",
    "currency": "varchar",
    "reason_id": "bigint",
    "stage_id": "bigint",
    "competitor_id": "bigint",
    "industry": "varchar",
    "band": "varchar",
    "first_lost_reason_id": "bigint",
    "sequence_id": "bigint",
    "reopened": "boolean",
}


@dataclass(frozen=True)
class Rule:
    """The deals a grouping counts and the dimensions it keys them by."""

    keys: tuple[str, ...]
    # Statuses counted; None: every closed deal (or, for `ever_lost`, every deal ever lost).
    statuses: tuple[str, ...] | None = None
    ever_lost: bool = False  # the deals ever lost (recovery), whatever their status now
    with_competitor: bool = False  # only deals whose standing closure names a competitor

    def members_sql(self) -> str:
        """The same condition over a fact row (f) of insights_dealfact."""
        if self.ever_lost:
            return "f.ever_lost"
        if self.statuses is None:
            return "f.status <> 'open'"
        if len(self.statuses) == 1:
            condition = f"f.status = '{self.statuses[0]}'"
        else:
            condition = "f.status IN (" + ", ".join(f"'{status}'" for status in self.statuses) + ")"
        return condition + (" AND f.competitor_id IS NOT NULL" if self.with_competitor else "")


WON_LOST = (DealStatus.WON.value, DealStatus.LOST.value)
LOST = (DealStatus.LOST.value,)

# Every grouping is keyed by team and pipeline; only BASE and REP_REASON also by rep (the by-rep
# figures need them), and REP_REASON has no currency (counts only).
GROUPINGS: dict[int, Rule] = {
    Grouping.BASE: Rule(keys=("owner_id", "currency")),
    Grouping.REASON: Rule(keys=("currency", "reason_id"), statuses=LOST),
    Grouping.STAGE: Rule(keys=("currency", "stage_id"), statuses=LOST),
    Grouping.COMPETITOR: Rule(keys=("currency", "competitor_id"), statuses=WON_LOST, with_competitor=True),
    Grouping.INDUSTRY: Rule(keys=("currency", "industry")),
    Grouping.RECOVERY_REASON: Rule(keys=("currency", "first_lost_reason_id", "reopened"), ever_lost=True),
    Grouping.REP_REASON: Rule(keys=("owner_id", "reason_id"), statuses=LOST),
    Grouping.SIZE: Rule(keys=("currency", "band")),
    Grouping.RECOVERY_SEQUENCE: Rule(keys=("currency", "sequence_id", "reopened"), ever_lost=True),
}
MEMBERS = {grouping: rule.members_sql() for grouping, rule in GROUPINGS.items()}
BY_OWNER = {grouping for grouping, rule in GROUPINGS.items() if "owner_id" in rule.keys}


def values_sql() -> str:
    """The rollup's VALUES list: one row per grouping, its keys from the fact (f), the others NULL,
    and whether the fact belongs to it (the first row names the NULLs' types)."""
    rows = []
    for number, (grouping, rule) in enumerate(sorted(GROUPINGS.items())):
        cells = [str(int(grouping))]
        for dimension, sql_type in DIMENSIONS.items():
            if dimension in rule.keys:
                cells.append(f"f.{dimension}")
            else:
                cells.append(f"NULL::{sql_type}" if number == 0 else "NULL")
        cells.append(rule.members_sql())
        rows.append("(" + ", ".join(cells) + ")")
    return ",\n".join(rows)


def band_case_sql(employees: str = "a.employees") -> str:
    """The size band of an account, as SIZE_BANDS gives it (bands follow each other, no gaps)."""
    bounded = sorted(
        (
            (low or 0, below, key)
            for key, (_label, low, below) in SIZE_BANDS.items()
            if (low, below) != (None, None)
        ),
    )
    parts = [f"CASE WHEN {employees} IS NULL THEN 'unknown'"]
    previous = 0
    for low, below, key in bounded:
        if low != previous:
            raise ValueError(f"size band {key} does not start where the one before it ends")
        parts.append(f"ELSE '{key}' END" if below is None else f"WHEN {employees} < {below} THEN '{key}'")
        previous = below
    return " ".join(parts)
