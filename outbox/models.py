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
