"""The forecast (analytics/forecasting.py, pure) on synthetic curves with known parameters (SPEC §17).

Truth: revenue(x) = 1000 · (1 − exp(−x / 80)) a day; 90 days of spend between 20 and 250 a day, revenue with
10 % multiplicative noise. Forecast: 3,000 over 30 days (100 a day), whose expected revenue is known exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

from analytics import forecasting

TRUTH = forecasting.SaturatingCurve(1000.0, 80.0)
HORIZON, SPEND = 30, 3000.0
EXPECTED = float(TRUTH.revenue(SPEND / HORIZON)) * HORIZON


def history(seed: int, days: int = 90, noise: float = 0.10) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    spend = rng.uniform(20, 250, days)
    return spend, TRUTH.revenue(spend) * (1 + rng.normal(0, noise, days))


def run(seed: int) -> forecasting.Forecast:
    spend, revenue = history(seed)
    fit = forecasting.fit_history(spend, revenue, brand_spend=spend, brand_revenue=revenue, seed=seed)
    return forecasting.forecast(fit, spend=SPEND, horizon_days=HORIZON, currency="EUR", seed=seed)


def test_the_baseline_is_within_5_percent_and_the_band_holds_the_truth_in_80_percent_of_200_runs():
    errors, inside = [], 0
    for seed in range(200):
        result = run(seed)
        assert result.method == forecasting.METHOD_CURVE and not result.fallback
        low, mid, high = (result.scenarios[n].revenue for n in forecasting.SCENARIOS)
        assert low <= mid <= high
        errors.append(abs(mid - EXPECTED) / EXPECTED)
        inside += low <= EXPECTED <= high
    assert max(errors) < 0.05, max(errors)
    assert inside >= 160, inside


def test_the_point_fit_recovers_the_parameters():
    spend, revenue = history(7, days=365, noise=0.05)
    curve = forecasting.fit_curve(spend, revenue)
    assert curve.a == pytest.approx(1000, rel=0.05) and curve.b == pytest.approx(80, rel=0.1)
    # Saturation: where the marginal return falls to 1, b · ln(a / b).
    assert curve.saturation() == pytest.approx(80 * np.log(1000 / 80), rel=0.1)
    assert float(curve.marginal(curve.saturation())) == pytest.approx(1.0)


def test_the_same_history_and_seed_give_the_same_forecast():
    assert run(3) == run(3)
    assert run(3).scenarios["baseline"].revenue != run(4).scenarios["baseline"].revenue


def test_roi_and_drivers_come_as_words_and_numbers():
    result = run(1)
    for name in forecasting.SCENARIOS:
        scenario = result.scenarios[name]
        assert scenario.roi == pytest.approx((scenario.revenue - SPEND) / SPEND)
        names = [d.name for d in scenario.drivers]
        assert names == ["daily_spend", "marginal_roas", "saturation_daily_spend", "max_daily_revenue"]
        assert all(d.text and d.value is not None for d in scenario.drivers)
        assert "100.00 EUR a day" in scenario.drivers[0].text
    assert result.drivers[0].value == 90


def test_under_14_days_falls_back_to_the_brand_average_with_a_wide_band():
    spend, revenue = history(2, days=13)
    brand_spend = np.full(200, 100.0)
    brand_revenue = np.full(200, 300.0)  # the brand returns 3 per unit spent, every day
    fit = forecasting.fit_history(
        spend, revenue, brand_spend=brand_spend, brand_revenue=brand_revenue, seed=1
    )
    result = forecasting.forecast(fit, spend=1000, horizon_days=10, currency="EUR")
    assert result.method == forecasting.METHOD_BRAND_AVERAGE and result.fallback
    assert "13 days" in result.reason and "brand's average" in result.reason
    low, mid, high = (result.scenarios[n].revenue for n in forecasting.SCENARIOS)
    assert mid == pytest.approx(3000)
    assert low <= 1500 + 1e-6 and high >= 4500 - 1e-6  # at least ±50 %
    assert any(d.name == "method" for d in result.drivers)


def test_a_brand_without_any_spend_expects_nothing_and_says_so():
    fit = forecasting.fit_history([], [], brand_spend=[], brand_revenue=[], seed=1)
    result = forecasting.forecast(fit, spend=100, horizon_days=7, currency="EUR")
    assert result.fallback and "no spend recorded" in result.reason
    assert result.scenarios["baseline"].revenue == 0 and result.scenarios["baseline"].roi == -1


def test_spend_that_never_varied_uses_the_campaigns_own_average():
    spend = np.full(30, 50.0)
    revenue = np.full(30, 200.0)
    fit = forecasting.fit_history(spend, revenue, brand_spend=spend, brand_revenue=revenue)
    assert fit.method == forecasting.METHOD_CAMPAIGN_AVERAGE and not fit.fallback
    result = forecasting.forecast(fit, spend=500, horizon_days=10, currency="EUR")
    assert result.scenarios["baseline"].revenue == pytest.approx(2000)


def test_confidence_is_low_for_a_fallback_and_high_for_a_tight_fit():
    spend, revenue = history(5, days=365, noise=0.02)
    tight = forecasting.fit_history(spend, revenue, brand_spend=spend, brand_revenue=revenue)
    assert forecasting.confidence(tight, spend=SPEND, horizon_days=HORIZON) == "high"
    short = forecasting.fit_history(spend[:5], revenue[:5], brand_spend=spend, brand_revenue=revenue)
    assert forecasting.confidence(short, spend=SPEND, horizon_days=HORIZON) == "low"
