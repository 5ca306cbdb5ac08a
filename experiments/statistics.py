"""Experiment results (pure, no I/O): frequentist tests, Bayesian P(best), SRM and the recommendation.

Every statistic comes from scipy (`scipy.stats`): the two-proportion z test is the normal tail of the
pooled z, the chi-square tests are `chi2_contingency` (independence, all arms) and `chisquare`
(goodness of fit of the exposures to the weights: the sample-ratio check), intervals are Wilson's from
`binomtest`, posteriors are `beta.rvs` from a seeded generator. Holm's step-down is the only thing
written here (scipy has none); tests compare it with statsmodels' `multipletests`.

The first arm is the control. A winner needs, all at once:
* every arm at `min_sample_per_variant` exposures or more (else `keep running: needs ~N more per variant`);
* no sample-ratio mismatch (chi-square p < 0.001 blocks any winner);
* the best arm by P(best) with P(best) ≥ `confidence`, and its (Holm-corrected, with more than two arms)
  p-value against the control below `1 − confidence` — for the control itself, every other arm
  significantly worse.
Otherwise `no difference` (or `keep running` when an arm beats the control but the best is not yet clear).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

SRM_THRESHOLD = 0.001
INTERVAL_LEVEL = 0.95
DEFAULT_DRAWS = 100_000


@dataclass(frozen=True)
class ArmCounts:
    key: str
    weight: float
    exposures: int
    conversions: int


@dataclass(frozen=True)
class ArmResult:
    key: str
    is_control: bool
    exposures: int
    conversions: int
    rate: float | None
    ci95: tuple[float, float] | None
    lift: float | None  # relative to the control's rate; None for the control or a zero control rate
    p_value: float | None  # vs control, Holm-corrected with more than two arms; None for the control
    p_value_uncorrected: float | None
    cohens_h: float | None
    p_best: float


@dataclass(frozen=True)
class Results:
    arms: tuple[ArmResult, ...]
    chi_square_p: float  # independence of arm and outcome, all arms at once
    srm_p: float
    srm: bool
    winner: str | None
    recommendation: str


def two_proportion_z_test(conversions_a: int, n_a: int, conversions_b: int, n_b: int) -> float:
    """Two-sided p-value of H0: equal rates, pooled standard error (as statsmodels' proportions_ztest)."""
    if n_a == 0 or n_b == 0:
        return 1.0
    pooled = (conversions_a + conversions_b) / (n_a + n_b)
    variance = pooled * (1 - pooled) * (1 / n_a + 1 / n_b)
    if variance <= 0:
        return 1.0
    z = (conversions_a / n_a - conversions_b / n_b) / math.sqrt(variance)
    return float(2 * stats.norm.sf(abs(z)))


def chi_square_p(table: Sequence[tuple[int, int]]) -> float:
    """p-value of Pearson's chi-square of independence on (conversions, non-conversions) rows."""
    rows = [row for row in table if row[0] + row[1] > 0]
    if len(rows) < 2 or sum(r[0] for r in rows) == 0 or sum(r[1] for r in rows) == 0:
        return 1.0
    return float(stats.chi2_contingency(np.array(rows), correction=False).pvalue)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values, in the input order."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def srm_p(exposures: Sequence[int], weights: Sequence[float]) -> float:
    """Goodness of fit of the exposures to the planned weights (chi-square)."""
    total = sum(exposures)
    if total == 0 or len(exposures) < 2:
        return 1.0
    weight_sum = float(sum(weights))
    expected = [total * w / weight_sum for w in weights]
    return float(stats.chisquare(exposures, f_exp=expected).pvalue)


def wilson_interval(conversions: int, n: int, level: float = INTERVAL_LEVEL) -> tuple[float, float] | None:
    if n == 0:
        return None
    interval = stats.binomtest(conversions, n).proportion_ci(confidence_level=level, method="wilson")
    return (float(interval.low), float(interval.high))


def cohens_h(rate: float, control_rate: float) -> float:
    return 2 * math.asin(math.sqrt(rate)) - 2 * math.asin(math.sqrt(control_rate))


def probability_best(arms: Sequence[ArmCounts], *, seed: int, draws: int = DEFAULT_DRAWS) -> list[float]:
    """P(arm has the highest rate) under Beta(1 + conversions, 1 + failures) posteriors, seeded draws."""
    rng = np.random.default_rng(seed)
    samples = np.vstack(
        [
            stats.beta.rvs(1 + a.conversions, 1 + a.exposures - a.conversions, size=draws, random_state=rng)
            for a in arms
        ]
    )
    wins = np.bincount(np.argmax(samples, axis=0), minlength=len(arms))
    return [float(w) / draws for w in wins]


def _about(n: int) -> int:
    """n rounded up to two significant figures (the recommendation's `~N`)."""
    if n < 100:
        return max(n, 1)
    magnitude = 10 ** (len(str(n)) - 2)
    return -(-n // magnitude) * magnitude


def analyse(
    arms: Sequence[ArmCounts],
    *,
    confidence: float = 0.95,
    min_sample_per_variant: int = 1000,
    seed: int = 0,
    draws: int = DEFAULT_DRAWS,
) -> Results:
    if len(arms) < 2:
        raise ValueError("An experiment needs a control and at least one other variant.")
    alpha = 1 - confidence
    control = arms[0]
    control_rate = control.conversions / control.exposures if control.exposures else None
    raw = [
        two_proportion_z_test(a.conversions, a.exposures, control.conversions, control.exposures)
        for a in arms[1:]
    ]
    corrected = holm(raw) if len(raw) > 1 else list(raw)
    p_best = probability_best(arms, seed=seed, draws=draws)
    results = []
    for index, arm in enumerate(arms):
        rate = arm.conversions / arm.exposures if arm.exposures else None
        is_control = index == 0
        results.append(
            ArmResult(
                key=arm.key,
                is_control=is_control,
                exposures=arm.exposures,
                conversions=arm.conversions,
                rate=rate,
                ci95=wilson_interval(arm.conversions, arm.exposures),
                lift=None
                if is_control or rate is None or not control_rate
                else (rate - control_rate) / control_rate,
                p_value=None if is_control else corrected[index - 1],
                p_value_uncorrected=None if is_control else raw[index - 1],
                cohens_h=None
                if is_control or rate is None or control_rate is None
                else cohens_h(rate, control_rate),
                p_best=p_best[index],
            )
        )
    mismatch_p = srm_p([a.exposures for a in arms], [a.weight for a in arms])
    srm = mismatch_p < SRM_THRESHOLD
    winner, recommendation = _recommend(results, alpha=alpha, confidence=confidence,
                                        min_sample=min_sample_per_variant, srm=srm)  # fmt: skip
    return Results(
        arms=tuple(results),
        chi_square_p=chi_square_p([(a.conversions, a.exposures - a.conversions) for a in arms]),
        srm_p=mismatch_p,
        srm=srm,
        winner=winner,
        recommendation=recommendation,
    )


def _recommend(
    arms: list[ArmResult], *, alpha: float, confidence: float, min_sample: int, srm: bool
) -> tuple[str | None, str]:
    smallest = min(a.exposures for a in arms)
    if smallest < min_sample:
        return None, f"keep running: needs ~{_about(min_sample - smallest)} more per variant"
    if srm:
        return None, "sample ratio mismatch: check the assignment before reading the results"
    control, others = arms[0], arms[1:]
    best = max(arms, key=lambda a: a.p_best)
    if best.is_control:
        if all(a.p_value < alpha and a.rate < control.rate for a in others):
            return control.key, f"winner: {control.key}"
    elif best.p_best >= confidence and best.p_value < alpha and best.rate > control.rate:
        return best.key, f"winner: {best.key}"
    if any(a.p_value < alpha and a.rate > control.rate for a in others):
        # Something beats the control, but which arm is best is not settled yet: double the sample.
        return None, f"keep running: needs ~{_about(smallest)} more per variant"
    return None, "no difference"
