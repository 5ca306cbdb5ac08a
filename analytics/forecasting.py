"""Revenue forecasts from a campaign's daily spend and revenue (SPEC §17, ADR 0027). Pure: arrays in, results out.

The model is a diminishing-returns curve of one day's spend x:

    revenue(x) = a · (1 − exp(−x / b))

`a` is the most a day can bring, `b` the spend scale at which it saturates. Its marginal return is
revenue'(x) = (a / b) · exp(−x / b), so an extra unit stops paying for itself (marginal ROAS < 1) past
the saturation spend x* = b · ln(a / b) (0 when a ≤ b). The point fit is scipy's `curve_fit` on the
campaign's days. The scenarios come from a seeded bootstrap of those days: each draw refits the curve
exactly by profile least squares (for a fixed b, the best a is closed form; b is searched on a log grid
around the point fit and refined by a parabola), all draws at once in numpy, and adds the day-to-day
noise of the horizon (the draw's mean of `horizon_days` resampled relative residuals). Pessimistic,
baseline and optimistic are the P10, P50 and P90 of the horizon's revenue over the draws.

With fewer than `MIN_HISTORY_DAYS` days of spend, or spend that never varied (no curve can be learnt),
the forecast is linear at an average return on spend: the brand's over all its campaign-days (a
fallback, with a band of at least ±`FALLBACK_BAND`) or the campaign's own (spend never varied).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
from scipy.optimize import curve_fit

from core.money import money_str

MIN_HISTORY_DAYS = 14
DEFAULT_DRAWS = 200
FALLBACK_BAND = 0.5  # the brand average is a guess for this campaign: at least ±50 %
SCENARIOS = ("pessimistic", "baseline", "optimistic")
QUANTILES = {"pessimistic": 10, "baseline": 50, "optimistic": 90}
_GRID = np.logspace(-1.5, 1.5, 49)  # b as a multiple of the point fit's b, for the bootstrap refits
_SPREAD_MIN = 0.05  # spend must vary by at least 5 % (coefficient of variation) to learn a curve

METHOD_CURVE = "diminishing_returns"
METHOD_CAMPAIGN_AVERAGE = "campaign_average"
METHOD_BRAND_AVERAGE = "brand_average"


@dataclass(frozen=True)
class SaturatingCurve:
    """revenue(x) = a · (1 − exp(−x / b)) for one day's spend x."""

    a: float
    b: float

    def revenue(self, spend: float | np.ndarray) -> float | np.ndarray:
        return self.a * -np.expm1(-np.asarray(spend, dtype=float) / self.b)

    def marginal(self, spend: float | np.ndarray) -> float | np.ndarray:
        return (self.a / self.b) * np.exp(-np.asarray(spend, dtype=float) / self.b)

    def saturation(self) -> float | None:
        """The daily spend past which an extra unit returns less than it costs."""
        return self.b * math.log(self.a / self.b) if self.a > self.b else 0.0


@dataclass(frozen=True)
class LinearCurve:
    """revenue(x) = roas · x: an average return, no diminishing returns known."""

    roas: float

    def revenue(self, spend: float | np.ndarray) -> float | np.ndarray:
        return self.roas * np.asarray(spend, dtype=float)

    def marginal(self, spend: float | np.ndarray) -> float | np.ndarray:
        return np.full_like(np.asarray(spend, dtype=float), self.roas)

    def saturation(self) -> float | None:
        return None


Curve = SaturatingCurve | LinearCurve


@dataclass(frozen=True)
class Driver:
    name: str
    value: float | int | None
    text: str


@dataclass(frozen=True)
class Scenario:
    name: str
    revenue: float
    roi: float | None
    curve: Curve
    marginal_roas: float
    saturation_spend: float | None  # over the horizon (daily saturation × horizon days)
    drivers: list[Driver]


@dataclass(frozen=True)
class Fit:
    """What the history says: the curve, the bootstrap draws (one curve each) and the relative residuals."""

    method: str
    curve: Curve
    history_days: int
    draws: list[Curve]
    residuals: np.ndarray  # relative: observed / fitted − 1, one per day
    reason: str | None = None

    @property
    def fallback(self) -> bool:
        return self.method == METHOD_BRAND_AVERAGE


@dataclass(frozen=True)
class Forecast:
    method: str
    fallback: bool
    reason: str | None
    history_days: int
    spend: float
    horizon_days: int
    scenarios: dict[str, Scenario] = field(default_factory=dict)
    drivers: list[Driver] = field(default_factory=list)


def _points(spend: np.ndarray, revenue: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    spend, revenue = np.asarray(spend, dtype=float), np.asarray(revenue, dtype=float)
    keep = spend > 0
    return spend[keep], revenue[keep]


def _weights(n: int, draws: int, rng: np.random.Generator) -> np.ndarray:
    """How often each day appears in each bootstrap resample (draws × n)."""
    picks = rng.integers(0, n, size=(draws, n)) + (np.arange(draws) * n)[:, None]
    return np.bincount(picks.ravel(), minlength=draws * n).reshape(draws, n).astype(float)


def _model(s: np.ndarray, a: float, b: float) -> np.ndarray:
    return a * -np.expm1(-s / b)


def _jacobian(s: np.ndarray, a: float, b: float) -> np.ndarray:
    e = np.exp(-s / b)
    return np.column_stack([1 - e, -a * s * e / (b * b)])


def fit_curve(spend: np.ndarray, revenue: np.ndarray) -> SaturatingCurve:
    """The least-squares diminishing-returns curve through the days (scipy curve_fit).

    Started from the best b of a coarse profile (for each b the best a is closed form), so Levenberg–Marquardt
    converges in a few steps; a start that wanders to a non-positive parameter is refitted within bounds.
    """
    x, y = _points(spend, revenue)
    scale = float(np.median(x))
    grid = scale * np.logspace(-3, 3, 61)
    g = -np.expm1(-x[:, None] / grid[None, :])
    syg, sgg = y @ g, (g * g).sum(axis=0)
    best = int(np.argmax(syg * syg / np.maximum(sgg, 1e-300)))
    p0 = (max(float(syg[best] / sgg[best]), 1e-9), float(grid[best]))
    (a, b), _cov = curve_fit(_model, x, y, p0=p0, jac=_jacobian, method="lm", maxfev=2000)
    if not (np.isfinite(a) and np.isfinite(b) and a > 0 and b > 0):
        (a, b), _cov = curve_fit(_model, x, y, p0=p0, jac=_jacobian, maxfev=2000,
                                 bounds=((0.0, scale * 1e-3), (np.inf, scale * 1e3)))  # fmt: skip
    return SaturatingCurve(float(a), float(b))


def _bootstrap_curves(
    x: np.ndarray, y: np.ndarray, base: SaturatingCurve, weights: np.ndarray
) -> list[Curve]:
    """Exact least-squares refits of every resample: a closed form for each b, b on a grid, parabola."""
    grid = base.b * _GRID
    g = -np.expm1(-x[:, None] / grid[None, :])  # n × K
    syg = weights @ (y[:, None] * g)
    sgg = weights @ (g * g)
    sse = -(syg * syg) / np.maximum(sgg, 1e-300)  # + Σw·y², the same for every b of a draw
    k = np.clip(np.argmin(sse, axis=1), 1, len(grid) - 2)
    rows = np.arange(len(k))
    left, mid, right = sse[rows, k - 1], sse[rows, k], sse[rows, k + 1]
    denominator = left - 2 * mid + right
    step = np.where(denominator > 0, 0.5 * (left - right) / np.where(denominator > 0, denominator, 1), 0.0)
    log_grid = np.log(grid)
    log_b = log_grid[k] + np.clip(step, -1, 1) * (log_grid[1] - log_grid[0])
    b = np.exp(log_b)
    g_best = -np.expm1(-x[None, :] / b[:, None])  # draws × n
    a = (weights * y[None, :] * g_best).sum(axis=1) / np.maximum(
        (weights * g_best * g_best).sum(axis=1), 1e-300
    )
    return [SaturatingCurve(float(ai), float(bi)) for ai, bi in zip(a, b, strict=True)]


def _linear_fit(x: np.ndarray, y: np.ndarray, weights: np.ndarray, method: str, reason: str | None) -> Fit:
    roas = float(y.sum() / x.sum()) if x.sum() > 0 else 0.0
    draw_roas = (weights @ y) / np.maximum(weights @ x, 1e-300)
    fitted = roas * x
    residuals = np.where(fitted > 0, y / np.where(fitted > 0, fitted, 1) - 1, 0.0)
    return Fit(
        method=method,
        curve=LinearCurve(roas),
        history_days=len(x),
        draws=[LinearCurve(float(r)) for r in draw_roas],
        residuals=residuals,
        reason=reason,
    )


def fit_history(
    spend: np.ndarray,
    revenue: np.ndarray,
    *,
    brand_spend: np.ndarray,
    brand_revenue: np.ndarray,
    draws: int = DEFAULT_DRAWS,
    seed: int = 0,
) -> Fit:
    """The campaign's curve from its days (spend, revenue per day), or the brand's average as a fallback."""
    rng = np.random.default_rng(seed)
    x, y = _points(spend, revenue)
    if len(x) < MIN_HISTORY_DAYS:
        bx, by = _points(brand_spend, brand_revenue)
        reason = (
            f"This campaign has {len(x)} days of spend (under {MIN_HISTORY_DAYS}): "
            "the forecast uses the brand's average return on spend, with a wide band."
        )
        if len(bx) == 0:
            return Fit(
                method=METHOD_BRAND_AVERAGE,
                curve=LinearCurve(0.0),
                history_days=len(x),
                draws=[LinearCurve(0.0)],
                residuals=np.zeros(1),
                reason=reason + " The brand has no spend recorded yet, so no revenue is expected.",
            )
        fit = _linear_fit(bx, by, _weights(len(bx), draws, rng), METHOD_BRAND_AVERAGE, reason)
        return Fit(
            method=fit.method,
            curve=fit.curve,
            history_days=len(x),
            draws=fit.draws,
            residuals=fit.residuals,
            reason=reason,
        )
    weights = _weights(len(x), draws, rng)
    if float(np.std(x)) < _SPREAD_MIN * float(np.mean(x)):
        return _linear_fit(
            x,
            y,
            weights,
            METHOD_CAMPAIGN_AVERAGE,
            "Daily spend never varied, so no diminishing-returns curve can be learnt: "
            "the forecast uses the campaign's own average return on spend.",
        )
    try:
        curve = fit_curve(x, y)
    except (RuntimeError, ValueError):
        return _linear_fit(
            x,
            y,
            weights,
            METHOD_CAMPAIGN_AVERAGE,
            "No diminishing-returns curve fits these days: the forecast uses the "
            "campaign's own average return on spend.",
        )
    fitted = curve.revenue(x)
    residuals = np.where(fitted > 0, y / np.where(fitted > 0, fitted, 1) - 1, 0.0)
    return Fit(
        method=METHOD_CURVE,
        curve=curve,
        history_days=len(x),
        draws=_bootstrap_curves(x, y, curve, weights),
        residuals=np.clip(residuals, -1, 5),
    )


def horizon_revenues(fit: Fit, *, spend: float, horizon_days: int, seed: int = 0) -> np.ndarray:
    """The horizon's revenue under every draw: its curve at the daily spend, times the horizon's noise."""
    rng = np.random.default_rng(seed + 1)
    daily = spend / horizon_days
    if fit.draws and isinstance(fit.draws[0], SaturatingCurve):
        a = np.array([c.a for c in fit.draws])
        b = np.array([c.b for c in fit.draws])
        expected = a * -np.expm1(-daily / b) * horizon_days
    else:
        expected = np.array([c.roas for c in fit.draws]) * daily * horizon_days
    picks = rng.integers(0, len(fit.residuals), size=(len(fit.draws), horizon_days))
    noise = fit.residuals[picks].mean(axis=1)
    return np.maximum(expected * (1 + noise), 0.0)


def _money(value: float, currency: str) -> str:
    return money_str(Decimal(repr(round(value, 6))), currency)


def _scenario_drivers(*, curve: Curve, spend: float, horizon_days: int, currency: str) -> list[Driver]:
    daily = spend / horizon_days
    marginal = float(curve.marginal(daily))
    drivers = [
        Driver(
            "daily_spend",
            round(daily, 4),
            f"Spending {_money(daily, currency)} {currency} a day for {horizon_days} days.",
        ),
        Driver(
            "marginal_roas",
            round(marginal, 4),
            f"At that spend each extra 1 {currency} brings back {marginal:.2f} {currency} (marginal ROAS).",
        ),
    ]
    saturation = curve.saturation()
    if saturation is not None:
        verdict = "beyond it" if daily > saturation else "below it"
        drivers.append(
            Driver(
                "saturation_daily_spend",
                round(saturation, 4),
                f"Returns stop paying for themselves above {_money(saturation, currency)} {currency} a day; "
                f"this plan is {verdict}.",
            )
        )
        drivers.append(
            Driver(
                "max_daily_revenue",
                round(curve.a, 4),
                f"A day cannot bring more than about {_money(curve.a, currency)} {currency} at any spend.",
            )
        )
    else:
        drivers.append(
            Driver(
                "average_roas",
                round(curve.roas, 4),
                f"Every 1 {currency} spent is assumed to bring back {curve.roas:.2f} {currency} "
                "(an average: no diminishing returns known).",
            )
        )
    return drivers


def forecast(fit: Fit, *, spend: float, horizon_days: int, currency: str, seed: int = 0) -> Forecast:
    """Pessimistic / baseline / optimistic revenue and ROI of spending `spend` over `horizon_days`."""
    revenues = horizon_revenues(fit, spend=spend, horizon_days=horizon_days, seed=seed)
    order = np.argsort(revenues, kind="stable")
    scenarios: dict[str, Scenario] = {}
    for name in SCENARIOS:
        value = float(np.percentile(revenues, QUANTILES[name]))
        # The draw nearest the quantile explains it: its curve gives the scenario's marginal ROAS and saturation.
        index = int(order[min(len(order) - 1, round(QUANTILES[name] / 100 * (len(order) - 1)))])
        curve = fit.draws[index] if name != "baseline" or fit.method != METHOD_CURVE else fit.curve
        if fit.fallback and name != "baseline":
            # The brand's average is a guess for this campaign: the band is at least ±FALLBACK_BAND.
            centre = float(np.percentile(revenues, 50))
            if name == "pessimistic":
                value = min(value, centre * (1 - FALLBACK_BAND))
            else:
                value = max(value, centre * (1 + FALLBACK_BAND))
            curve = LinearCurve(value / spend if spend > 0 else 0.0)
        saturation = curve.saturation()
        scenarios[name] = Scenario(
            name=name,
            revenue=value,
            roi=(value - spend) / spend if spend > 0 else None,
            curve=curve,
            marginal_roas=float(curve.marginal(spend / horizon_days)),
            saturation_spend=None if saturation is None else saturation * horizon_days,
            drivers=_scenario_drivers(curve=curve, spend=spend, horizon_days=horizon_days, currency=currency),
        )
    drivers = [
        Driver("history_days", fit.history_days, f"Fitted on {fit.history_days} days of spend and revenue.")
    ]
    if fit.method == METHOD_CURVE:
        noise = float(np.std(fit.residuals)) * 100
        drivers.append(
            Driver(
                "daily_noise_percent",
                round(noise, 1),
                f"Daily revenue scatters about {noise:.1f}% around the curve.",
            )
        )
    if fit.reason:
        drivers.append(Driver("method", None, fit.reason))
    return Forecast(
        method=fit.method,
        fallback=fit.fallback,
        reason=fit.reason,
        history_days=fit.history_days,
        spend=spend,
        horizon_days=horizon_days,
        scenarios=scenarios,
        drivers=drivers,
    )


def confidence(fit: Fit, *, spend: float, horizon_days: int) -> str:
    """high / medium / low from the method and the relative width of the P10–P90 band at `spend`."""
    if fit.method != METHOD_CURVE:
        return "low"
    if spend <= 0:
        return "medium"
    revenues = horizon_revenues(fit, spend=spend, horizon_days=horizon_days)
    p10, p50, p90 = np.percentile(revenues, [10, 50, 90])
    width = (p90 - p10) / p50 if p50 > 0 else math.inf
    return "high" if width < 0.3 else "medium" if width < 0.6 else "low"
