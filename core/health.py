"""Readiness checks: can this process reach the database and the broker?"""

from __future__ import annotations

import time
from typing import Any

from django.db import connection


def _timed(check) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        check()
        ok, error = True, None
    except Exception as exc:
        ok, error = False, f"{type(exc).__name__}: {exc}"[:200]
    result: dict[str, Any] = {"ok": ok, "ms": round((time.perf_counter() - started) * 1000, 1)}
    if error:
        result["error"] = error
    return result


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _broker() -> None:
    from config.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=1)
        conn.default_channel.client.ping()


def readiness() -> dict[str, dict[str, Any]]:
    return {"database": _timed(_database), "broker": _timed(_broker)}
