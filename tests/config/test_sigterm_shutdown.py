"""Every process of `make run` and of the Docker roles exits within 10 s of SIGTERM (Docker's and
Kubernetes' stop signal), Celery beat included — also when the signal lands mid-query."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import psycopg
import redis
from django.conf import settings
from django.db import connection
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from tests.resilience.stack import ROOT, free_port, stack_env, stop_group, wait_until
from tests.support.committed import in_committed_connection, subprocess_database_url

SIGTERM_DEADLINE_SECONDS = 10


def _env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    return stack_env(
        DATABASE_URL=subprocess_database_url(),
        REDIS_URL=settings.REDIS_URL,
        BEAT_LOCK_KEY=f"cbo:beat:test-sigterm:{uuid.uuid4().hex}",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"),
        **overrides,
    )


def _answers(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.status == 200


def _group_members(pgid: int) -> set[int]:
    out = subprocess.run(["ps", "-o", "pid=,pgid=,stat=", "-A"], capture_output=True, text=True).stdout
    members = set()
    for line in out.splitlines():
        pid, group, stat = line.split()[:3]
        if int(group) == pgid and not stat.startswith("Z"):
            members.add(int(pid))
    return members


def _exit_seconds(pids: set[int], pgid: int, *, limit: float) -> float | None:
    """Seconds until none of `pids` (nor anything else in the group) runs any more; None past `limit`."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if not _group_members(pgid):
            return time.monotonic() - started
        time.sleep(0.05)
    return None


def _pg_connect(*, autocommit: bool = False) -> psycopg.Connection:
    db = connection.settings_dict
    return psycopg.connect(
        dbname=db["NAME"],
        user=db["USER"] or None,
        password=db["PASSWORD"] or None,
        host=db["HOST"] or None,
        port=db["PORT"] or None,
        autocommit=autocommit,
    )


def _log_tail(path: Path) -> str:
    return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def test_make_run_stack_stops_on_sigterm_within_10_seconds(brands, tmp_path):
    """scripts/run_stack.sh (web, worker, beat, fake partner): SIGTERM to the script stops them all."""
    port, partner_port = free_port(), free_port()
    env = _env(tmp_path, PY=sys.executable, PORT=str(port), FAKE_PARTNER_PORT=str(partner_port))
    log = tmp_path / "stack.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["bash", "scripts/run_stack.sh"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        up = wait_until(
            lambda: (
                _answers(f"http://127.0.0.1:{port}/readyz")
                and _answers(f"http://127.0.0.1:{partner_port}/healthz")
                and "The demo is up" in log.read_text(errors="replace")
            ),
            timeout=90,
            interval=0.5,
        )
        assert up, _log_tail(log)
        members = _group_members(proc.pid)
        commands = subprocess.run(
            ["ps", "-o", "args=", "-p", ",".join(map(str, members))], capture_output=True, text=True
        ).stdout
        for role in ("gunicorn", "worker", "beat", "fake_partner"):
            assert role in commands, commands

        os.kill(proc.pid, signal.SIGTERM)
        seconds = _exit_seconds(members, proc.pid, limit=SIGTERM_DEADLINE_SECONDS + 5)
    finally:
        stop_group(proc)
    assert seconds is not None and seconds < SIGTERM_DEADLINE_SECONDS, _log_tail(log)
    assert proc.wait(5) == 0


def test_web_role_gunicorn_stops_on_sigterm_within_10_seconds(brands, tmp_path):
    """The Dockerfile's default command, SIGTERM to the process itself (what `docker stop` sends PID 1).

    The worker and beat roles run the same `celery -A config worker|beat` commands as run_stack.sh
    (the test above), and beat's hard case is the next test.
    """
    port = free_port()
    log = tmp_path / "web.log"
    env = _env(tmp_path, GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS="2")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi:application"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        assert wait_until(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), timeout=60), _log_tail(log)
        members = _group_members(proc.pid)
        os.kill(proc.pid, signal.SIGTERM)
        seconds = _exit_seconds(members, proc.pid, limit=SIGTERM_DEADLINE_SECONDS + 5)
    finally:
        stop_group(proc)
    assert seconds is not None and seconds < SIGTERM_DEADLINE_SECONDS, _log_tail(log)


def test_beat_stops_on_sigterm_that_lands_while_its_tick_waits_on_the_database(brands, db, tmp_path):
    """Celery's own handler saved the schedule inside the signal handler, on the connection the
    interrupted query still held: beat deadlocked (still running 30 s later). config/celery.py."""
    # An entry that is due at once and every second: beat sends it, so the schedule has unsaved
    # changes when the signal comes (with nothing to save, the handler never touched the database).
    # Its queue has no consumer; the messages are deleted after.
    queue = f"sigterm-test-{uuid.uuid4().hex}"

    def add_entry() -> int:
        every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
        return PeriodicTask.objects.create(
            name=queue, task="tests.sigterm_noop", interval=every_second, queue=queue
        ).pk

    entry_id = in_committed_connection(add_entry)
    log = tmp_path / "beat.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO"],
            cwd=ROOT,
            env=_env(tmp_path),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    blocker = _pg_connect()
    try:
        # Beat is ticking (its signal handlers are installed) once it has taken the beat lock.
        assert wait_until(
            lambda: "beat took the lock" in log.read_text(errors="replace"), timeout=30, interval=0.2
        ), _log_tail(log)
        assert wait_until(lambda: redis.Redis.from_url(settings.REDIS_URL).llen(queue) > 0, timeout=10)
        # Each tick asks django_celery_beat_periodictasks whether the schedule changed: hold it.
        blocker.execute("BEGIN")
        blocker.execute("LOCK TABLE public.django_celery_beat_periodictasks IN ACCESS EXCLUSIVE MODE")

        def beat_waits() -> bool:
            with _pg_connect(autocommit=True) as probe:
                row = probe.execute(
                    "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = "
                    "'public.django_celery_beat_periodictasks'::regclass"
                ).fetchone()
            return bool(row and row[0])

        assert wait_until(beat_waits, timeout=15, interval=0.2), _log_tail(log)
        members = _group_members(proc.pid)
        os.kill(proc.pid, signal.SIGTERM)
        seconds = _exit_seconds(members, proc.pid, limit=SIGTERM_DEADLINE_SECONDS + 5)
    finally:
        blocker.rollback()
        blocker.close()
        stop_group(proc)
        in_committed_connection(lambda: PeriodicTask.objects.filter(pk=entry_id).delete())
        redis.Redis.from_url(settings.REDIS_URL).delete(queue)
    assert seconds is not None and seconds < SIGTERM_DEADLINE_SECONDS, _log_tail(log)
