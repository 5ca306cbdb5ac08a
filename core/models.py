"""`AuditEvent`: one row per state change a service made, who made it and what changed (SPEC §18).

The table lives in every brand's schema (and in public, for platform actions):
`core` is in both SHARED_APPS and TENANT_APPS. Rows are written only by
`core.audit.audit_record` inside the service's transaction, and are never
changed or deleted: the model refuses it, and so does a database trigger
(migration 0001), so neither a bug nor a raw `UPDATE` can rewrite history.
See docs/adr/0010-audit-events.md.
"""

from __future__ import annotations

from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone

# `campaign.activated`, `item_rules.imported`: lower-case words joined by dots, at least two.
ACTION_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"


class AuditEventIsAppendOnly(Exception):
    """Someone tried to change or delete an audit event."""


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> int:
        raise AuditEventIsAppendOnly("Audit events are never changed.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AuditEventIsAppendOnly("Audit events are never deleted.")


class AuditEvent(models.Model):
    at = models.DateTimeField(default=timezone.now)
    # "user:<username>", "api-key:<key name>" or "system" (core.actors): a string, not a foreign key,
    # so the history still names a user or key that was deleted since.
    actor = models.CharField(max_length=200)
    action = models.CharField(max_length=100)
    # The model's label ("campaigns.campaign") and its primary key as text (ids, UUIDs).
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=100)
    # {"field": {"before": ..., "after": ...}} of the fields that changed (JSON values; secrets redacted).
    changes = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    # The API request's (or the task's) correlation id, "" when there was none (beat, commands).
    request_id = models.CharField(max_length=64, blank=True, default="")

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = "audit event"
        indexes = [
            models.Index(fields=["object_type", "object_id", "-at"], name="audit_object_idx"),
            models.Index(fields=["-at"], name="audit_at_idx"),
            models.Index(fields=["actor", "-at"], name="audit_actor_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(action__regex=ACTION_PATTERN),
                name="audit_action_dotted",
                violation_error_message="Action must be dotted lower-case words, like campaign.activated.",
            ),
            models.CheckConstraint(
                condition=~Q(actor=""),
                name="audit_actor_not_empty",
                violation_error_message="Actor is required.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}:{self.object_id} by {self.actor}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AuditEventIsAppendOnly("Audit events are never changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AuditEventIsAppendOnly("Audit events are never deleted.")
