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
