"""Reads of experiments: one experiment, its results (from the variant totals), their JSON."""

from __future__ import annotations

from typing import Any

from core.exceptions import NotFoundError
from experiments import statistics
from experiments.models import Experiment, VariantTotals


def experiment_get(*, experiment_id: int) -> Experiment:
    experiment = Experiment.objects.select_related("campaign").filter(pk=experiment_id).first()
    if experiment is None:
        raise NotFoundError(f"No experiment {experiment_id}.", code="not_found")
    return experiment


def _seed_number(seed: str) -> int:
    return int.from_bytes(seed.encode()[:8].ljust(8, b"\0"), "big")


def experiment_arm_counts(*, experiment: Experiment) -> list[statistics.ArmCounts]:
    """Exposed customers and successes (conversions, or clicks for `ctr`) per variant, control first."""
    totals = {
        t.variant: t
        for t in VariantTotals.objects.filter(experiment=experiment, bucket_version=experiment.bucket_version)
    }
    success = "clicks" if experiment.primary_metric == Experiment.Metric.CTR else "conversions"
    arms = []
    for variant in experiment.variants.order_by("position", "id"):
        row = totals.get(variant.key)
        arms.append(
            statistics.ArmCounts(
                key=variant.key,
                weight=variant.weight,
                exposures=row.exposures if row else 0,
                conversions=getattr(row, success) if row else 0,
            )
        )
    return arms


def experiment_results(*, experiment: Experiment) -> statistics.Results:
    return statistics.analyse(
        experiment_arm_counts(experiment=experiment),
        confidence=float(experiment.confidence),
        min_sample_per_variant=experiment.min_sample_per_variant,
        seed=_seed_number(experiment.seed),
    )


def _round(value: float | None, places: int = 6) -> float | None:
    return None if value is None else round(value, places)


def experiment_data(experiment: Experiment) -> dict[str, Any]:
    return {
        "id": experiment.pk,
        "campaign_id": experiment.campaign_id,
        "name": experiment.name,
        "status": experiment.status,
        "primary_metric": experiment.primary_metric,
        "coverage": float(experiment.coverage),
        "confidence": float(experiment.confidence),
        "min_sample_per_variant": experiment.min_sample_per_variant,
        "bucket_version": experiment.bucket_version,
        "winner": experiment.winner or None,
        "concluded_at": experiment.concluded_at.isoformat() if experiment.concluded_at else None,
        "variants": [
            {
                "key": v.key,
                "weight": v.weight,
                "control": index == 0,
                "overrides": {
                    "message": {
                        k: val for k, val in (("title", v.message_title), ("body", v.message_body)) if val
                    },
                    "reward": {
                        k: val
                        for k, val in (
                            ("type", v.reward_type),
                            (
                                "value",
                                None if v.reward_value is None else format(v.reward_value.normalize(), "f"),
                            ),
                            ("description", v.reward_description),
                        )
                        if val
                    },
                },
            }
            for index, v in enumerate(experiment.variants.order_by("position", "id"))
        ],
        "created_at": experiment.created_at.isoformat(),
    }


def results_data(experiment: Experiment, results: statistics.Results) -> dict[str, Any]:
    return {
        "experiment_id": experiment.pk,
        "status": experiment.status,
        "primary_metric": experiment.primary_metric,
        "confidence": float(experiment.confidence),
        "variants": [
            {
                "key": arm.key,
                "control": arm.is_control,
                "exposures": arm.exposures,
                "conversions": arm.conversions,
                "rate": _round(arm.rate),
                "ci95": None if arm.ci95 is None else [_round(arm.ci95[0]), _round(arm.ci95[1])],
                "lift": _round(arm.lift),
                "p_value": arm.p_value,
                "p_value_uncorrected": arm.p_value_uncorrected,
                "cohens_h": _round(arm.cohens_h),
                "p_best": _round(arm.p_best, 4),
            }
            for arm in results.arms
        ],
        "chi_square_p": results.chi_square_p,
        "correction": "holm" if len(results.arms) > 2 else None,
        "srm": {"p_value": results.srm_p, "mismatch": results.srm},
        "winner": results.winner,
        "recommendation": results.recommendation,
    }
