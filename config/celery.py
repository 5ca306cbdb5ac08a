"""The tenant-aware Celery app.

tenant-schemas-celery puts the schema of the connection that *sends* a task
into its headers and switches the worker's connection to that schema before
the task runs. Tasks sent from beat or from the public schema therefore run in
`public`: tenant tasks use `TenantOnlyTask` (via `@tenant_task`), which refuses
to be sent or to run there, and periodic jobs go through the public dispatcher
`tenants.tasks.for_each_tenant_task`, which sends one task per brand inside
that brand's schema.
"""

import os

from django.db import connection
from tenant_schemas_celery.app import CeleryApp
from tenant_schemas_celery.task import TenantTask

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")


class App(CeleryApp):
    def send_task(self, name, args=None, kwargs=None, **options):
        # A task sent by name (outbox relay, beat fan-out) would otherwise subscribe this process to
        # the task's result on the Redis result backend — with Redis down, 20 reconnects of 1 s inside
        # a web request (found by tests/resilience, ADR 0009). Nothing reads those results.
        # A registered task's own `ignore_result` wins (e.g. `tenants.schema_probe` wants its result).
        if "ignore_result" not in options:
            task = self.tasks.get(name)
            options["ignore_result"] = (
                task.ignore_result if task is not None else self.conf.task_ignore_result
            )
        return super().send_task(name, args=args, kwargs=kwargs, **options)


app = App("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class TenantContextError(RuntimeError):
    """A tenant task was sent or run in the public schema."""


def _public_schema_name() -> str:
    from django_tenants.utils import get_public_schema_name

    return get_public_schema_name()


class TenantOnlyTask(app.Task):  # type: ignore[name-defined]
    """A task that must run inside a brand's schema: it fails loudly in `public`."""

    abstract = True

    def apply_async(self, args=None, kwargs=None, **options):
        headers = options.get("headers") or {}
        schema = headers.get("_schema_name", connection.schema_name)
        if schema == _public_schema_name():
            raise TenantContextError(
                f"{self.name} is a tenant task: send it inside a brand's schema, not from public"
            )
        return super().apply_async(args=args, kwargs=kwargs, **options)

    def __call__(self, *args, **kwargs):
        if connection.schema_name == _public_schema_name():
            raise TenantContextError(
                f"{self.name} ran in the public schema; tenant tasks must carry a brand's schema"
            )
        return super().__call__(*args, **kwargs)


assert issubclass(TenantOnlyTask, TenantTask)


def tenant_task(*args, **kwargs):
    """`@tenant_task(...)`: like `@app.task`, for tasks that touch tenant models."""
    kwargs.setdefault("base", TenantOnlyTask)
    return app.task(*args, **kwargs)


# --- Beat stops on SIGTERM. Celery's own beat handler saves the schedule *inside* the signal
# handler: a signal that lands while the scheduler is in a database query (each tick asks whether
# the schedule changed) re-enters that same psycopg connection from the handler and deadlocks, so
# beat never exits — measured with a table lock holding the tick's query: still running 30 s after
# SIGTERM. The handler below only stops the loop; beat's `finally` then saves the schedule and
# releases the beat lock (config/beat.py) on the main path, once.
from celery import platforms  # noqa: E402
from celery.signals import beat_init  # noqa: E402


def _stop_beat(signum: int, frame: object) -> None:
    raise SystemExit()


@beat_init.connect
def _stop_beat_without_io_in_the_signal_handler(**kwargs) -> None:
    platforms.signals.update(SIGTERM=_stop_beat, SIGINT=_stop_beat)


# --- Metrics of worker processes: an exporter in the worker's main process when
# WORKER_METRICS_PORT is set (a worker on another host than the web tier cannot share
# its PROMETHEUS_MULTIPROC_DIR with it).
from celery.signals import worker_init  # noqa: E402


@worker_init.connect
def _start_worker_metrics_exporter(**kwargs) -> None:
    port = os.environ.get("WORKER_METRICS_PORT")
    if not port:
        return
    from prometheus_client import REGISTRY, CollectorRegistry, multiprocess, start_http_server

    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    start_http_server(int(port), registry=registry)
