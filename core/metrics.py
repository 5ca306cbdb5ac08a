"""Prometheus metrics (SPEC §10), one module so every series is declared in one place.

Counters and histograms are incremented where things happen (services and
tasks). Counts that come from the database (backlog, dead letters, outbox lag)
are gauges refreshed by a beat job (`metrics.refresh_tenant_gauges`, per brand),
never by a query per scrape. With several processes (gunicorn workers, Celery
prefork children) set PROMETHEUS_MULTIPROC_DIR to a directory shared by the web
and worker processes of a host; `/metrics` then aggregates all of them.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

PURCHASES_RECEIVED = Counter("cbo_purchases_received", "Purchases accepted by the ingestion API.", ["tenant"])
PURCHASES_EVALUATED = Counter(
    "cbo_purchases_evaluated", "Evaluations written (purchase x campaign).", ["tenant", "campaign"]
)
PURCHASES_ELIGIBLE = Counter(
    "cbo_purchases_eligible", "Eligible evaluations (purchase x campaign).", ["tenant", "campaign"]
)
EVALUATION_BATCH_SECONDS = Histogram(
    "cbo_evaluation_batch_seconds",
    "Time to evaluate one batch of purchases against the brand's campaigns.",
    ["tenant"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DISPATCH_ATTEMPTS = Counter(
    "cbo_dispatch_attempts",
    "Partner dispatch attempts by outcome (sent, retry, dead).",
    ["tenant", "partner", "outcome"],
)
DISPATCH_LATENCY_SECONDS = Histogram(
    "cbo_dispatch_latency_seconds",
    "Partner HTTP latency of dispatch attempts.",
    ["tenant", "partner"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
NOTIFICATIONS = Counter(
    "cbo_notifications",
    "Notification delivery attempts by outcome (sent, failed, dead).",
    ["tenant", "provider", "outcome"],
)
# Gauges from the database: "mostrecent" so the value set by the last refresh wins across processes.
DISPATCH_BACKLOG = Gauge(
    "cbo_dispatch_backlog", "Dispatches pending or retrying.", ["tenant"], multiprocess_mode="mostrecent"
)
DISPATCH_DEAD_LETTERS = Gauge(
    "cbo_dispatch_dead_letters",
    "Dead dispatches awaiting replay.",
    ["tenant"],
    multiprocess_mode="mostrecent",
)
OUTBOX_LAG_SECONDS = Gauge(
    "cbo_outbox_oldest_pending_seconds",
    "Age of the oldest outbox message not yet relayed to the broker (0 when none).",
    ["tenant"],
    multiprocess_mode="mostrecent",
)
CELERY_QUEUE_LENGTH = Gauge(
    "cbo_celery_queue_length",
    "Messages waiting in a Celery queue.",
    ["queue"],
    multiprocess_mode="mostrecent",
)


def render_latest() -> tuple[bytes, str]:
    """The exposition of every series of every process of this host."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
