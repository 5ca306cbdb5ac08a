"""Writes of journeys (SPEC §19): create, edit (a new version once customers are on it), activate,
pause, enrol one customer (ingest). Each writes one audit event in its transaction.

Versioning: the steps of a journey are rows per `version`. A draft nobody entered is edited in
place; a journey with enrollments (or active) gets its steps written again under `version + 1`,
new enrollments enter that version and enrollments on the way keep theirs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from campaigns.models import Campaign
from core.audit import audit_record, changes_between, model_update
from core.exceptions import ConflictError, NotFoundError, ValidationFailed, validate_model
from customers.models import Segment
from customers.services import customers_ensure
from customers.validation import customer_id_error
from experiments.models import Experiment
from journeys import entry
from journeys.models import Enrollment, Journey, JourneyStep
from journeys.steps import SplitStep, StepsError, parse_steps, step_document, step_fields
from tenants.work_due import work_due_soon

JOURNEY_FIELDS = [
    "name",
    "entry_segment",
    "entry_event",
    "re_entry",
    "re_entry_days",
    "exit_event",
    "campaign",
]


def _has_nul(value: Any) -> bool:
    """PostgreSQL stores no NUL character in text or jsonb: such input is a 400, not a 500."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _steps(data: Any, *, campaign: Campaign | None) -> list[Any]:
    if _has_nul(data):
        raise ValidationFailed({"steps": ["NUL characters are not allowed."]})
    try:
        steps = parse_steps(data)
    except StepsError as error:
        raise ValidationFailed(error.fields) from None
    experiment_ids = {s.experiment_id for s in steps if isinstance(s, SplitStep)}
    experiments = Experiment.objects.in_bulk(experiment_ids)
    fields: dict[str, list[str]] = {}
    for index, step in enumerate(steps):
        if not isinstance(step, SplitStep):
            continue
        experiment = experiments.get(step.experiment_id)
        where = f"steps[{index}].experiment_id"
        if experiment is None:
            fields[where] = [f"No experiment {step.experiment_id}."]
            continue
        if campaign is None or experiment.campaign_id != campaign.pk:
            fields[where] = [
                "A split's experiment must be one of the journey's campaign, so its results count the sends."
            ]
            continue
        keys = set(experiment.variants.values_list("key", flat=True))
        unknown = sorted(set(step.variants) - keys)
        if unknown:
            fields[f"steps[{index}].variants"] = [f"Not variants of the experiment: {', '.join(unknown)}."]
    if fields:
        raise ValidationFailed(fields)
    return steps


def _write_steps(journey: Journey, steps: list[Any], version: int) -> None:
    JourneyStep.objects.filter(journey=journey, version=version).delete()
    JourneyStep.objects.bulk_create(
        [
            JourneyStep(journey=journey, version=version, position=n, **step_fields(s))
            for n, s in enumerate(steps)
        ]
    )


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value < 2**63


def _entry_values(entry_data: Any) -> dict[str, Any]:
    if _has_nul(entry_data):
        raise ValidationFailed({"entry": ["NUL characters are not allowed."]})
    if (
        not isinstance(entry_data, dict)
        or len(entry_data) != 1
        or not set(entry_data) <= {"segment", "event"}
    ):
        raise ValidationFailed({"entry": ['Give {"segment": <id>} or {"event": "<name>"}.']})
    if "segment" in entry_data:
        segment = (
            Segment.objects.filter(pk=entry_data["segment"]).first()
            if _is_id(entry_data["segment"])
            else None
        )
        if segment is None:
            raise ValidationFailed({"entry.segment": [f"No segment {entry_data['segment']!r}."]})
        return {"entry_segment": segment, "entry_event": ""}
    name = entry_data["event"]
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise ValidationFailed({"entry.event": ["An event name of 1 to 100 characters."]})
    return {"entry_segment": None, "entry_event": name.strip()}


def _campaign(campaign_id: Any) -> Campaign | None:
    if campaign_id is None:
        return None
    campaign = Campaign.objects.filter(pk=campaign_id).first() if _is_id(campaign_id) else None
    if campaign is None:
        raise ValidationFailed({"campaign": [f"No campaign {campaign_id!r}."]})
    return campaign


def _values(data: dict[str, Any], journey: Journey | None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in ("name", "re_entry", "re_entry_days", "exit_event"):
        if name in data:
            values[name] = data[name]
    if "entry" in data:
        values.update(_entry_values(data["entry"]))
    if "campaign" in data:
        values["campaign"] = _campaign(data["campaign"])
    if values.get("re_entry") == Journey.ReEntry.NEVER and "re_entry_days" not in data:
        values["re_entry_days"] = None
    return values


def _save(journey: Journey) -> None:
    if journey.re_entry == Journey.ReEntry.AFTER_DAYS and not journey.re_entry_days:
        raise ValidationFailed({"re_entry_days": ["re_entry after_days needs re_entry_days (at least 1)."]})
    if journey.re_entry == Journey.ReEntry.NEVER and journey.re_entry_days is not None:
        raise ValidationFailed({"re_entry_days": ["re_entry_days goes with re_entry after_days only."]})
    validate_model(journey, exclude=["entry_segment", "campaign"])
    try:
        with transaction.atomic():
            journey.save()
    except IntegrityError as error:
        if "name" in str(error):
            raise ValidationFailed({"name": ["A journey with this name already exists."]}) from None
        raise


def _snapshot(journey: Journey) -> dict[str, Any]:
    return {
        "name": journey.name,
        "entry_segment": journey.entry_segment_id,
        "entry_event": journey.entry_event,
        "re_entry": journey.re_entry,
        "re_entry_days": journey.re_entry_days,
        "exit_event": journey.exit_event,
        "campaign": journey.campaign_id,
        "version": journey.version,
        "status": journey.status,
    }


def steps_of(journey: Journey, version: int | None = None) -> list[dict[str, Any]]:
    rows = JourneyStep.objects.filter(journey=journey, version=version or journey.version).order_by(
        "position"
    )
    return [step_document(step) for step in rows]


@transaction.atomic
def journey_create(*, data: dict[str, Any], actor: str) -> Journey:
    """A new journey (status draft), its steps as version 1."""
    if "entry" not in data:
        raise ValidationFailed({"entry": ['Give {"segment": <id>} or {"event": "<name>"}.']})
    journey = Journey(**_values(data, None))
    steps = _steps(data.get("steps"), campaign=journey.campaign)
    _save(journey)
    _write_steps(journey, steps, 1)
    audit_record(
        actor=actor,
        action="journey.created",
        obj_or_type=journey,
        changes={
            **changes_between(None, _snapshot(journey)),
            "steps": {"before": None, "after": steps_of(journey)},
        },
    )
    return journey


@transaction.atomic
def journey_update(*, journey_id: int, data: dict[str, Any], actor: str) -> Journey:
    """Edit a journey; new steps become a new version once the journey is active or has enrollments."""
    journey = Journey.objects.select_for_update().filter(pk=journey_id).first()
    if journey is None:
        raise NotFoundError(f"No journey {journey_id}.")
    changes = model_update(journey, _values(data, journey), fields=JOURNEY_FIELDS)
    if "steps" in data:
        steps = _steps(data["steps"], campaign=journey.campaign)
        before = steps_of(journey)
        new_version = journey.status != Journey.Status.DRAFT or journey.enrollments.exists()
        version = journey.version + 1 if new_version else journey.version
        _write_steps(journey, steps, version)
        after = [step_document(s) for s in JourneyStep.objects.filter(journey=journey, version=version)]
        if after != before or new_version:
            changes["steps"] = {"before": before, "after": after}
        if new_version:
            changes["version"] = {"before": journey.version, "after": version}
            journey.version = version
    elif "campaign" in changes:
        _steps(steps_of(journey), campaign=journey.campaign)  # a split must stay on the journey's campaign
    if changes:
        _save(journey)
        audit_record(actor=actor, action="journey.updated", obj_or_type=journey, changes=changes)
    return journey


def _transition(journey_id: int, *, allowed: tuple[str, ...], to: str, actor: str, action: str) -> Journey:
    journey = Journey.objects.select_for_update().filter(pk=journey_id).first()
    if journey is None:
        raise NotFoundError(f"No journey {journey_id}.")
    if journey.status not in allowed:
        raise ConflictError(
            f"A {journey.status} journey cannot be {action.split('.')[1]}.", code="invalid_transition"
        )
    before = journey.status
    journey.status = to
    fields = ["status", "updated_at"]
    if to == Journey.Status.ACTIVE:
        journey.activated_at = timezone.now()
        journey.segment_checked_at = None  # the next tick enrols the entry segment's members
        fields += ["activated_at", "segment_checked_at"]
    journey.save(update_fields=fields)
    audit_record(
        actor=actor, action=action, obj_or_type=journey, changes={"status": {"before": before, "after": to}}
    )
    if to == Journey.Status.ACTIVE:
        transaction.on_commit(work_due_soon)
    return journey


@transaction.atomic
def journey_activate(*, journey_id: int, actor: str) -> Journey:
    """draft or paused → active: customers enter, enrollments advance (paused ones carry on)."""
    return _transition(
        journey_id,
        allowed=("draft", "paused"),
        to=Journey.Status.ACTIVE,
        actor=actor,
        action="journey.activated",
    )


@transaction.atomic
def journey_pause(*, journey_id: int, actor: str) -> Journey:
    """active → paused: nobody enters and no enrollment advances until it is activated again."""
    return _transition(
        journey_id, allowed=("active",), to=Journey.Status.PAUSED, actor=actor, action="journey.paused"
    )


@transaction.atomic
def journey_enroll(
    *, journey_id: int, customer_id: Any, actor: str, now: datetime | None = None
) -> tuple[Enrollment, bool]:
    """Enrol one customer (`POST /journeys/{id}/enroll/`); (enrollment, created).

    The customer is created on first sight. Already on the journey: the live enrollment, not
    created. Barred by `re_entry`: 409 `re_entry_not_allowed`. A journey that is not active: 409.
    """
    problem = customer_id_error(customer_id)
    if problem:
        raise ValidationFailed(problem)
    journey = Journey.objects.filter(pk=journey_id).first()
    if journey is None:
        raise NotFoundError(f"No journey {journey_id}.")
    if journey.status != Journey.Status.ACTIVE:
        raise ConflictError("Only an active journey takes enrollments.", code="journey_not_active")
    now = now or timezone.now()
    customers_ensure(customer_ids=[customer_id], seen_at=now)
    created = bool(entry.enroll(journey=journey, customer_ids=[customer_id], now=now))
    enrollment = Enrollment.objects.filter(
        journey=journey, customer_id=customer_id, state__in=["active", "waiting"]
    ).first()
    if enrollment is None:
        raise ConflictError(
            "The journey's re-entry rule keeps this customer out for now.", code="re_entry_not_allowed"
        )
    if created:
        audit_record(
            actor=actor,
            action="journey.enrolled",
            obj_or_type=enrollment,
            changes={
                "after": {"journey": journey.pk, "customer_id": customer_id, "version": enrollment.version}
            },
        )
    return enrollment, created
