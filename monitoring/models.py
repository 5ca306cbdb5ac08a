"""Per brand (tenant schema): the hourly rollup behind the dashboards, and the brand's health snapshot.

Both are maintained by the per-brand beat job `monitoring.tick` (monitoring/tasks.py), never written
by the request path: the dashboards read a few hundred rollup rows, not millions of raw rows.
Because they live in the brand's schema, a brand's dashboard cannot show another brand's figures.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models


class CampaignHourlyRollup(models.Model):
    """One campaign's figures for one UTC hour, recomputed from the raw rows (idempotent upsert).

    * evaluations by `evaluated_at`: `evaluated`, `eligible`, `eligible_value`;
    * partner dispatch attempts by `attempted_at` and outcome: `dispatch_sent`, `dispatch_retry`, `dispatch_dead`;
    * awards by `received_at`; notifications `sent` by `sent_at`, `failed` (failed or dead) by their last update.
    """

    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.CASCADE, related_name="hourly_rollups"
    )
    hour = models.DateTimeField(help_text="Start of the UTC hour.")
    evaluated = models.PositiveIntegerField(default=0)
    eligible = models.PositiveIntegerField(default=0)
    eligible_value = models.DecimalField(max_digits=20, decimal_places=4, default=Decimal(0))
    dispatch_sent = models.PositiveIntegerField(default=0)
    dispatch_retry = models.PositiveIntegerField(default=0)
    dispatch_dead = models.PositiveIntegerField(default=0)
    awards = models.PositiveIntegerField(default=0)
    notifications_sent = models.PositiveIntegerField(default=0)
    notifications_failed = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["campaign", "hour"]
        # The admin lists it as the dashboards (monitoring/admin.py), not as raw rows.
        verbose_name = "campaign dashboard"
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "hour"],
                name="rollup_unique_campaign_hour",
                violation_error_message="This campaign already has a rollup for this hour.",
            ),
        ]
        indexes = [models.Index(fields=["hour"], name="rollup_hour_idx")]

    def __str__(self) -> str:
        return f"campaign {self.campaign_id} @ {self.hour:%Y-%m-%d %H:00}"


class HealthSnapshot(models.Model):
    """The brand's current operational figures (one row, id 1), refreshed by the tick.

    The platform dashboard and the alarm rules read these instead of counting raw rows per page view.
    `partner_consecutive_failures` maps partner slug → failed attempts since its last success.
    """

    backlog = models.PositiveIntegerField(default=0, help_text="Dispatches pending or retrying.")
    dead_letters = models.PositiveIntegerField(default=0, help_text="Dead dispatches awaiting replay.")
    oldest_backlog_seconds = models.FloatField(
        default=0, help_text="Age of the oldest pending/retrying dispatch."
    )
    outbox_lag_seconds = models.FloatField(default=0, help_text="Age of the oldest unrelayed outbox message.")
    notifications_dead = models.PositiveIntegerField(default=0)
    partner_consecutive_failures = models.JSONField(default=dict, blank=True)
    computed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"health at {self.computed_at:%Y-%m-%d %H:%M:%S}"


class BrandAlarms(models.Model):
    """No table: the brand admin's entry for the brand's own alarms and alarm rules (read-only).

    Rules and alarms live in `public` (monitoring.alarms, a shared app), so the brand site cannot
    register them (ADR 0001). This page reads them through `monitoring.alarms.selectors.brand_alarms`,
    filtered to the brand being served; nothing on it can be changed.
    """

    class Meta:
        managed = False
        default_permissions = ()
        verbose_name = "alarm"
        verbose_name_plural = "alarms"

    def __str__(self) -> str:
        return "alarms"
