"""Idle cost: CPU used by web + worker + beat with no traffic (goal: < 1 % of one core over 5 minutes, ADR 0008).

Starts the stack as `make run` does — the web tier (gunicorn as in production, or `runserver`), one
Celery worker (prefork, concurrency 2) and beat with the real schedule (`setup_periodic_tasks`) — for
`--brands` brands, waits for the start-up to settle, then measures the CPU time of the three process
trees with psutil (sampled every few seconds, children included, so prefork children and gunicorn
workers count) over `--seconds`. PostgreSQL and Redis are not counted (they are shared services).

Beat fans out to every brand of the database, not only the `--brands` it creates: use a database of
your own (DATABASE_URL's, or the embedded one when unset); the RESULT line says how many there were.

    .venv/bin/python bench/idle_cost.py [--seconds 300] [--web runserver]

Last line: `RESULT cpu_percent_of_one_core=… seconds=… brands=… loadavg=…`.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
from _brand import ensure_database, free_port
from _report import result

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
LOG_DIR = Path(os.environ.get("TMPDIR", "/tmp"))


def manage(*args: str) -> str:
    return subprocess.run(
        [PY, "manage.py", *args], cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True
    ).stdout


def brand_count() -> int:
    code = "from tenants.models import Brand; print(Brand.objects.count())"
    return int(manage("shell", "-c", code).split()[-1])


def prepare(brands: int) -> None:
    ensure_database()
    manage("migrate_schemas", "--executor=standard")
    manage("setup_periodic_tasks")
    for index in range(1, brands + 1):
        manage(
            "create_brand",
            "--schema",
            f"idle_{index}",
            "--name",
            f"Idle {index}",
            "--domain",
            f"idle-{index}.localhost",
        )


def start(role: str, web: str, port: int, env: dict) -> subprocess.Popen:
    commands = {
        "web": (
            [str(Path(PY).parent / "gunicorn"), "-c", "config/gunicorn.py", "config.wsgi:application",
             "--bind", f"127.0.0.1:{port}", "--workers", "2", "--log-level", "warning", "--access-logfile", "/dev/null"]
            if web == "gunicorn"
            else [PY, "manage.py", "runserver", f"127.0.0.1:{port}", *(["--noreload"] if web == "runserver-noreload" else [])]
        ),
        "worker": [PY, "-m", "celery", "-A", "config", "worker", "--loglevel=WARNING", "--concurrency=2"],
        "beat": [PY, "-m", "celery", "-A", "config", "beat", "--loglevel=WARNING"],
    }  # fmt: skip
    log = open(LOG_DIR / f"idle-{role}.log", "wb")
    return subprocess.Popen(
        commands[role], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def tree(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


def measure(roots: dict[str, psutil.Process], seconds: float, every: float = 2.0) -> dict[str, float]:
    """CPU seconds per role over `seconds`: per-process deltas between samples, new processes from 0."""
    last: dict[int, tuple[str, float]] = {}
    used = dict.fromkeys(roots, 0.0)
    for role, root in roots.items():
        for proc in tree(root):
            try:
                last[proc.pid] = (role, cpu_seconds(proc))
            except psutil.NoSuchProcess:
                pass
    deadline = time.monotonic() + seconds
    while True:
        time.sleep(max(0.0, min(every, deadline - time.monotonic())))
        for role, root in roots.items():
            for proc in tree(root):
                try:
                    now = cpu_seconds(proc)
                except psutil.NoSuchProcess:
                    continue
                _, before = last.get(proc.pid, (role, 0.0))
                used[role] += max(0.0, now - before)
                last[proc.pid] = (role, now)
        if time.monotonic() >= deadline:
            return used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--warmup", type=float, default=30, help="seconds after start-up before measuring")
    parser.add_argument(
        "--brands", type=int, default=2, help="brands idle_1… to create (beat fans out to every brand)"
    )
    parser.add_argument("--web", choices=["gunicorn", "runserver", "runserver-noreload"], default="gunicorn")
    parser.add_argument("--port", type=int, default=0, help="web port (default: a free one)")
    parser.add_argument("--skip-prepare", action="store_true")
    args = parser.parse_args()

    if not args.port:
        args.port = free_port()
    if not args.skip_prepare:
        prepare(args.brands)
    brands = brand_count()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.base", "LOG_LEVEL": "WARNING"}
    procs = {role: start(role, args.web, args.port, env) for role in ("web", "worker", "beat")}
    try:
        time.sleep(args.warmup)
        for role, proc in procs.items():
            if proc.poll() is not None:
                tail = (LOG_DIR / f"idle-{role}.log").read_text(errors="replace")[-2000:]
                sys.exit(f"{role} exited during start-up (code {proc.returncode}):\n{tail}")
        roots = {role: psutil.Process(proc.pid) for role, proc in procs.items()}
        print(
            f"measuring {args.seconds:.0f} s of idle ({args.web}, worker, beat; {brands} brands)…",
            flush=True,
        )
        used = measure(roots, args.seconds)
    finally:
        for proc in procs.values():
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    total = sum(used.values())
    for role, seconds in used.items():
        print(f"{role:7s} {seconds:7.2f} CPU s = {100 * seconds / args.seconds:.3f} % of one core")
    result(
        cpu_percent_of_one_core=f"{100 * total / args.seconds:.3f}",
        seconds=f"{args.seconds:.0f}",
        brands=brands,
    )


if __name__ == "__main__":
    main()
