"""The findings' statistics, tested on the pure module: planted effects are found, null data sets
give a finding no more often than the FDR level, and p and q are SciPy's and statsmodels' own."""

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from insights.findings_stats import Cell, cell_test, evaluate, sentence, significant

ALPHA = 0.05
MIN_COUNT = 10


def null_cells(rng, cells=40) -> list[Cell]:
    """Cells whose proportion is the same in both periods (what a quiet quarter looks like)."""
    out = []
    for index in range(cells):
        rate = rng.uniform(0.05, 0.6)
        total, compare_total = int(rng.integers(8, 300)), int(rng.integers(8, 300))
        out.append(
            Cell(
                dimension="reason",
                key=index,
                label=f"Reason {index}",
                measure="loss_share",
                hits=int(rng.binomial(total, rate)),
                total=total,
                compare_hits=int(rng.binomial(compare_total, rate)),
                compare_total=compare_total,
            )
        )
    return out


PLANTED = [  # (key, rate before, rate now, deals each period): known shifts in known cells
    ("planted-up", 0.12, 0.31, 300),
    ("planted-down", 0.50, 0.28, 250),
    ("planted-small-cell", 0.10, 0.60, 40),
]


def power(before: float, now: float, n: int, tests: int) -> float:
    """Power of the two-proportion test at the Bonferroni level (BH is never stricter)."""
    effect = abs(proportion_effectsize(now, before))
    return NormalIndPower().power(effect_size=effect, nobs1=n, alpha=ALPHA / tests, ratio=1.0)


def planted_cells(rng) -> list[Cell]:
    out = null_cells(rng)
    for key, before, now, n in PLANTED:
        out.append(
            Cell(
                dimension="competitor",
                key=key,
                label=key,
                measure="loss_share",
                hits=int(rng.binomial(n, now)),
                total=n,
                compare_hits=int(rng.binomial(n, before)),
                compare_total=n,
            )
        )
    return out


def test_every_planted_effect_with_power_at_least_0_9_is_found():
    rng = np.random.default_rng(2026)
    sets = 100
    tests = 40 + len(PLANTED)
    found = {key: 0 for key, *_ in PLANTED}
    for _ in range(sets):
        keys = {
            r.cell.key for r in significant(evaluate(planted_cells(rng), alpha=ALPHA, min_count=MIN_COUNT))
        }
        for key in found:
            found[key] += key in keys
    for key, before, now, n in PLANTED:
        expected_power = power(before, now, n, tests)
        assert expected_power >= 0.9, key
        # Found at least as often as its power says (within sampling error of 100 sets).
        assert found[key] / sets >= expected_power - 3 * math.sqrt(0.1 * 0.9 / sets), (key, found[key])


def test_null_sets_give_a_finding_no_more_often_than_the_fdr_level():
    rng = np.random.default_rng(7)
    sets = 400
    with_finding = sum(
        bool(significant(evaluate(null_cells(rng), alpha=ALPHA, min_count=MIN_COUNT))) for _ in range(sets)
    )
    # Under the complete null BH holds the chance of any finding at alpha; allow sampling error.
    assert with_finding / sets <= ALPHA + 2 * math.sqrt(ALPHA * (1 - ALPHA) / sets), with_finding


def test_p_and_q_values_are_scipy_and_statsmodels_own():
    rng = np.random.default_rng(11)
    cells = planted_cells(rng) + [
        Cell("reason", "tiny", "Tiny", "loss_share", 1, 12, 6, 11),  # small: Fisher
    ]
    results = evaluate(cells, alpha=ALPHA, min_count=MIN_COUNT)
    tested = [c for c in cells if c.total >= MIN_COUNT and c.compare_total >= MIN_COUNT]
    assert len(results) == len(tested)
    expected_p = {}
    for cell in tested:
        table = cell.table
        rows, cols = [sum(r) for r in table], [table[0][j] + table[1][j] for j in range(2)]
        small = min(rows[i] * cols[j] / sum(rows) for i in range(2) for j in range(2)) < 5
        if small:
            expected_p[cell.key] = stats.fisher_exact(table).pvalue
        else:
            expected_p[cell.key] = stats.chi2_contingency(table, correction=False).pvalue
        # The chi-square without correction is the two-proportion z-test.
        if not small:
            from statsmodels.stats.proportion import proportions_ztest

            _z, p_z = proportions_ztest([cell.hits, cell.compare_hits], [cell.total, cell.compare_total])
            assert p_z == pytest.approx(expected_p[cell.key], rel=1e-9)
    by_key = {r.cell.key: r for r in results}
    assert by_key["tiny"].test == "fisher"
    keys = [cell.key for cell in tested]
    q_expected = multipletests([expected_p[k] for k in keys], alpha=ALPHA, method="fdr_bh")[1]
    for key, q in zip(keys, q_expected, strict=True):
        assert by_key[key].p_value == pytest.approx(expected_p[key], rel=1e-12)
        assert by_key[key].q_value == pytest.approx(q, rel=1e-12)


def test_cells_below_the_minimum_are_skipped_and_findings_rank_by_effect():
    cells = [
        Cell("competitor", 1, "Globex", "loss_share", 41, 132, 18, 150),
        Cell("competitor", 2, "Initech", "loss_share", 80, 132, 20, 150),
        Cell("competitor", 3, "Hooli", "loss_share", 5, 9, 0, 150),  # 9 deals now: skipped
    ]
    results = evaluate(cells, alpha=ALPHA, min_count=MIN_COUNT)
    assert [r.cell.key for r in results] == [2, 1]
    assert all(r.significant for r in results)
    assert sentence(results[1], scope="Enterprise") == (
        "Losses to Globex rose from 12% to 31% of Enterprise losses: 18 → 41 deals"
    )
    assert cell_test(cells[0])[0] == "chi2"


def test_nothing_to_test_gives_nothing():
    assert evaluate([], alpha=ALPHA, min_count=MIN_COUNT) == []
    same = Cell("team", 1, "East", "win_rate", 10, 10, 20, 20)
    (result,) = evaluate([same], alpha=ALPHA, min_count=MIN_COUNT)
    assert result.p_value == 1.0 and not result.significant
