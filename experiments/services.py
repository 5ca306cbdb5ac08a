"""Writes of experiments (SPEC §16): create, assign (sticky), refresh exposures, conclude (roll out)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from analytics.sources import touches_sql
from campaigns.models import Campaign
from campaigns.services import campaign_update
from core.audit import audit_record, changes_between, values_of
from core.db import constraint_message, violated_constraint
from core.exceptions import ConflictError, ValidationFailed, validate_model
from experiments import assignment as hashing
from experiments.models import Assignment, Experiment, Variant
from outbox import events

logger = logging.getLogger(__name__)

_REFRESH_LOCK_NAMESPACE = 0x0C_B0_0024
_AUDITED_FIELDS = ("campaign", "name", "status", "primary_metric", "coverage", "confidence",
                   "min_sample_per_variant", "bucket_version")  # fmt: skip
OVERRIDE_FIELDS = ("message_title", "message_body", "reward_type", "reward_value", "reward_description")


@dataclass(frozen=True)
class VariantSpec:
    key: str
    weight: int = 1
    message_title: str = ""
    message_body: str = ""
    reward_type: str = ""
    reward_value: Decimal | None = None
    reward_description: str = ""


@transaction.atomic
def experiment_create(
    *,
    campaign: Campaign,
    variants: Sequence[VariantSpec],
    actor: str,
    name: str = "",
    coverage: Decimal = Decimal(1),
    primary_metric: str = Experiment.Metric.CONVERSION_RATE,
    confidence: Decimal = Decimal("0.95"),
    min_sample_per_variant: int = 1000,
) -> Experiment:
    """A running experiment with its variants; the first variant is the control."""
    if len(variants) < 2:
        raise ValidationFailed(
            {"variants": ["An experiment needs at least two variants (a control and one more)."]}
        )
    keys = [v.key for v in variants]
    if len(set(keys)) != len(keys):
        raise ValidationFailed({"variants": ["Variant keys must be different from each other."]})
    experiment = Experiment(
        campaign=campaign,
        name=name,
        coverage=coverage,
        primary_metric=primary_metric,
        confidence=confidence,
        min_sample_per_variant=min_sample_per_variant,
    )
    validate_model(experiment, validate_constraints=False)
    try:
        with transaction.atomic():
            experiment.save()
    except IntegrityError as error:
        if violated_constraint(error) == "experiment_one_running_per_campaign":
            raise ConflictError(
                "This campaign already has a running experiment: conclude it first.",
                code="experiment_running",
            ) from error
        message = constraint_message(Experiment, violated_constraint(error))
        if message is None:
            raise
        raise ValidationFailed({"non_field_errors": [message]}) from error
    rows = []
    for position, spec in enumerate(variants):
        variant = Variant(experiment=experiment, position=position, key=spec.key, weight=spec.weight,
                          **{f: getattr(spec, f) for f in OVERRIDE_FIELDS})  # fmt: skip
        try:
            validate_model(variant, exclude=["experiment"], validate_constraints=False)
        except ValidationFailed as error:
            raise ValidationFailed(
                {f"variants[{position}].{k}": v for k, v in error.fields.items()}
            ) from error
        rows.append(variant)
    Variant.objects.bulk_create(rows)
    audit_record(
        actor=actor,
        action="experiment.created",
        obj_or_type=experiment,
        changes={
            **changes_between(None, values_of(experiment, _AUDITED_FIELDS)),
            "variants": {"before": None, "after": [{"key": v.key, "weight": v.weight} for v in rows]},
        },
    )
    return experiment


def _plan(experiment: Experiment) -> hashing.Plan:
    variants = list(experiment.variants.order_by("position", "id").values_list("key", "weight"))
    return hashing.plan_for(
        seed=experiment.seed,
        bucket_version=experiment.bucket_version,
        coverage=float(experiment.coverage),
        variants=variants,
    )


def experiment_assign(*, experiment: Experiment, customer_id: str) -> str | None:
    """The customer's variant (None outside the coverage), the same every time.

    Persisted on first ask (one INSERT … ON CONFLICT DO NOTHING; a concurrent first ask reads the row the
    other wrote), so later weight changes never move a customer. A concluded experiment answers its
    winner for everyone.
    """
    if experiment.status == Experiment.Status.CONCLUDED:
        return experiment.winner or None
    existing = (
        Assignment.objects.filter(
            experiment=experiment, bucket_version=experiment.bucket_version, customer_id=customer_id
        )
        .values_list("variant", flat=True)
        .first()
    )
    if existing is not None:
        return existing
    variant = hashing.assign(_plan(experiment), customer_id)
    if variant is None:
        return None  # outside the coverage: not persisted, so a later, larger coverage can take them in
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO experiments_assignment (experiment_id, bucket_version, customer_id, variant, assigned_at)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (experiment_id, bucket_version, customer_id) DO NOTHING"
            " RETURNING variant",
            [experiment.pk, experiment.bucket_version, customer_id, variant, timezone.now()],
        )
        if cursor.fetchone() is None:
            return Assignment.objects.get(
                experiment=experiment, bucket_version=experiment.bucket_version, customer_id=customer_id
            ).variant
    return variant


@transaction.atomic
def experiment_rerandomise(*, experiment_id: int, actor: str) -> Experiment:
    """Bump the bucket version: everyone is assigned afresh (and exposures count from zero) on purpose."""
    experiment = Experiment.objects.select_for_update().get(pk=experiment_id)
    if experiment.status != Experiment.Status.RUNNING:
        raise ConflictError("Only a running experiment can be re-randomised.", code="experiment_concluded")
    before = experiment.bucket_version
    experiment.bucket_version = before + 1
    experiment.save(update_fields=["bucket_version", "updated_at"])
    audit_record(actor=actor, action="experiment.rerandomised", obj_or_type=experiment,
                 changes={"bucket_version": {"before": before, "after": experiment.bucket_version}})  # fmt: skip
    return experiment


# ---------------------------------------------------------------------------- exposures


_RUNNING = """
    running AS (
        SELECT x.id AS experiment_id, x.bucket_version, x.campaign_id,
               c.attribution_window_hours AS window_hours
        FROM experiments_experiment x JOIN campaigns_campaign c ON c.id = x.campaign_id
        WHERE x.status = 'running'
    )
"""

_EXPOSURES_SQL = (
    "WITH "  # noqa: S608 - constant SQL text; every value is a bound parameter
    + _RUNNING
    + """,
    touches AS ({touches}),
    first_touch AS (
        SELECT r.experiment_id, r.bucket_version, a.customer_id, a.variant, MIN(t.touched_at) AS exposed_at
        FROM running r
        JOIN touches t ON t.campaign_key = r.campaign_id::text
        JOIN experiments_assignment a ON a.experiment_id = r.experiment_id
             AND a.bucket_version = r.bucket_version AND a.customer_id = t.customer_id
        GROUP BY 1, 2, 3, 4
    ),
    inserted AS (
        INSERT INTO experiments_exposure (experiment_id, bucket_version, customer_id, variant, exposed_at)
        SELECT experiment_id, bucket_version, customer_id, variant, exposed_at FROM first_touch
        ON CONFLICT (experiment_id, bucket_version, customer_id) DO NOTHING
        RETURNING experiment_id, bucket_version, variant
    ),
    added AS (
        INSERT INTO experiments_varianttotals AS v
            (experiment_id, bucket_version, variant, exposures, clicks, conversions)
        SELECT experiment_id, bucket_version, variant, COUNT(*), 0, 0 FROM inserted GROUP BY 1, 2, 3
        ON CONFLICT (experiment_id, bucket_version, variant) DO UPDATE SET exposures = v.exposures + EXCLUDED.exposures
        RETURNING 1
    )
    SELECT COUNT(*) FROM inserted
"""
)

_CLICKS_SQL = (
    "WITH "  # noqa: S608 - constant SQL text; every value is a bound parameter
    + _RUNNING
    + """,
    first_click AS (
        SELECT r.experiment_id, r.bucket_version, cu.customer_id, MIN(e.occurred_at) AS clicked_at
        FROM running r
        JOIN customers_event e ON e.name = 'click' AND e.occurred_at >= %(since)s
             AND e.properties->>'campaign_id' = r.campaign_id::text
        JOIN customers_customer cu ON cu.id = e.customer_id
        GROUP BY 1, 2, 3
    ),
    clicked AS (
        UPDATE experiments_exposure x SET clicked_at = f.clicked_at
        FROM first_click f
        WHERE x.experiment_id = f.experiment_id AND x.bucket_version = f.bucket_version
          AND x.customer_id = f.customer_id AND x.clicked_at IS NULL AND f.clicked_at >= x.exposed_at
        RETURNING x.experiment_id, x.bucket_version, x.variant
    ),
    counted AS (SELECT experiment_id, bucket_version, variant, COUNT(*) AS n FROM clicked GROUP BY 1, 2, 3)
    UPDATE experiments_varianttotals v SET clicks = v.clicks + c.n FROM counted c
    WHERE v.experiment_id = c.experiment_id AND v.bucket_version = c.bucket_version AND v.variant = c.variant
    RETURNING c.n
"""
)

_CONVERSIONS_SQL = (
    "WITH "  # noqa: S608 - constant SQL text; every value is a bound parameter
    + _RUNNING
    + """,
    first_purchase AS (
        SELECT x.id AS exposure_id, MIN(p.purchased_at) AS converted_at
        FROM purchases_purchase p
        JOIN experiments_exposure x ON x.customer_id = p.customer_id AND x.converted_at IS NULL
        JOIN running r ON r.experiment_id = x.experiment_id AND r.bucket_version = x.bucket_version
        WHERE p.received_at >= %(since)s AND p.purchased_at >= x.exposed_at
          AND p.purchased_at <= x.exposed_at + r.window_hours * interval '1 hour'
        GROUP BY 1
    ),
    converted AS (
        UPDATE experiments_exposure x SET converted_at = f.converted_at
        FROM first_purchase f WHERE x.id = f.exposure_id AND x.converted_at IS NULL
        RETURNING x.experiment_id, x.bucket_version, x.variant
    ),
    counted AS (SELECT experiment_id, bucket_version, variant, COUNT(*) AS n FROM converted GROUP BY 1, 2, 3)
    UPDATE experiments_varianttotals v SET conversions = v.conversions + c.n FROM counted c
    WHERE v.experiment_id = c.experiment_id AND v.bucket_version = c.bucket_version AND v.variant = c.variant
    RETURNING c.n
"""
)


@dataclass(frozen=True)
class ExposureRefresh:
    exposures: int
    clicks: int
    conversions: int


@transaction.atomic
def exposures_refresh(*, since: datetime | None = None, now: datetime | None = None) -> ExposureRefresh:
    """Record new exposures (first touch of an assigned customer), first clicks and first conversions
    (a purchase within the campaign's attribution window after the exposure) of running experiments,
    and add them to the variant totals in the same statements. Idempotent: each exposure, click and
    conversion is counted once, whatever the window re-read."""
    now = now or timezone.now()
    since = since or now - timedelta(hours=settings.ANALYTICS_REFRESH_HOURS)
    counts = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(current_schema()))", [_REFRESH_LOCK_NAMESPACE]
        )
        for sql in (_EXPOSURES_SQL.format(touches=touches_sql()), _CLICKS_SQL, _CONVERSIONS_SQL):
            cursor.execute(sql, {"since": since, "touch_since": since})
            counts.append(sum(row[0] for row in cursor.fetchall()))
    return ExposureRefresh(*counts)


# ---------------------------------------------------------------------------- conclude


def _rollout_data(campaign: Campaign, variant: Variant) -> dict[str, Any]:
    """The campaign's reward and notification with the winning variant's overrides applied."""
    data: dict[str, Any] = {}
    reward = dict(campaign.reward or {})
    if variant.reward_type:
        reward["type"] = variant.reward_type
    if variant.reward_value is not None:
        reward["value"] = format(variant.reward_value.normalize(), "f")
    if variant.reward_description:
        reward["description"] = variant.reward_description
    if reward != (campaign.reward or {}):
        data["reward"] = reward
    notification = dict(campaign.notification or {})
    if variant.message_title:
        notification["title"] = variant.message_title
    if variant.message_body:
        notification["body"] = variant.message_body
    if notification != (campaign.notification or {}):
        data["notification"] = notification
    return data


@transaction.atomic
def experiment_conclude(*, experiment_id: int, actor: str, winner: str | None = None) -> Experiment:
    """Stop the experiment and send the winner to everyone: assign answers it for every customer, and its
    overrides become the campaign's own reward and message (a campaign edit, versioned and audited).

    `winner` defaults to the results' winner; with none declared and none given → 409.
    """
    from experiments.selectors import experiment_results  # the selector reads the model this module writes

    experiment = Experiment.objects.select_for_update().select_related("campaign").get(pk=experiment_id)
    if experiment.status != Experiment.Status.RUNNING:
        raise ConflictError(f"Experiment {experiment.pk} is already concluded.", code="experiment_concluded")
    variants = {v.key: v for v in experiment.variants.all()}
    if winner is None:
        winner = experiment_results(experiment=experiment).winner
        if winner is None:
            raise ConflictError(
                "The results declare no winner yet; name the variant to roll out to conclude anyway.",
                code="no_winner",
            )
    if winner not in variants:
        raise ValidationFailed({"winner": [f"No variant {winner!r} in this experiment."]})
    experiment.status = Experiment.Status.CONCLUDED
    experiment.winner = winner
    experiment.concluded_at = timezone.now()
    experiment.save(update_fields=["status", "winner", "concluded_at", "updated_at"])
    campaign = experiment.campaign
    rollout = _rollout_data(campaign, variants[winner])
    if rollout and campaign.status in (Campaign.Status.DRAFT, Campaign.Status.ACTIVE, Campaign.Status.PAUSED):
        campaign_update(campaign_id=campaign.pk, actor=actor, data=rollout)
    audit_record(
        actor=actor,
        action="experiment.concluded",
        obj_or_type=experiment,
        changes={
            "status": {"before": "running", "after": "concluded"},
            "winner": {"before": "", "after": winner},
        },
    )
    events.emit(
        events.EventType.EXPERIMENT_CONCLUDED,
        {"experiment_id": experiment.pk, "campaign_id": campaign.pk, "winner": winner},
        occurred_at=experiment.concluded_at,
    )
    logger.info("experiment concluded", extra={"experiment_id": experiment.pk, "winner": winner})
    return experiment
