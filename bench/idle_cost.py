"""Idle cost: CPU of web + worker + beat + PostgreSQL with no traffic, for N brands against 2 brands in the same run.

Goal (issue 15): < 1 % of one core with 500 brands, and at most 1.5 × the 2-brand figure.

Starts the stack as `make run` does — the web tier (gunicorn as in production, or `runserver`), one
Celery worker (prefork, concurrency 2) and beat with the real schedule (`setup_periodic_tasks`) —
waits `--warmup` seconds (new brands are due at once: their first ticks happen then), and measures
the CPU time of the three process trees with psutil (sampled every few seconds, children
included) over `--seconds`, plus the PostgreSQL backends serving this database (processes whose
title names it; the server's shared background processes are not counted). Redis is not counted.

Two phases, same run: first a database of 2 brands (DATABASE_URL's name + `_idle2`), then
DATABASE_URL's database with `--brands` brands (idle_1…, created with `create_brands`). Beat ticks
every brand of a database, not only those it created: the RESULT line says how many there were.

    .venv/bin/python bench/idle_cost.py [--brands 500] [--seconds 300] [--web runserver]

Last line: `RESULT cpu_percent_of_one_core=… baseline_2_brands_percent=… ratio=… postgres_percent=…
seconds=… brands=… loadavg=…`.
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
from _report import load_average, result

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
LOG_DIR = Path(os.environ.get("TMPDIR", "/tmp"))


def manage(env: dict, *args: str) -> str:
    return subprocess.run(
        [PY, "manage.py", *args], cwd=ROOT, env=env, check=True, stdout=subprocess.PIPE, text=True
    ).stdout


def brand_count(env: dict) -> int:
    code = "from tenants.models import Brand; print(Brand.objects.exclude(schema_name='public').count())"
    return int(manage(env, "shell", "-c", code).split()[-1])


def prepare(env: dict, brands: int) -> None:
    previous = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = env.get("DATABASE_URL", "")
    try:
        ensure_database()
    finally:
        if previous is None:
            os.environ.pop("DATABASE_URL", None)
        else:
            os.environ["DATABASE_URL"] = previous
    manage(env, "migrate_schemas", "--executor=parallel", "--verbosity=0")
    manage(env, "setup_periodic_tasks")
    manage(env, "create_brands", "--count", str(brands), "--prefix", "idle", "--verbosity=0")


def postgres_backends(database: str) -> list[psutil.Process]:
    """PostgreSQL backends serving `database` (their title is `postgres: user database host …`)."""
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if cmdline.startswith("postgres: ") and f" {database} " in f"{cmdline} ":
            found.append(proc)
    return found


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


def measure(
    roots: dict[str, psutil.Process], seconds: float, database: str, every: float = 2.0
) -> dict[str, float]:
    """CPU seconds per role over `seconds`: per-process deltas between samples, new processes from 0."""
    last: dict[int, tuple[str, float]] = {}
    used = dict.fromkeys([*roots, "postgres"], 0.0)

    def processes():
        for role, root in roots.items():
            for proc in tree(root):
                yield role, proc
        for proc in postgres_backends(database):
            yield "postgres", proc

    for role, proc in processes():
        try:
            last[proc.pid] = (role, cpu_seconds(proc))
        except psutil.NoSuchProcess:
            pass
    deadline = time.monotonic() + seconds
    while True:
        time.sleep(max(0.0, min(every, deadline - time.monotonic())))
        for role, proc in processes():
            try:
                now = cpu_seconds(proc)
            except psutil.NoSuchProcess:
                continue
            _, before = last.get(proc.pid, (role, 0.0))
            used[role] += max(0.0, now - before)
            last[proc.pid] = (role, now)
        if time.monotonic() >= deadline:
            return used


def database_name(url: str) -> str:
    return url.rpartition("/")[2].split("?", 1)[0]


def run_phase(args, database_url: str, brands: int) -> tuple[dict[str, float], int]:
    """Prepare a database with `brands` brands, start the stack on it, measure; (CPU s per role, brands)."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "LOG_LEVEL": "WARNING",
    }
    if not args.skip_prepare:
        prepare(env, brands)
    count = brand_count(env)
    procs = {role: start(role, args.web, args.port, env) for role in ("web", "worker", "beat")}
    try:
        time.sleep(args.warmup)
        for role, proc in procs.items():
            if proc.poll() is not None:
                tail = (LOG_DIR / f"idle-{role}.log").read_text(errors="replace")[-2000:]
                sys.exit(f"{role} exited during start-up (code {proc.returncode}):\n{tail}")
        roots = {role: psutil.Process(proc.pid) for role, proc in procs.items()}
        print(
            f"measuring {args.seconds:.0f} s of idle ({args.web}, worker, beat, PostgreSQL; {count} brands; "
            f"load average {load_average()})…",
            flush=True,
        )
        used = measure(roots, args.seconds, database_name(database_url))
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
    for role, seconds in used.items():
        print(
            f"  {role:8s} {seconds:7.2f} CPU s = {100 * seconds / args.seconds:.3f} % of one core", flush=True
        )
    return used, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--warmup", type=float, default=60, help="seconds after start-up before measuring")
    parser.add_argument("--brands", type=int, default=500, help="brands idle_1… of the measured database")
    parser.add_argument(
        "--baseline-brands", type=int, default=2, help="brands of the same-run baseline (0: skip)"
    )
    parser.add_argument("--web", choices=["gunicorn", "runserver", "runserver-noreload"], default="gunicorn")
    parser.add_argument("--port", type=int, default=0, help="web port (default: a free one)")
    parser.add_argument("--skip-prepare", action="store_true")
    args = parser.parse_args()

    if not args.port:
        args.port = free_port()
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")):
        sys.exit(
            "idle_cost.py needs DATABASE_URL naming a PostgreSQL database over TCP (two databases are used)"
        )
    baseline = None
    if args.baseline_brands:
        base, _, name = database_url.rpartition("/")
        name, _, query = name.partition("?")
        small_url = f"{base}/{name}_idle2" + (f"?{query}" if query else "")
        print(f"baseline: {args.baseline_brands} brands in {database_name(small_url)}", flush=True)
        used, _ = run_phase(args, small_url, args.baseline_brands)
        baseline = 100 * sum(used.values()) / args.seconds
    print(f"measured: {args.brands} brands in {database_name(database_url)}", flush=True)
    used, brands = run_phase(args, database_url, args.brands)
    total = 100 * sum(used.values()) / args.seconds
    result(
        cpu_percent_of_one_core=f"{total:.3f}",
        baseline_2_brands_percent=f"{baseline:.3f}" if baseline is not None else "none",
        ratio=f"{total / baseline:.2f}" if baseline else "none",
        postgres_percent=f"{100 * used['postgres'] / args.seconds:.3f}",
        seconds=f"{args.seconds:.0f}",
        brands=brands,
    )


if __name__ == "__main__":
    main()
