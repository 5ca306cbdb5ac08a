"""Run the benchmarks and sum up their RESULT lines: what `make bench` runs.

Which files are benchmarks: every bench/*.py whose name does not start with `_`, except those
in HELPERS below (this runner, and modules other benchmarks start or import). Files starting
with `_` are shared helpers (`_brand.py`, `_app.py`, …). A benchmark runs alone
(`.venv/bin/python bench/NAME.py`) and its last line is `RESULT key=value … loadavg=…`.

Each benchmark runs in its own process, in name order; its output streams through. One that
exits non-zero or prints no RESULT line is a failure, the others still run, and the exit
status is 1 when any failed. The summary at the end lists every RESULT line.

    .venv/bin/python bench/run.py --migrate            # migrate first (make bench), then all, real sizes
    .venv/bin/python bench/run.py                      # all of them, real sizes
    .venv/bin/python bench/run.py campaign_list rules  # some of them
    .venv/bin/python bench/run.py archive --args "--evaluations 20000"
    .venv/bin/python bench/run.py --quick              # small sizes (QUICK): checks they run;
                                                       # the figures are not the real ones
    .venv/bin/python bench/run.py --list
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent

# bench/*.py files that are not benchmarks (no RESULT line of their own).
HELPERS = {
    "run": "this runner",
    "partner_server": "a minimal HTTP partner that pipeline.py and pipeline_steps.py start",
    "naive_pipeline": "the baseline's Celery task, imported by pipeline.py's worker",
}

# Small sizes for `--quick` (make bench QUICK=1): a check that every benchmark runs end to end
# in a few minutes in all. Without --quick every benchmark runs with its own defaults, the sizes
# its targets are stated for.
QUICK = {
    "analytics": ["--campaigns", "10", "--exposures", "100000", "--requests", "30", "--track-seconds", "3"],
    "archive": ["--evaluations", "20000"],
    "brands": ["--count", "50", "--baseline", "1"],
    "closing": ["--brands", "50", "--lead", "30", "--spread", "10"],
    "codes": ["--quick"],
    "content": ["--generations", "200", "--drafts", "300", "--campaigns", "10", "--requests", "5"],
    "broadcast": ["--customers", "5000", "--baseline", "200"],
    "campaign_list": ["--campaigns", "200", "--warmup", "5", "--requests", "30"],
    "csv_import": ["--rows", "1000", "--runs", "1"],
    "dashboard": ["--rows", "20000"],
    "dispatch_send": ["100", "20"],
    "fairness": ["--purchases", "5000"],
    "idle_cost": ["--seconds", "15", "--warmup", "20", "--brands", "20"],
    "journeys": ["--quick"],
    "make_run": ["--seconds", "5"],
    "pipeline": ["--seconds", "5", "--baseline-seconds", "5"],
    "pipeline_steps": ["--batches", "2"],
    "rules": ["--purchases", "300"],
    "segments": ["--customers", "20000", "--events", "100000"],
    "webhooks": ["--events", "300"],
}


def benchmarks() -> list[str]:
    return sorted(
        path.stem
        for path in BENCH_DIR.glob("*.py")
        if not path.name.startswith("_") and path.stem not in HELPERS
    )


def load_average() -> str:
    return " ".join(f"{load:.2f}" for load in os.getloadavg())


def migrate() -> int:
    """What `make migrate` does, on a database created first when DATABASE_URL names a missing one."""
    sys.path.insert(0, str(BENCH_DIR))
    from _brand import ensure_database

    command = [sys.executable, "manage.py", "migrate_schemas", "--executor=parallel", "--verbosity=0"]
    print(f"=== migrate: {shlex.join(command[1:])}", flush=True)
    ensure_database()
    return subprocess.run(command, cwd=ROOT, check=False).returncode


def run_one(name: str, args: list[str]) -> tuple[int, str | None, float]:
    """(exit code, last RESULT line or None, seconds)."""
    command = [sys.executable, str(BENCH_DIR / f"{name}.py"), *args]
    shown = shlex.join([f"bench/{name}.py", *args])
    print(f"\n=== {name}: {shown} (load average {load_average()})", flush=True)
    started = time.monotonic()
    result = None
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            if line.startswith("RESULT "):
                result = line.strip()
        code = process.wait()
    except KeyboardInterrupt:
        process.terminate()
        process.wait()
        raise
    return code, result, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("names", nargs="*", help="benchmarks to run (file names without .py); default: all")
    parser.add_argument("--args", default="", help="options for the one benchmark named (one string)")
    parser.add_argument("--quick", action="store_true", help="small sizes: not the real figures")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and the helpers")
    parser.add_argument("--migrate", action="store_true", help="first migrate every schema (make bench)")
    options = parser.parse_args()

    available = benchmarks()
    if options.list:
        for name in available:
            print(name)
        for name, why in HELPERS.items():
            print(f"({name}: {why})")
        return 0
    names = [Path(name).name.removesuffix(".py") for name in options.names] or available
    unknown = [name for name in names if name not in available]
    if unknown:
        print(f"unknown: {', '.join(unknown)}; the benchmarks are {', '.join(available)}", file=sys.stderr)
        return 2
    extra = shlex.split(options.args)
    if extra and len(names) != 1:
        print("--args (BENCH_ARGS) needs exactly one benchmark (BENCH=name)", file=sys.stderr)
        return 2

    if options.migrate and migrate() != 0:
        print("migrate_schemas failed: no benchmark run", file=sys.stderr)
        return 1
    outcomes = []
    try:
        for name in names:
            args = extra or (QUICK.get(name, []) if options.quick else [])
            code, result, seconds = run_one(name, args)
            outcomes.append((name, code, result, seconds))
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130

    width = max(len(name) for name in names)
    print(f"\n=== summary{' (--quick: small sizes, not the real figures)' if options.quick else ''}")
    failed = 0
    for name, code, result, seconds in outcomes:
        if code == 0 and result:
            print(f"{name:<{width}}  ok      {seconds:6.0f} s  {result}")
        else:
            failed += 1
            why = f"exit code {code}" if code else "no RESULT line"
            print(f"{name:<{width}}  FAILED  {seconds:6.0f} s  ({why})")
    print(f"{len(outcomes) - failed} of {len(outcomes)} benchmarks ok; load average now {load_average()}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
