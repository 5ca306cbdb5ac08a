"""Budget allocation (analytics/allocation.py, pure) against the analytic optimum on concave curves (SPEC §17).

For revenue_i = H · a_i · (1 − exp(−x_i / (H · b_i))) the optimum has one marginal ROAS λ for every campaign
not at a bound: x_i = clip(H · b_i · ln(a_i / (b_i · λ)), lo_i, hi_i), λ found by bisection on Σx_i = total.
"""

from __future__ import annotations

import numpy as np
import pytest

from analytics import allocation
from analytics.forecasting import LinearCurve, SaturatingCurve

H = 30


def analytic(a, b, lo, hi, total):
    def split(lam):
        return np.clip(H * b * np.log(np.maximum(a / (b * lam), 1e-300)), lo, hi)

    low, high = 1e-12, float((a / b).max()) * 10
    for _ in range(300):
        middle = (low + high) / 2
        low, high = (middle, high) if split(middle).sum() > total else (low, middle)
    x = split(middle)
    return x, float((H * a * -np.expm1(-x / (H * b))).sum())


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("n", [3, 20, 100])
def test_the_split_is_within_1_percent_of_the_analytic_optimum(seed, n):
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(200, 3000, n), rng.uniform(20, 300, n)
    lo = np.where(rng.random(n) < 0.2, rng.uniform(0, 2000, n), 0.0)
    hi = np.where(rng.random(n) < 0.2, lo + rng.uniform(100, 3000, n), 1e7)
    total = float(n * 1500)
    candidates = [allocation.Candidate(i, SaturatingCurve(a[i], b[i]), lo[i], hi[i]) for i in range(n)]
    result = allocation.allocate(candidates=candidates, total=total, horizon_days=H)
    _best_x, best = analytic(a, b, lo, hi, total)
    spend = np.array([s.spend for s in result.shares])
    assert spend.sum() == pytest.approx(total, rel=1e-9)
    assert np.all(spend >= lo - 1e-6) and np.all(spend <= hi + 1e-6)
    assert result.revenue == pytest.approx(best, rel=0.01)
    assert result.revenue <= best * (1 + 1e-9)  # nothing beats the optimum
    free = [s for s in result.shares if s.at_bound is None]
    if len(free) > 1:  # the optimum's signature: equal marginal ROAS off the bounds
        marginals = [s.marginal_roas for s in free]
        assert max(marginals) == pytest.approx(min(marginals), rel=0.02)


def test_a_campaign_past_its_saturation_gets_less_than_an_even_share():
    curves = [SaturatingCurve(3000, 200), SaturatingCurve(300, 20)]  # the second saturates early
    candidates = [allocation.Candidate(i, c, 0, 1e6) for i, c in enumerate(curves)]
    result = allocation.allocate(candidates=candidates, total=6000, horizon_days=H)
    assert result.shares[0].spend > result.shares[1].spend
    assert result.shares[1].saturation_spend == pytest.approx(H * 20 * np.log(300 / 20))


def test_linear_curves_fill_the_best_return_up_to_its_bound():
    candidates = [
        allocation.Candidate(1, LinearCurve(2.0), 0, 400),
        allocation.Candidate(2, LinearCurve(3.0), 100, 500),
        allocation.Candidate(3, SaturatingCurve(100, 50), 0, 1000),
    ]
    result = allocation.allocate(candidates=candidates, total=1000, horizon_days=10)
    spend = {s.key: s.spend for s in result.shares}
    assert spend[2] == pytest.approx(500, abs=0.01) and spend[1] == pytest.approx(400, abs=0.01)
    assert sum(spend.values()) == pytest.approx(1000)


def test_a_total_outside_the_bounds_is_refused():
    candidates = [allocation.Candidate(1, LinearCurve(2.0), 10, 20)]
    with pytest.raises(ValueError):
        allocation.allocate(candidates=candidates, total=5, horizon_days=10)


def test_the_rationale_names_current_proposed_marginal_roas_saturation_and_confidence():
    share = allocation.Share(key=1, spend=1450, revenue=3000, marginal_roas=1.8234, saturation_spend=2300,
                             at_bound=None)  # fmt: skip
    text = allocation.rationale(name="Summer", current="1000.00", proposed="1450.00", currency="EUR", share=share,
                                confidence="high", saturation="2300.00", method_note="42 days of history")  # fmt: skip
    assert text == (
        "Summer: 1000.00 EUR → 1450.00 EUR; each extra 1 EUR brings back 1.82 EUR at that spend (marginal ROAS); "
        "returns stop paying for themselves above 2300.00 EUR (saturation); confidence high (42 days of history)."
    )
