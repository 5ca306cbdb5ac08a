"""Benchmark: generated content (SPEC §17, issue 21): the offline provider and the guard rails.

Both are pure (no database, no network), timed in this process with `time.perf_counter`:

* `offline_generate_ms`: one offline generation of 3 variants (the channels in turn, the three
  locales, a different brief each time), with `offline_baseline_ms` the SHA-256 of the canonical
  request alone (what seeds it) in the same run;
* `filter_us`: the guard rails on one draft (a policy compiled once per request, as the service
  does), over `--drafts` drafts: offline ones and the same with an invented price, percentage or date
  spliced in; with `filter_baseline_us` a bare `re.findall(r"\\d+")` over the same texts, and the count of
  drafts that passed (only the honest ones may; more is an error).

Each also comes as CPU time of this process (`…_cpu_…`): on a shared machine whose load average is
above its cores, the wall time includes the time this process waited for a core.

Goals: offline generation < 5 ms, filter < 500 µs a draft. The last line is
`RESULT offline_generate_ms=… filter_us=… … loadavg=…`.

Forecasts and budget allocation (analytics/, bench/_forecast.py) add `forecast_ms` (POST
/campaigns/{id}/forecast/, median) and `allocate_100_ms` (POST /budget-allocations/ across 100
campaigns with a year of daily figures each, median of 3), with their baselines of the same run
(`metrics_ms`, a plain metrics read of the same year; `curve_fit_ms`, one curve fit). Goals: forecast
< 200 ms, allocation across 100 campaigns < 1,000 ms. They need a database (a throw-away brand).

    .venv/bin/python bench/content.py [--generations 2000] [--drafts 2000] [--campaigns 100]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import re
import statistics
import time

import _brand  # bench/ is sys.path[0] when run as a script

_brand.setup_django()

from _report import result  # noqa: E402

FACTS = {
    "product": "winter boots",
    "discount": "20%",
    "price": "49.99 EUR",
    "ends_at": "2026-12-24",
    "promo_code": "XMAS25",
    "url": "https://shop.brand.example/boots",
}
CHANNELS = ("email", "sms", "push", "in_app")
LOCALES = ("en", "es", "pt")
INVENTIONS = ("€19.99", "35% off", "until 31 December", "R$ 99,90", "2 for 1", "treinta por ciento")


def _requests(count: int):
    from content.types import ContentRequest

    return [
        ContentRequest(
            channel=CHANNELS[i % 4],
            brief=f"Winter boots for loyal customers, wave {i}",
            facts=FACTS,
            tone=("friendly", "urgent", "premium", "playful")[i % 4],
            locale=LOCALES[i % 3],
            variants=3,
        )
        for i in range(count)
    ]


def measure_offline_generate(generations: int) -> dict[str, float]:
    """Milliseconds per offline generation of 3 variants, and the baseline: hashing the request alone."""
    from content.offline import OfflineProvider, canonical

    provider, requests = OfflineProvider(), _requests(generations)
    started, cpu_started = time.perf_counter(), time.process_time()
    for request in requests:
        provider.generate(request)
    generate_ms = (time.perf_counter() - started) * 1000 / generations
    generate_cpu_ms = (time.process_time() - cpu_started) * 1000 / generations
    started = time.perf_counter()
    for request in requests:
        hashlib.sha256(canonical(request.__dict__).encode()).hexdigest()
    baseline_ms = (time.perf_counter() - started) * 1000 / generations
    return {
        "offline_generate_ms": round(generate_ms, 3),
        "offline_generate_cpu_ms": round(generate_cpu_ms, 3),
        "offline_baseline_ms": round(baseline_ms, 4),
    }


def _drafts(count: int) -> list:
    """Offline drafts, every other one with an invented claim spliced into its body."""
    from content.guard_rails import DraftText
    from content.offline import OfflineProvider

    rng = random.Random(21)
    provider, drafts = OfflineProvider(), []
    for request in _requests(count // 3 + 1):
        for text in provider.generate(request):
            body = text.body
            if len(drafts) % 2:
                words = body.split(" ")
                words.insert(rng.randrange(len(words) + 1), rng.choice(INVENTIONS))
                body = " ".join(words)
            drafts.append(DraftText(request.channel, text.title, body, text.html))
    return drafts[:count]


def measure_filter(drafts_count: int) -> dict[str, float]:
    """Microseconds per draft through every guard rail, and the baseline: a bare digit scan."""
    from content.guard_rails import check_draft, compile_policy

    drafts = _drafts(drafts_count)
    policy = compile_policy(
        facts=FACTS, allowed_hosts=["brand.example"], blocked_terms=["cheap", "free gift"]
    )
    rounds, cpu_rounds = [], []
    passed = 0
    for _ in range(3):
        started, cpu_started = time.perf_counter(), time.process_time()
        passed = sum(check_draft(draft, policy).passed for draft in drafts)
        rounds.append((time.perf_counter() - started) * 1e6 / len(drafts))
        cpu_rounds.append((time.process_time() - cpu_started) * 1e6 / len(drafts))
    digits = re.compile(r"\d+")
    started = time.perf_counter()
    for draft in drafts:
        digits.findall(draft.title)
        digits.findall(draft.body)
        digits.findall(draft.html)
    baseline_us = (time.perf_counter() - started) * 1e6 / len(drafts)
    honest = (len(drafts) + 1) // 2
    if passed > honest:
        raise SystemExit(
            f"{passed} drafts passed the filter, only {honest} are honest: an invention got through"
        )
    return {
        "filter_us": round(statistics.median(rounds), 1),
        "filter_cpu_us": round(statistics.median(cpu_rounds), 1),
        "filter_baseline_us": round(baseline_us, 2),
        "filter_passed": passed,
        "filter_drafts": len(drafts),
    }


# --- Forecasts and budget allocation (analytics/, SPEC §17): bench/_forecast.py ------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=2000)
    parser.add_argument("--drafts", type=int, default=2000)
    parser.add_argument("--campaigns", type=int, default=100, help="campaigns of the allocation")
    parser.add_argument("--requests", type=int, default=30, help="forecast requests timed")
    args = parser.parse_args()
    generated = measure_offline_generate(args.generations)
    print(f"offline generation: {generated['offline_generate_ms']} ms for 3 variants "
          f"(hashing the request alone: {generated['offline_baseline_ms']} ms)")  # fmt: skip
    filtered = measure_filter(args.drafts)
    print(f"filter: {filtered['filter_us']} µs a draft over {filtered['filter_drafts']} drafts, "
          f"{filtered['filter_passed']} passed (bare digit scan: {filtered['filter_baseline_us']} µs)")  # fmt: skip
    import _forecast

    forecasted = _forecast.measure(campaigns=args.campaigns, requests=args.requests)
    result(**generated, **filtered, **forecasted)


if __name__ == "__main__":
    main()
