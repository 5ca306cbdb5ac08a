"""Archive runs: one row per campaign archive (and per purchase-retention sweep), resumable step by step."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class ArchiveRun(models.Model):
    """The record of archiving one campaign (or one batch of old purchases) to Parquet.

    `step` is the next step to do; a rerun after a crash starts there. The
    archive folder is the other half of the state: `manifest.json` exists if
    and only if the export finished (it is written last).
    """

    class Kind(models.TextChoices):
        CAMPAIGN = "campaign"
        PURCHASES = "purchases"

    class Status(models.TextChoices):
        RUNNING = "running"
        FAILED = "failed"
        COMPLETED = "completed"

    class Step(models.TextChoices):
        EXPORT = "export"
        VERIFY = "verify"
        PURGE = "purge"
        MARK = "mark"
        DONE = "done"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.PROTECT, null=True, blank=True, related_name="archive_runs"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    step = models.CharField(max_length=10, choices=Step.choices, default=Step.EXPORT)
    # Where the run's folder is: "<ARCHIVE_URL>/tenant=<schema>/campaign=<id>" (a path or s3:// URL).
    location = models.CharField(max_length=1000)
    # Purchase-retention runs: purchases received before this instant were candidates.
    cutoff = models.DateTimeField(null=True, blank=True)
    # {"evaluations": 1000, "dispatches": 200, ...} as written in the manifest.
    row_counts = models.JSONField(default=dict, blank=True)
    rows_exported = models.BigIntegerField(default=0)
    rows_purged = models.BigIntegerField(default=0)
    bytes_written = models.BigIntegerField(default=0)
    manifest_sha256 = models.CharField(max_length=64, blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Seconds of work summed over every attempt (a resumed run adds up).
    duration_seconds = models.FloatField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["campaign", "purchases"]),
                name="archive_run_kind_valid",
                violation_error_message="Kind must be campaign or purchases.",
            ),
            models.CheckConstraint(
                condition=Q(kind="campaign", campaign__isnull=False)
                | Q(kind="purchases", campaign__isnull=True, cutoff__isnull=False),
                name="archive_run_target_matches_kind",
                violation_error_message="A campaign run needs a campaign; a purchases run needs a cut-off and no campaign.",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["running", "failed", "completed"]),
                name="archive_run_status_valid",
                violation_error_message="Status must be running, failed or completed.",
            ),
            # A campaign is archived once: its run is resumed, never started twice.
            models.UniqueConstraint(
                fields=["campaign"],
                condition=Q(kind="campaign"),
                name="archive_run_one_per_campaign",
                violation_error_message="This campaign already has an archive run.",
            ),
            # At most one unfinished purchase-retention run: the next sweep resumes it first.
            models.UniqueConstraint(
                fields=["kind"],
                condition=Q(kind="purchases") & ~Q(status="completed"),
                name="archive_run_one_open_purchase_run",
                violation_error_message="An unfinished purchases archive run already exists.",
            ),
        ]

    def __str__(self) -> str:
        target = f"campaign {self.campaign_id}" if self.kind == self.Kind.CAMPAIGN else "purchases"
        return f"archive of {target} ({self.status}, {self.step})"
