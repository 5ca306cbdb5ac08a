"""Run work on a connection of its own, so that what it writes is COMMITTED.

For tests whose rows must be seen by another connection (a live server, a
worker thread, a racing thread) while the test itself keeps pytest-django's
rolled-back transaction — never `transactional_db`, whose flush would truncate
the public schema (the session's brands). The caller cleans up what it commits.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

from django.db import connection, connections
from django_tenants.utils import schema_context

T = TypeVar("T")


def in_committed_connection(work: Callable[[], T], *, schema: str | None = None, timeout: float = 60) -> T:
    """Run `work()` in a new thread (hence a new, autocommit connection), inside `schema` if given."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            if schema is None:
                outcome["value"] = work()
            else:
                with schema_context(schema):
                    outcome["value"] = work()
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=timeout)
    if thread.is_alive():
        raise TimeoutError(f"work in a committed connection did not finish within {timeout} s")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome.get("value")  # type: ignore[return-value]


def subprocess_database_url() -> str:
    """The test database's URL, for a process of its own (a TCP host, or the embedded server's socket)."""
    db = connection.settings_dict
    user = quote(db["USER"] or "", safe="")
    password = quote(db["PASSWORD"] or "", safe="")
    if not db["HOST"] or str(db["HOST"]).startswith("/"):
        return f"postgresql://{user}:{password}@/{db['NAME']}?host={db['HOST']}"
    return f"postgresql://{user}:{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


def sender_killed_mid_request(
    script: str, *args: str, arrived: threading.Event, extra_env: dict[str, str] | None = None
) -> bytes:
    """Run `python -c script args…` against the test database, SIGKILL it once `arrived` is set
    (the fake server received its request), and return what it had printed."""
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": subprocess_database_url(),
        **(extra_env or {}),
    }
    sender = subprocess.Popen(
        [sys.executable, "-c", script, *args],
        env=env,
        cwd=str(Path(__file__).resolve().parents[2]),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert arrived.wait(timeout=30), (
            sender.stderr.read().decode()[-2000:] if sender.poll() else "no request"
        )
        sender.send_signal(signal.SIGKILL)
        sender.wait(timeout=10)
    finally:
        if sender.poll() is None:
            sender.kill()
    return sender.stdout.read()
