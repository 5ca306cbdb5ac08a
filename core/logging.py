"""Log context: every record carries the tenant schema and the request id when known."""

from __future__ import annotations

import contextvars
import logging

from core import task_names

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "tenant"):
            try:
                from django.db import connection

                record.tenant = getattr(connection, "schema_name", None)
            except Exception:
                record.tenant = None
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


# The routine ticks of the schedule (every minute or more often): their worker "received" /
# "succeeded" lines are DEBUG records (PeriodicTickFilter), so idle logs stay quiet. What these
# tasks actually do (a dispatch sent, a campaign completed, an alarm) is logged by the services at
# INFO or above. tests/core/test_idle_logging.py keeps this list in step with tenants/schedules.py.
FREQUENT_PERIODIC_TASKS = frozenset(
    {
        task_names.FOR_EACH_TENANT,
        task_names.MAINTENANCE_DISPATCH,
        task_names.MAINTENANCE_TICK,
        task_names.MONITORING_TICK,
        task_names.REFRESH_TENANT_GAUGES,
        task_names.REFRESH_QUEUE_GAUGES,
        task_names.RELAY_OUTBOX,
        task_names.SEND_DUE_DISPATCHES,
        task_names.RETRY_DUE_NOTIFICATIONS,
        task_names.COMPLETE_EXPIRED_CAMPAIGNS,
        task_names.SWEEP_UNEVALUATED_PURCHASES,
        task_names.SEND_DUE_WEBHOOK_DELIVERIES,
        task_names.EXPIRE_RESERVATIONS,
        task_names.RUN_DUE_JOURNEYS,
    }
)


class PeriodicTickFilter(logging.Filter):
    """Routine lines of the frequent periodic jobs go to DEBUG: beat's "Sending due task" and the
    worker's "Task … received" / "Task … succeeded" of the ticks in FREQUENT_PERIODIC_TASKS.

    Those are one line per tick, about 50 a minute at idle, and say nothing. Failures (ERROR),
    retries (WARNING) and every other task's lines are untouched. With LOG_LEVEL=DEBUG the demoted
    lines are still written, marked DEBUG.
    """

    TASK_LOGGERS = frozenset({"celery.app.trace", "celery.worker.strategy"})

    def __init__(self, *, show: bool = False) -> None:
        super().__init__()
        self.show = show

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not self._is_tick_line(record):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return self.show

    def _is_tick_line(self, record: logging.LogRecord) -> bool:
        if record.name == "celery.beat":
            return str(record.msg).startswith("Scheduler: Sending due task")
        if record.name in self.TASK_LOGGERS and isinstance(record.args, dict):
            return record.args.get("name") in FREQUENT_PERIODIC_TASKS
        return False
