"""The statistics of the findings added for lost value, rep against the rest of the team and
rep-vs-buyer disagreement, on the pure module: planted effects of power ≥ 0.9 are found among
null cells, null sets give a finding no more often than the FDR level, and p and q are SciPy's and
statsmodels' own, computed here from the deals' amounts and counts."""

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from insights.findings_stats import Cell, ValueCell, evaluate, sentence, significant

ALPHA = 0.05
MIN_COUNT = 10
DAYS = 61  # two months, as the dashboard's default comparison of a custom period


def amounts(rng, deals_per_day: float, days: int, mean: float) -> np.ndarray:
    """Lost deals of one period: a Poisson number of them, each a lognormal amount (deal sizes are
    heavily skewed) of the given mean."""
    sigma = 1.0
    count = int(rng.poisson(deals_per_day * days))
    return rng.lognormal(math.log(mean) - sigma**2 / 2, sigma, count)


def value_cell(key, now: np.ndarray, before: np.ndarray, days=DAYS, compare_days=DAYS) -> ValueCell:
    return ValueCell(
        dimension="team",
        key=key,
        label=str(key),
        hits=len(now),
        amount=float(now.sum()),
        squares=float((now**2).sum()),
        days=days,
        compare_hits=len(before),
        compare_amount=float(before.sum()),
        compare_squares=float((before**2).sum()),
        compare_days=compare_days,
        context="USD",
    )


def null_value_cells(rng, cells=20) -> list[ValueCell]:
    """Lost value that does not change: the same rate of lost deals and the same amounts."""
    out = []
    for index in range(cells):
        rate, mean = rng.uniform(0.1, 2.0), rng.uniform(2_000, 60_000)
        compare_days = DAYS if index % 3 else 30  # some comparisons of another length
        out.append(
            value_cell(
                index,
                amounts(rng, rate, DAYS, mean),
                amounts(rng, rate, compare_days, mean),
                DAYS,
                compare_days,
            )
        )
    return out


def null_rate_cells(rng, cells=20, measure="win_rate_vs_team") -> list[Cell]:
    """Reps no different from the rest of their team; buyers disagreeing as often as before."""
    out = []
    for index in range(cells):
        rate = rng.uniform(0.1, 0.6)
        total, rest = int(rng.integers(8, 120)), int(rng.integers(20, 400))
        out.append(
            Cell(
                "rep",
                f"{measure}-{index}",
                "Rep",
                measure,
                int(rng.binomial(total, rate)),
                total,
                int(rng.binomial(rest, rate)),
                rest,
            )
        )
    return out


# Planted: (key, kind, before, now, size). Value: (deals a day, mean amount) before and now over
# DAYS each; proportions: (rate of the rest or before, rate of the rep or now, (n, n of the rest)).
PLANTED_VALUE = [
    ("value-more-deals", (1.5, 20_000), (4.0, 20_000)),
    ("value-bigger-deals", (2.0, 10_000), (2.0, 45_000)),
]
PLANTED_RATES = [
    ("rep-below-team", "win_rate_vs_team", 0.45, 0.15, (80, 320)),
    ("buyers-disagree-more", "buyer_disagreement", 0.15, 0.45, (110, 110)),
    ("rep-disagreed-with", "buyer_disagreement_vs_team", 0.20, 0.55, (60, 240)),
]
TESTS = 20 + 20 + 20 + len(PLANTED_VALUE) + len(PLANTED_RATES)


def planted_cells(rng) -> list:
    cells: list = (
        null_value_cells(rng) + null_rate_cells(rng) + null_rate_cells(rng, measure="buyer_disagreement")
    )
    for key, before, now in PLANTED_VALUE:
        cells.append(
            value_cell(key, amounts(rng, now[0], DAYS, now[1]), amounts(rng, before[0], DAYS, before[1]))
        )
    for key, measure, before, now, (n, rest) in PLANTED_RATES:
        cells.append(
            Cell(
                "rep", key, key, measure, int(rng.binomial(n, now)), n, int(rng.binomial(rest, before)), rest
            )
        )
    return cells


def value_power(before, now, rng, runs=2000) -> float:
    """The planted lost-value cell's power alone at the Bonferroni level (BH is never stricter),
    by simulation: the test has no closed-form power."""
    hits = 0
    for _ in range(runs):
        cell = value_cell("x", amounts(rng, now[0], DAYS, now[1]), amounts(rng, before[0], DAYS, before[1]))
        hits += cell.test()[1] <= ALPHA / TESTS
    return hits / runs


def rate_power(before, now, n, rest) -> float:
    effect = abs(proportion_effectsize(now, before))
    return NormalIndPower().power(effect_size=effect, nobs1=n, alpha=ALPHA / TESTS, ratio=rest / n)


def test_every_planted_effect_with_power_at_least_0_9_is_found():
    rng = np.random.default_rng(25)
    sets = 100
    planted = {key for key, *_ in PLANTED_VALUE} | {key for key, *_ in PLANTED_RATES}
    found: dict = {}
    false_shares = []  # per set: the share of its findings that are not planted
    for _ in range(sets):
        keys = [
            r.cell.key for r in significant(evaluate(planted_cells(rng), alpha=ALPHA, min_count=MIN_COUNT))
        ]
        for key in keys:
            found[key] = found.get(key, 0) + 1
        false_shares.append(sum(key not in planted for key in keys) / max(len(keys), 1))
    margin = 3 * math.sqrt(0.1 * 0.9 / sets)
    for key, before, now in PLANTED_VALUE:
        expected = value_power(before, now, np.random.default_rng(1))
        assert expected >= 0.9, key
        assert found.get(key, 0) / sets >= expected - margin, (key, found.get(key))
    for key, _measure, before, now, (n, rest) in PLANTED_RATES:
        expected = rate_power(before, now, n, rest)
        assert expected >= 0.9, key
        assert found.get(key, 0) / sets >= expected - margin, (key, found.get(key))
    # The false discovery rate (the mean share of findings that are not planted) stays at the level.
    fdr = float(np.mean(false_shares))
    assert fdr <= ALPHA + 2 * float(np.std(false_shares)) / math.sqrt(sets), fdr


def test_null_sets_give_a_finding_no_more_often_than_the_fdr_level():
    rng = np.random.default_rng(8)
    sets = 400
    with_finding = 0
    for _ in range(sets):
        cells = (
            null_value_cells(rng) + null_rate_cells(rng) + null_rate_cells(rng, measure="buyer_disagreement")
        )
        with_finding += bool(significant(evaluate(cells, alpha=ALPHA, min_count=MIN_COUNT)))
    assert with_finding / sets <= ALPHA + 2 * math.sqrt(ALPHA * (1 - ALPHA) / sets), with_finding


def test_lost_value_alone_holds_its_level_with_skewed_amounts_and_small_counts():
    """The normal reference of the random-assignment test, checked where it is weakest: few lost
    deals (about the minimum count) with lognormal amounts."""
    rng = np.random.default_rng(9)
    runs, below = 4000, 0
    for _ in range(runs):
        now, before = amounts(rng, 0.25, DAYS, 20_000), amounts(rng, 0.25, DAYS, 20_000)
        if min(len(now), len(before)) < MIN_COUNT:
            continue
        below += value_cell("x", now, before).test()[1] <= ALPHA
    assert below / runs <= ALPHA + 2 * math.sqrt(ALPHA * (1 - ALPHA) / runs), below


def test_p_and_q_values_are_scipy_and_statsmodels_own():
    rng = np.random.default_rng(12)
    now, before = amounts(rng, 1.0, DAYS, 20_000), amounts(rng, 0.7, 30, 20_000)
    lost_value = value_cell("value", now, before, DAYS, 30)
    vs_team = Cell("rep", "vs-team", "Erin", "win_rate_vs_team", 1, 12, 50, 120)  # small: Fisher
    disagree = Cell("all", "all", "all", "buyer_disagreement", 40, 90, 20, 95)
    results = {
        r.cell.key: r for r in evaluate([lost_value, vs_team, disagree], alpha=ALPHA, min_count=MIN_COUNT)
    }
    # Lost value: the random-assignment z of value per day, from the deals' amounts themselves.
    pooled = np.concatenate([now, before])
    z = (now.sum() / DAYS - before.sum() / 30) / math.sqrt((pooled**2).sum() / (DAYS * 30))
    expected = {
        "value": 2 * stats.norm.sf(abs(z)),
        "vs-team": stats.fisher_exact([[1, 11], [50, 70]]).pvalue,
        "all": stats.chi2_contingency([[40, 50], [20, 75]], correction=False).pvalue,
    }
    assert results["value"].test == "value_z" and results["vs-team"].test == "fisher"
    assert results["all"].test == "chi2"
    keys = list(expected)
    q = multipletests([expected[key] for key in keys], alpha=ALPHA, method="fdr_bh")[1]
    for key, q_value in zip(keys, q, strict=True):
        assert results[key].p_value == pytest.approx(expected[key], rel=1e-9), key
        assert results[key].q_value == pytest.approx(q_value, rel=1e-9), key


def test_the_lost_value_test_agrees_with_scipys_exact_random_assignment():
    """With periods of equal length, a lost deal fell in either with probability ½: swapping the
    two sides of each deal is SciPy's paired permutation test of the sums. Its p value (Monte
    Carlo) and the normal reference agree."""
    for seed in (4, 9):  # cases with p near the levels that matter (about 0.1 and 0.02)
        rng = np.random.default_rng(seed)
        now, before = amounts(rng, 0.6, DAYS, 15_000), amounts(rng, 0.35, DAYS, 15_000)
        pooled = np.concatenate([now, before])
        here = np.concatenate([np.ones(len(now)), np.zeros(len(before))])
        a, b = pooled * here, pooled * (1 - here)  # each deal: (its amount now, its amount before)
        exact = stats.permutation_test(
            (a, b),
            lambda x, y, axis: x.sum(axis=axis) - y.sum(axis=axis),
            permutation_type="samples",
            n_resamples=20_000,
            random_state=4,
        ).pvalue
        _test, p = value_cell("x", now, before).test()
        assert p == pytest.approx(exact, abs=0.01), seed


def test_the_sentences_say_the_numbers():
    value = value_cell("East", np.array([30_000.0] * 12), np.array([10_000.0] * 10))
    (result,) = evaluate([value], alpha=ALPHA, min_count=MIN_COUNT)
    assert (
        sentence(result) == "Lost value in team East rose from 100,000 USD to 360,000 USD: 10 → 12 lost deals"
    )
    (rep,) = evaluate([Cell("rep", 1, "Alice", "buyer_disagreement_vs_team", 12, 20, 6, 40, context="East")])
    assert sentence(rep) == (
        "Buyers disagree with Alice’s reason more often than with the rest of East: 60% against 15%,"
        " 12 of 20 surveyed closures against 6 of 40"
    )
    (whole,) = evaluate([Cell("all", "all", "all", "buyer_disagreement", 27, 45, 9, 45)])
    assert sentence(whole, scope="Enterprise") == (
        "Buyers naming another category than the rep’s reason in Enterprise rose from 20% to 60% of"
        " surveyed closures: 9 of 45 → 27 of 45"
    )
