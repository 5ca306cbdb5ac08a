"""experiments/statistics.py against independent implementations (statsmodels, scipy), and by simulation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint, proportions_ztest

from experiments.statistics import (
    ArmCounts,
    analyse,
    chi_square_p,
    cohens_h,
    holm,
    srm_p,
    two_proportion_z_test,
    wilson_interval,
)

TABLES = np.random.default_rng(20).integers(50, 20_000, size=(20, 2))


@pytest.mark.parametrize("n_a, n_b", [tuple(t) for t in TABLES])
def test_p_values_equal_statsmodels_on_random_tables(n_a, n_b):
    rng = np.random.default_rng(int(n_a * 7 + n_b))
    c_a, c_b = int(rng.binomial(n_a, 0.1)), int(rng.binomial(n_b, rng.uniform(0.08, 0.13)))
    _, expected = proportions_ztest([c_a, c_b], [n_a, n_b])
    assert two_proportion_z_test(c_a, n_a, c_b, n_b) == pytest.approx(expected, abs=1e-9)
    # Pearson chi-square on the 2×2 table is the same test (z² = χ²).
    assert chi_square_p([(c_a, n_a - c_a), (c_b, n_b - c_b)]) == pytest.approx(expected, abs=1e-9)
    low, high = proportion_confint(c_a, n_a, alpha=0.05, method="wilson")
    assert wilson_interval(c_a, n_a) == pytest.approx((low, high), abs=1e-9)


def test_holm_equals_statsmodels():
    rng = np.random.default_rng(3)
    for _ in range(20):
        p = rng.uniform(0, 0.2, size=int(rng.integers(2, 8))).tolist()
        assert holm(p) == pytest.approx(list(multipletests(p, method="holm")[1]), abs=1e-12)


def test_chi_square_of_several_arms_equals_scipy():
    table = [(120, 880), (150, 850), (98, 902)]
    assert chi_square_p(table) == pytest.approx(
        stats.chi2_contingency(np.array(table), correction=False).pvalue, abs=1e-12
    )


def test_three_arms_are_holm_corrected():
    arms = [ArmCounts("A", 1, 5000, 500), ArmCounts("B", 1, 5000, 560), ArmCounts("C", 1, 5000, 540)]
    result = analyse(arms, seed=1, draws=20_000)
    raw = [two_proportion_z_test(a.conversions, a.exposures, 500, 5000) for a in arms[1:]]
    assert [a.p_value for a in result.arms[1:]] == pytest.approx(
        multipletests(raw, method="holm")[1].tolist()
    )
    assert [a.p_value_uncorrected for a in result.arms[1:]] == pytest.approx(raw)


def test_lift_and_cohens_h_and_null_cases():
    result = analyse([ArmCounts("A", 1, 0, 0), ArmCounts("B", 1, 100, 10)], min_sample_per_variant=1, seed=1)
    control, b = result.arms
    assert control.rate is None and control.ci95 is None and control.lift is None and control.p_value is None
    assert b.lift is None and b.cohens_h is None  # no control rate to compare with
    result = analyse([ArmCounts("A", 1, 1000, 100), ArmCounts("B", 1, 1000, 150)], seed=1)
    assert result.arms[1].lift == pytest.approx(0.5)
    assert result.arms[1].cohens_h == pytest.approx(
        2 * np.arcsin(np.sqrt(0.15)) - 2 * np.arcsin(np.sqrt(0.1))
    )
    assert cohens_h(0.1, 0.1) == 0


def test_p_best_is_seeded_and_sums_to_one():
    arms = [ArmCounts("A", 1, 1000, 100), ArmCounts("B", 1, 1000, 110)]
    first, second = analyse(arms, seed=42), analyse(arms, seed=42)
    assert [a.p_best for a in first.arms] == [a.p_best for a in second.arms]
    assert sum(a.p_best for a in first.arms) == pytest.approx(1)
    # Against the exact P(B > A) by numerical integration of the two Beta posteriors.
    grid = np.linspace(0, 1, 200_001)
    exact = np.trapezoid(stats.beta.pdf(grid, 111, 891) * stats.beta.cdf(grid, 101, 901), grid)
    assert first.arms[1].p_best == pytest.approx(exact, abs=0.005)


def test_srm_fires_on_55_45_and_not_on_503_497():
    assert srm_p([5500, 4500], [1, 1]) < 0.001
    assert srm_p([5030, 4970], [1, 1]) > 0.001
    mismatch = analyse([ArmCounts("A", 1, 5500, 1100), ArmCounts("B", 1, 4500, 1300)], seed=1)
    assert mismatch.srm and mismatch.winner is None  # B is far better, but the split is broken
    assert not mismatch.recommendation.startswith("winner")
    fine = analyse([ArmCounts("A", 1, 5030, 1000), ArmCounts("B", 1, 4970, 1200)], seed=1)
    assert not fine.srm and fine.recommendation == "winner: B"


def test_srm_uses_the_weights():
    assert srm_p([7000, 3000], [7, 3]) > 0.5
    assert srm_p([5000, 5000], [7, 3]) < 0.001


def test_recommendations_in_words():
    assert analyse([ArmCounts("A", 1, 400, 40), ArmCounts("B", 1, 380, 50)], seed=1).recommendation == (
        "keep running: needs ~620 more per variant"
    )
    assert analyse([ArmCounts("A", 1, 5000, 500), ArmCounts("B", 1, 5000, 505)], seed=1).recommendation == (
        "no difference"
    )
    assert analyse([ArmCounts("A", 1, 5000, 500), ArmCounts("B", 1, 5000, 620)], seed=1).recommendation == (
        "winner: B"
    )
    # The control wins when every other arm is significantly worse.
    assert analyse([ArmCounts("A", 1, 5000, 620), ArmCounts("B", 1, 5000, 500)], seed=1).winner == "A"


def test_a_a_simulation_declares_a_winner_in_4_to_6_percent():
    """2,000 A/A experiments (the same true rate in both arms) at α = 0.05: false winners ≈ 5 %."""
    rng = np.random.default_rng(2026)
    n = 2000
    winners = 0
    for index in range(2000):
        a, b = rng.binomial(n, 0.1, size=2)
        result = analyse(
            [ArmCounts("A", 1, n, int(a)), ArmCounts("B", 1, n, int(b))],
            confidence=0.95,
            min_sample_per_variant=1000,
            seed=index,
            draws=4000,
        )
        winners += result.winner is not None
    assert 0.04 <= winners / 2000 <= 0.06, winners
