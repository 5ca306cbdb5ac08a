"""Split a total spend across campaigns to maximise their summed predicted revenue (SPEC §17, ADR 0027). Pure.

Each campaign i has a revenue curve of one day's spend (analytics.forecasting), bounds lo_i ≤ x_i ≤ hi_i on
its spend over the horizon, and the horizon's revenue is H · f_i(x_i / H). The problem

    maximise Σ H · f_i(x_i / H)   subject to   Σ x_i = total,  lo_i ≤ x_i ≤ hi_i

is concave (every curve is concave or linear), so its optimum is where every campaign not held by a bound
has the same marginal ROAS f_i'(x_i / H). It is solved with scipy's SLSQP on the shares x_i / total with
the analytic gradient, started from the bounds' proportional split (feasible).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from analytics.forecasting import Curve

_TOLERANCE = 1e-10


@dataclass(frozen=True)
class Candidate:
    key: int
    curve: Curve
    lower: float
    upper: float


@dataclass(frozen=True)
class Share:
    key: int
    spend: float
    revenue: float
    marginal_roas: float
    saturation_spend: float | None  # over the horizon
    at_bound: str | None  # "min", "max" or None


@dataclass(frozen=True)
class Allocation:
    total: float
    revenue: float
    shares: list[Share]
    converged: bool


def _revenue(candidates: list[Candidate], spend: np.ndarray, horizon_days: int) -> np.ndarray:
    return (
        np.array([float(c.curve.revenue(x / horizon_days)) for c, x in zip(candidates, spend, strict=True)])
        * horizon_days
    )


def _marginals(candidates: list[Candidate], spend: np.ndarray, horizon_days: int) -> np.ndarray:
    return np.array(
        [float(c.curve.marginal(x / horizon_days)) for c, x in zip(candidates, spend, strict=True)]
    )


def _start(lower: np.ndarray, upper: np.ndarray, total: float) -> np.ndarray:
    """A feasible split: the lower bounds, then what is left in proportion to each one's room."""
    room = upper - lower
    left = total - lower.sum()
    return lower + (room * (left / room.sum()) if room.sum() > 0 else 0.0)


def _onto_total(spend: np.ndarray, lower: np.ndarray, upper: np.ndarray, total: float) -> np.ndarray:
    """The solver's split moved onto Σx = total exactly (it ends within its tolerance), inside the bounds."""
    gap = total - float(spend.sum())
    room = (upper - spend) if gap > 0 else (spend - lower)
    if gap and room.sum() > 0:
        spend = spend + gap * room / room.sum()
    return np.clip(spend, lower, upper)


def allocate(*, candidates: list[Candidate], total: float, horizon_days: int) -> Allocation:
    """The revenue-maximising split of `total` within the bounds. The caller ensures Σlo ≤ total ≤ Σhi."""
    lower = np.array([c.lower for c in candidates], dtype=float)
    upper = np.array([c.upper for c in candidates], dtype=float)
    if not lower.sum() <= total * (1 + 1e-12) + 1e-9 or not total <= upper.sum() * (1 + 1e-12) + 1e-9:
        raise ValueError("the total is outside the sum of the bounds")
    scale = total if total > 0 else 1.0
    start = _start(lower, upper, total) / scale
    # Saturating curves: revenue = H·a·(1 − exp(−x·scale/(H·b))); linear: H·r·x·scale/H. Vectorised.
    a = np.array([getattr(c.curve, "a", 0.0) for c in candidates])
    b = np.array([getattr(c.curve, "b", 1.0) for c in candidates])
    slope = np.array([getattr(c.curve, "roas", 0.0) for c in candidates])
    saturating = np.array([hasattr(c.curve, "a") for c in candidates])
    k = scale / horizon_days

    def value_and_gradient(shares: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        daily = shares * k
        exponential = np.exp(-np.maximum(daily, 0.0) / b)
        value = np.where(saturating, a * -np.expm1(-np.maximum(daily, 0.0) / b), slope * daily) * horizon_days
        return value, np.where(saturating, (a / b) * exponential, slope) * scale

    # One fixed scale for the whole solve, so the objective is of order 1 whatever the amounts are.
    norm = max(float(np.abs(value_and_gradient(start)[1]).max()), 1e-12)

    def objective(shares: np.ndarray) -> tuple[float, np.ndarray]:
        value, gradient = value_and_gradient(shares)
        return -float(value.sum()) / norm, -gradient / norm

    if len(candidates) == 1 or float((upper - lower).sum()) <= _TOLERANCE * scale:
        spend, converged = _start(lower, upper, total), True
    else:
        result = minimize(
            objective,
            start,
            jac=True,
            method="SLSQP",
            bounds=list(zip(lower / scale, upper / scale, strict=True)),
            constraints=[
                {
                    "type": "eq",
                    "fun": lambda s: s.sum() - 1.0 * total / scale,
                    "jac": lambda s: np.ones_like(s),
                }
            ],
            options={"maxiter": 500, "ftol": 1e-12},
        )
        spend = _onto_total(np.clip(result.x * scale, lower, upper), lower, upper, total)
        converged = bool(result.success)
    revenue = _revenue(candidates, spend, horizon_days)
    marginal = _marginals(candidates, spend, horizon_days)
    shares = []
    for i, candidate in enumerate(candidates):
        saturation = candidate.curve.saturation()
        at_bound = (
            "min"
            if spend[i] <= lower[i] + 1e-6 * scale
            else "max"
            if spend[i] >= upper[i] - 1e-6 * scale
            else None
        )
        shares.append(
            Share(
                key=candidate.key,
                spend=float(spend[i]),
                revenue=float(revenue[i]),
                marginal_roas=float(marginal[i]),
                saturation_spend=None if saturation is None else saturation * horizon_days,
                at_bound=at_bound,
            )
        )
    return Allocation(total=total, revenue=float(revenue.sum()), shares=shares, converged=converged)


def rationale(
    *,
    name: str,
    current: str | None,
    proposed: str,
    currency: str,
    share: Share,
    confidence: str,
    saturation: str | None,
    method_note: str | None,
) -> str:
    """One sentence a CRM person can read: current → proposed, marginal ROAS, saturation, confidence."""
    before = f"{current} {currency}" if current is not None else "no spend budget"
    sentence = f"{name}: {before} → {proposed} {currency}"
    sentence += f"; each extra 1 {currency} brings back {share.marginal_roas:.2f} {currency} at that spend (marginal ROAS)"
    if saturation is not None:
        sentence += f"; returns stop paying for themselves above {saturation} {currency} (saturation)"
    else:
        sentence += "; no saturation point known (an average return, no curve)"
    if share.at_bound == "max":
        sentence += "; held at its maximum"
    elif share.at_bound == "min":
        sentence += "; held at its minimum"
    sentence += f"; confidence {confidence}"
    if method_note:
        sentence += f" ({method_note})"
    return sentence + "."
