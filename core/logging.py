"""Log context: every record carries the tenant schema and the request id when known."""

from __future__ import annotations

import contextvars
import logging

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
        from core.task_names import FREQUENT_PERIODIC_TASKS

        if record.name == "celery.beat":
            return str(record.msg).startswith("Scheduler: Sending due task")
        if record.name in self.TASK_LOGGERS and isinstance(record.args, dict):
            return record.args.get("name") in FREQUENT_PERIODIC_TASKS
        return False
