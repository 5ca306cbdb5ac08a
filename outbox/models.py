import uuid

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q


class OutboxMessage(models.Model):
    """A task to send to Celery, written in the same transaction as the rows it is about.

    A message committed with its data survives a broker that is down at commit
    time: the relay sends it when the broker answers again.
    """

    task_name = models.CharField(max_length=200)
    args = models.JSONField(default=list)
    kwargs = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    relayed_at = models.DateTimeField(null=True, blank=True)
    relay_attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    # The correlation id of the request that caused it, carried into the task's logs.
    request_id = models.CharField(max_length=64, blank=True, default="")
    # A message of a brand lane (outbox/lanes.py) is run by a lane task that holds it until then.
    leased_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["id"], condition=Q(relayed_at__isnull=True), name="outbox_pending_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.task_name} #{self.pk}"


class DomainEvent(models.Model):
    """A domain event (SPEC §15's event types), written by `outbox.events.emit` in the causing transaction.

    Lower apps record what happened here without knowing who listens; the `webhooks` app fans each
    event out to the brand's subscribed endpoints (`fanned_out_at` set once their deliveries exist).
    The id is a UUID: it is the event's id in the webhook body, unique across brands.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    event_type = models.CharField(max_length=60)
    # Decimals as strings, datetimes as ISO 8601 (the JSON the webhook body carries).
    data = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    occurred_at = models.DateTimeField()
    fanned_out_at = models.DateTimeField(null=True, blank=True)
    # The correlation id of the request or task that caused it (logs of the fan-out and deliveries).
    request_id = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["occurred_at"]
        indexes = [
            models.Index(
                fields=["occurred_at"],
                condition=Q(fanned_out_at__isnull=True),
                name="domain_event_pending_idx",
            ),
            # The history purge (webhooks: WEBHOOK_HISTORY_DAYS).
            models.Index(fields=["occurred_at"], name="domain_event_occurred_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(event_type=""),
                name="domain_event_type_not_empty",
                violation_error_message="An event needs an event type.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.id}"
