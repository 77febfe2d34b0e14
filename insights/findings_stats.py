"""Which changes are real: the statistics of the findings, pure computation (no Django).

Most candidates are a `Cell`: a proportion in the period (`hits` of `total`) against the same
proportion in the comparison (`compare_hits` of `compare_total`) — a share of losses, a win rate,
a no-decision rate, a rep's win rate against the rest of the team within the period, or the share
of surveyed closures where the buyer's category differs from the rep's. Lost value is a
`ValueCell` (a sum of amounts, see its test below); both go through the same BH control.

- Cells with fewer than `min_count` deals on either side are skipped (not tested).
- Each tested cell gets the test that fits its 2×2 table: Fisher's exact test when an expected count
  is below 5, Pearson's chi-square (no continuity correction, the two-sided two-proportion z-test)
  otherwise (SciPy).
- The false discovery rate is controlled across every test of one request with Benjamini–Hochberg
  (statsmodels' `multipletests`, method "fdr_bh") at `alpha`.
- The significant ones are ranked by effect size: Cohen's h (statsmodels' `proportion_effectsize`)
  for proportions, |ln| of the ratio of lost value per day for lost value (both about 0.7 for a
  doubling of a small share or of the value).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_effectsize

EXACT_BELOW = 5  # an expected count below this: Fisher's exact test


@dataclass(frozen=True)
class Cell:
    """One proportion, now and in the comparison, and the words that describe it."""

    dimension: str  # reason, category, competitor, team, rep, pipeline, industry, size, stage
    key: str | int
    label: str
    measure: str  # loss_share, win_rate, no_decision_rate, competitive_win_rate, win_rate_vs_team
    hits: int
    total: int
    compare_hits: int
    compare_total: int
    links: dict = field(default_factory=dict, compare=False)
    context: str = ""  # e.g. "the team's" or the rest of a team's name

    @property
    def value(self) -> float:
        return self.hits / self.total

    @property
    def compare_value(self) -> float:
        return self.compare_hits / self.compare_total

    @property
    def table(self) -> list[list[int]]:
        return [
            [self.hits, self.total - self.hits],
            [self.compare_hits, self.compare_total - self.compare_hits],
        ]

    def test(self) -> tuple[str, float]:
        return cell_test(self)

    def effect(self) -> float:
        """Cohen's h of the two proportions (its size ranks the findings)."""
        return float(proportion_effectsize(self.value, self.compare_value))


@dataclass(frozen=True)
class ValueCell:
    """Lost value: the lost deals' amounts (organisation currency) summed in the period
    (`hits` deals, `amount`, their squares summed in `squares`, over `days` days) against the same
    in the comparison.

    The test (`value_test`) asks whether the value lost per day differs between the periods, the
    lost deals (how many, and how large) included. Under "no change" the lost deals of both
    periods are one stream (a compound Poisson process) cut in two: given the pooled deals, each
    fell in the period with probability days / (days + compare_days), whatever its amount. The
    difference of value per day, T = amount/days − compare_amount/compare_days, then has mean 0
    and variance Σx² / (days · compare_days) over the pooled amounts x (the random-assignment
    test's own variance), and T / √variance is referred to the normal distribution (SciPy). A
    test of per-deal amounts alone (Mann–Whitney, Welch) would miss the count, half of a sum; the
    statistic needs only Σx and Σx² per cell, which the facts sum in one grouped read.
    """

    dimension: str
    key: str | int
    label: str
    hits: int
    amount: float
    squares: float
    days: int
    compare_hits: int
    compare_amount: float
    compare_squares: float
    compare_days: int
    links: dict = field(default_factory=dict, compare=False)
    context: str = ""  # the organisation currency
    measure: str = "lost_value"

    @property
    def total(self) -> int:
        return self.hits

    @property
    def compare_total(self) -> int:
        return self.compare_hits

    @property
    def value(self) -> float:
        return self.amount

    @property
    def compare_value(self) -> float:
        return self.compare_amount

    @property
    def per_day(self) -> tuple[float, float]:
        return self.amount / self.days, self.compare_amount / self.compare_days

    def test(self) -> tuple[str, float]:
        return value_test(self)

    def effect(self) -> float:
        """ln of the ratio of value lost per day (0 when a side lost nothing: nothing to rank)."""
        now, before = self.per_day
        if now <= 0 or before <= 0:
            return math.inf if now != before else 0.0
        return math.log(now / before)


def value_test(cell: ValueCell) -> tuple[str, float]:
    """The random-assignment z test of value lost per day (see `ValueCell`), two-sided."""
    variance = (cell.squares + cell.compare_squares) / (cell.days * cell.compare_days)
    if variance <= 0:
        return "value_z", 1.0
    now, before = cell.per_day
    z = (now - before) / math.sqrt(variance)
    return "value_z", float(2 * stats.norm.sf(abs(z)))


@dataclass(frozen=True)
class Result:
    cell: Cell | ValueCell
    test: str  # "fisher" or "chi2"
    p_value: float
    q_value: float | None = None
    significant: bool = False

    @property
    def change(self) -> float:
        return self.cell.value - self.cell.compare_value

    @property
    def effect(self) -> float:
        """The cell's effect size (its size ranks the findings)."""
        return self.cell.effect()

    @property
    def direction(self) -> str:
        if isinstance(self.cell, ValueCell):  # per day: the periods may differ in length
            now, before = self.cell.per_day
            return "up" if now > before else "down"
        return "up" if self.change > 0 else "down"


def expected_counts(table: list[list[int]]) -> list[list[float]]:
    rows = [sum(row) for row in table]
    columns = [table[0][j] + table[1][j] for j in range(2)]
    whole = sum(rows)
    return [[rows[i] * columns[j] / whole for j in range(2)] for i in range(2)]


def cell_test(cell: Cell) -> tuple[str, float]:
    """The test that fits the cell's 2×2 table, and its two-sided p value."""
    table = cell.table
    if min(table[0][0] + table[1][0], table[0][1] + table[1][1]) == 0:
        return "chi2", 1.0  # both periods all hits (or none): nothing changed
    if min(min(row) for row in expected_counts(table)) < EXACT_BELOW:
        return "fisher", float(stats.fisher_exact(table, alternative="two-sided").pvalue)
    return "chi2", float(stats.chi2_contingency(table, correction=False).pvalue)


def testable(cell: Cell | ValueCell, min_count: int) -> bool:
    return cell.total >= min_count and cell.compare_total >= min_count


def evaluate(cells: list[Cell | ValueCell], *, alpha: float = 0.05, min_count: int = 10) -> list[Result]:
    """Every testable cell's test, p and BH q value; significant ones first, largest effect first."""
    tested = [Result(cell, *cell.test()) for cell in cells if testable(cell, min_count)]
    if not tested:
        return []
    reject, q_values, _s, _b = multipletests([r.p_value for r in tested], alpha=alpha, method="fdr_bh")
    results = [
        replace(result, q_value=float(q), significant=bool(significant))
        for result, q, significant in zip(tested, q_values, reject, strict=True)
    ]
    results.sort(key=lambda r: (not r.significant, -abs(r.effect), r.p_value))
    return results


def significant(results: list[Result]) -> list[Result]:
    return [result for result in results if result.significant]


# --- the sentence ------------------------------------------------------------------------------

MEASURE_WORDS = {
    "win_rate": "Win rate",
    "no_decision_rate": "No-decision rate",
    "competitive_win_rate": "Win rate against",
}
DIMENSION_WORDS = {
    "team": "team",
    "rep": "",
    "pipeline": "the pipeline",
    "industry": "",
    "size": "accounts of",
    "stage": "",
}


def _pct(value: float) -> str:
    return f"{value * 100:.0f}%"


def _money(value: float, currency: str) -> str:
    return f"{value:,.0f} {currency}".strip()


def _where(cell) -> str:
    return " ".join(part for part in (DIMENSION_WORDS.get(cell.dimension, ""), cell.label) if part)


def sentence(result: Result, *, scope: str = "") -> str:
    """A plain sentence with the numbers: "Losses to Globex rose from 12% to 31% of Enterprise
    losses: 18 → 41 deals"."""
    cell = result.cell
    moved = "rose" if result.direction == "up" else "fell"
    if cell.measure == "lost_value":
        subject = {
            "stage": f"Value lost at {cell.label}",
            "rep": f"{cell.label}’s lost value",
        }.get(cell.dimension, f"Lost value in {_where(cell)}")
        return (
            f"{subject} {moved} from {_money(cell.compare_value, cell.context)} to "
            f"{_money(cell.value, cell.context)}: {cell.compare_hits} → {cell.hits} lost deals"
        )
    if cell.measure == "buyer_disagreement_vs_team":
        more = "more" if result.direction == "up" else "less"
        return (
            f"Buyers disagree with {cell.label}’s reason {more} often than with the rest of "
            f"{cell.context}: {_pct(cell.value)} against {_pct(cell.compare_value)}, "
            f"{cell.hits} of {cell.total} surveyed closures against {cell.compare_hits} of "
            f"{cell.compare_total}"
        )
    if cell.measure == "buyer_disagreement":
        whose = f"{cell.label}’s" if cell.dimension == "rep" else "the rep’s"
        scope_words = f" in {scope}" if scope and cell.dimension != "rep" else ""
        return (
            f"Buyers naming another category than {whose} reason{scope_words} {moved} from "
            f"{_pct(cell.compare_value)} to {_pct(cell.value)} of surveyed closures: "
            f"{cell.compare_hits} of {cell.compare_total} → {cell.hits} of {cell.total}"
        )
    before, after = _pct(cell.compare_value), _pct(cell.value)
    scope_words = f"{scope} " if scope else ""
    if cell.measure == "loss_share":
        subject = {
            "reason": f"Losses for “{cell.label}”",
            "category": f"Losses in {cell.label}",
            "competitor": f"Losses to {cell.label}",
            "stage": f"Losses at {cell.label}",
        }.get(cell.dimension, f"Losses in {cell.label}")
        return (
            f"{subject} {moved} from {before} to {after} of {scope_words}losses: "
            f"{cell.compare_hits} → {cell.hits} deals"
        )
    if cell.measure == "win_rate_vs_team":
        lower = "lower" if result.direction == "down" else "higher"
        return (
            f"{cell.label}’s win rate is {after}, {lower} than the {before} of the rest of "
            f"{cell.context}: {cell.hits} won of {cell.total} against {cell.compare_hits} of "
            f"{cell.compare_total}"
        )
    noun = "won" if cell.measure in ("win_rate", "competitive_win_rate") else "no decision"
    if cell.measure == "competitive_win_rate":
        subject = f"Win rate against {cell.label}"
    else:
        where = " ".join(part for part in (DIMENSION_WORDS.get(cell.dimension, ""), cell.label) if part)
        subject = f"{MEASURE_WORDS[cell.measure]} in {where}"
    return (
        f"{subject} {moved} from {before} to {after}: {cell.compare_hits} {noun} of "
        f"{cell.compare_total} → {cell.hits} of {cell.total}"
    )
