"""The last line of every benchmark: `RESULT key=value … loadavg=1m,5m,15m`.

A figure means little without the machine's load while it was measured (the cores are shared),
so the load average goes on the same line. `bench/run.py` collects these lines.
"""

from __future__ import annotations

import os


def load_average() -> str:
    return ",".join(f"{load:.2f}" for load in os.getloadavg())


def result(**figures: object) -> None:
    pairs = " ".join(f"{key}={value}" for key, value in figures.items())
    print(f"RESULT {pairs} loadavg={load_average()}", flush=True)
