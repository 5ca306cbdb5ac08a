"""Journeys (SPEC §19): a graph of steps a customer walks through, one enrollment per walk.

A journey's steps are kept per `version`: editing a journey that has enrollments writes its steps
again under the next version, and every enrollment keeps the version it entered with (its
`version`), so a change never moves a customer already on the way. `StepRun` is unique per
(enrollment, step): a step runs at most once per enrollment, which is what makes a send idempotent
(the message's id is derived from its step run).
"""

from __future__ import annotations

from datetime import timedelta

from django.db import models
from django.db.models import Q

MAX_WAIT_FOR_EVENT = timedelta(days=31)
LIVE_STATES = ("active", "waiting")


class Journey(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft"
        ACTIVE = "active"
        PAUSED = "paused"

    class ReEntry(models.TextChoices):
        NEVER = "never"
        AFTER_DAYS = "after_days"

    name = models.CharField(max_length=200, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    version = models.PositiveIntegerField(default=1, help_text="The steps new enrollments enter with.")
    entry_segment = models.ForeignKey(
        "customers.Segment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="journeys",
        help_text="Customers enter when they are members of this segment.",
    )
    entry_event = models.CharField(
        max_length=100,
        blank=True,
        default="",
        help_text="Customers enter when an event of this name arrives.",
    )
    re_entry = models.CharField(max_length=10, choices=ReEntry.choices, default=ReEntry.NEVER)
    re_entry_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="With re_entry after_days: days after the last entry."
    )
    exit_event = models.CharField(
        max_length=100, blank=True, default="", help_text="An event of this name ends an enrollment at once."
    )
    campaign = models.ForeignKey(
        "campaigns.Campaign",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="journeys",
        help_text="The campaign its messages are attributed to (metrics, experiments).",
    )
    # When the maintenance tick last enrolled the members of a dynamic entry segment.
    segment_checked_at = models.DateTimeField(null=True, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["draft", "active", "paused"]),
                name="journey_status_valid",
                violation_error_message="Status is draft, active or paused.",
            ),
            models.CheckConstraint(
                condition=(Q(entry_segment__isnull=False) & Q(entry_event=""))
                | (Q(entry_segment__isnull=True) & ~Q(entry_event="")),
                name="journey_one_entry",
                violation_error_message="A journey is entered by a segment or by an event name, not both.",
            ),
            models.CheckConstraint(
                condition=(Q(re_entry="never") & Q(re_entry_days__isnull=True))
                | (Q(re_entry="after_days") & Q(re_entry_days__isnull=False) & Q(re_entry_days__gte=1)),
                name="journey_re_entry_days",
                violation_error_message="Days before re-entry (at least 1) go with re-entry after days, and only with it.",
            ),
            models.CheckConstraint(
                condition=Q(version__gte=1),
                name="journey_version_positive",
                violation_error_message="Version starts at 1.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class StepKind(models.TextChoices):
    SEND = "send"
    WAIT = "wait"
    WAIT_FOR_EVENT = "wait_for_event"
    BRANCH = "branch"
    SPLIT = "split"
    EXIT = "exit"


class JourneyStep(models.Model):
    """One step of one version of a journey; transitions name other steps of the same version by key.

    A missing `next_key` ends the enrollment (completed). `branches` and `variant_next` are validated
    by journeys/steps.py (pydantic) before they are written.
    """

    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="steps")
    version = models.PositiveIntegerField()
    key = models.SlugField(max_length=50)
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=20, choices=StepKind.choices)
    next_key = models.CharField(max_length=50, blank=True, default="")
    # send
    channel = models.CharField(max_length=10, blank=True, default="")
    category = models.CharField(max_length=13, blank=True, default="")
    topic = models.CharField(max_length=100, blank=True, default="")
    subject = models.CharField(max_length=255, blank=True, default="")
    body_text = models.TextField(blank=True, default="")
    # wait: a duration, or until a local time of day (the customer's timezone, else the brand's)
    wait_seconds = models.PositiveIntegerField(null=True, blank=True)
    wait_until_local = models.TimeField(null=True, blank=True)
    # wait_for_event: the event, its timeout and where a timeout goes
    event_name = models.CharField(max_length=100, blank=True, default="")
    timeout_seconds = models.PositiveIntegerField(null=True, blank=True)
    timeout_next_key = models.CharField(max_length=50, blank=True, default="")
    # branch: [{"condition": <customers DSL>, "next": key}], first match wins, else next_key
    branches = models.JSONField(default=list, blank=True)
    # split: the experiment's variant → step key; a customer outside its coverage goes to next_key
    experiment = models.ForeignKey(
        "experiments.Experiment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="journey_steps",
    )
    variant_next = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["journey", "version", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["journey", "version", "key"],
                name="journey_step_key_unique",
                violation_error_message="Each step of a journey has its own key.",
            ),
            models.UniqueConstraint(
                fields=["journey", "version", "position"],
                name="journey_step_position_unique",
                violation_error_message="Each step of a journey has its own position.",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=StepKind.values),
                name="journey_step_kind_valid",
                violation_error_message="Kind is send, wait, wait for an event, branch, split or exit.",
            ),
            models.CheckConstraint(
                condition=~Q(kind="wait_for_event")
                | (
                    ~Q(event_name="")
                    & Q(timeout_seconds__isnull=False)
                    & Q(timeout_seconds__gte=1)
                    & Q(timeout_seconds__lte=int(MAX_WAIT_FOR_EVENT.total_seconds()))
                ),
                name="journey_step_wait_for_event_timeout",
                violation_error_message="Waiting for an event needs the event name and a timeout of at most 31 days.",
            ),
            models.CheckConstraint(
                condition=~Q(kind="wait")
                | (Q(wait_seconds__isnull=False) & Q(wait_until_local__isnull=True))
                | (Q(wait_seconds__isnull=True) & Q(wait_until_local__isnull=False)),
                name="journey_step_wait_one_of",
                violation_error_message="A wait takes a duration or a local time, one of them.",
            ),
            models.CheckConstraint(
                condition=~Q(kind="split") | Q(experiment__isnull=False),
                name="journey_step_split_experiment",
                violation_error_message="A split needs an experiment.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.kind})"


class Enrollment(models.Model):
    """One customer's walk through one version of a journey.

    `active`: due at `next_run_at` to run its current step; `waiting`: inside a wait or
    wait_for_event step until `next_run_at` (an awaited event brings it forward). `completed` and
    `exited` are final. At most one live enrollment per journey and customer (partial unique index).
    """

    class State(models.TextChoices):
        ACTIVE = "active"
        WAITING = "waiting"
        COMPLETED = "completed"
        EXITED = "exited"

    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="enrollments")
    version = models.PositiveIntegerField()
    customer_id = models.CharField(max_length=200)
    state = models.CharField(max_length=10, choices=State.choices, default=State.ACTIVE)
    step_key = models.CharField(max_length=50, blank=True, default="")
    next_run_at = models.DateTimeField(null=True, blank=True)
    step_entered_at = models.DateTimeField(null=True, blank=True)
    variant = models.CharField(max_length=100, blank=True, default="")
    exit_reason = models.CharField(max_length=30, blank=True, default="")
    entered_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-entered_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["journey", "customer_id"],
                condition=Q(state="active") | Q(state="waiting"),
                name="enrollment_one_live_per_customer",
                violation_error_message="The customer is already on this journey.",
            ),
            models.CheckConstraint(
                condition=Q(state__in=["active", "waiting", "completed", "exited"]),
                name="enrollment_state_valid",
                violation_error_message="State is active, waiting, completed or exited.",
            ),
            models.CheckConstraint(
                condition=(Q(state="active") | Q(state="waiting"))
                & Q(next_run_at__isnull=False)
                & Q(finished_at__isnull=True)
                | (Q(state="completed") | Q(state="exited")) & Q(finished_at__isnull=False),
                name="enrollment_live_is_due",
                violation_error_message="A live enrollment has a due time; a finished one its end.",
            ),
        ]
        indexes = [
            # The executor's due scan: partial, so it costs O(due), not O(enrollments); with the id, a
            # run's cursor starts after the rows it already advanced (their old versions stay in the
            # index until vacuum, and every batch would wade through them again).
            models.Index(
                fields=["next_run_at", "id"],
                name="enrollment_due_idx",
                condition=Q(state="active") | Q(state="waiting"),
            ),
            models.Index(fields=["customer_id", "journey"], name="enrollment_customer_idx"),
            models.Index(fields=["journey", "state", "step_key"], name="enrollment_step_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} on journey {self.journey_id} v{self.version} ({self.state})"


class StepRun(models.Model):
    """A step run for an enrollment: written in the transaction that runs the step, at most once."""

    class Outcome(models.TextChoices):
        SENT = "sent"  # the message was decided to go (queued)
        SKIPPED = "skipped"  # the gate skipped the message (skip_reason says why)
        DEFERRED = "deferred"  # the gate deferred the message; it goes later on its own
        WAITING = "waiting"
        WAITED = "waited"
        EVENT = "event"
        TIMEOUT = "timeout"
        MATCHED = "matched"  # branch: a condition matched (detail: its index)
        DEFAULT = "default"  # branch: none matched; split: outside the coverage
        ASSIGNED = "assigned"  # split (detail: the variant)
        EXITED = "exited"

    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="step_runs")
    step = models.ForeignKey(JourneyStep, on_delete=models.CASCADE, related_name="runs")
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    detail = models.CharField(max_length=100, blank=True, default="")
    message_id = models.UUIDField(null=True, blank=True)
    next_key = models.CharField(max_length=50, blank=True, default="")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["started_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["enrollment", "step"],
                name="step_run_once_per_enrollment",
                violation_error_message="A step runs at most once per enrollment.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.step_id} for enrollment {self.enrollment_id}: {self.outcome}"
