"""Fan-out of periodic jobs: beat runs in the public schema, work runs per brand.

beat sends `for_each_tenant_task("app.tasks.some_task")`; the dispatcher sends
`some_task` once per brand *inside that brand's schema*, so tenant-schemas-celery
tags each message with the right schema. Sends are staggered so that a minute's
job does not start every brand's work in the same instant.
"""

from __future__ import annotations

import logging

from django.db import connection
from django_tenants.utils import get_public_schema_name, schema_context

from config.celery import app, tenant_task
from core import task_names
from tenants.models import Brand

logger = logging.getLogger(__name__)


def brand_schemas() -> list[str]:
    return list(
        Brand.objects.exclude(schema_name=get_public_schema_name()).values_list("schema_name", flat=True)
    )


def for_each_tenant(task_name: str, *, args: list | None = None, stagger_seconds: float = 0.0) -> int:
    """Send `task_name` once per brand, each inside its own schema. Returns how many were sent."""
    sent = 0
    for index, schema in enumerate(brand_schemas()):
        with schema_context(schema):
            app.send_task(
                task_name, args=args or [], countdown=index * stagger_seconds if stagger_seconds else None
            )
        sent += 1
    return sent


@app.task(name=task_names.FOR_EACH_TENANT)
def for_each_tenant_task(task_name: str, args: list | None = None, stagger_seconds: float = 0.5) -> int:
    """The public dispatcher beat calls for every per-brand periodic job."""
    if connection.schema_name != get_public_schema_name():
        raise RuntimeError("for_each_tenant_task is a public dispatcher; send it from the public schema")
    sent = for_each_tenant(task_name, args=args, stagger_seconds=stagger_seconds)
    logger.debug("fanned out %s to %d brands", task_name, sent)  # once per tick: DEBUG keeps idle logs quiet
    return sent


@app.task(name=task_names.MAINTENANCE_DISPATCH)
def maintenance_dispatch_task() -> int:
    """Beat, every MAINTENANCE_TICK_SECONDS: a maintenance tick for each brand with work due (one query)."""
    from tenants.work_due import work_due_claim

    if connection.schema_name != get_public_schema_name():
        raise RuntimeError("maintenance_dispatch_task is a public dispatcher; send it from the public schema")
    due = work_due_claim()
    for schema in due:
        with schema_context(schema):
            app.send_task(task_names.MAINTENANCE_TICK)
    if due:
        logger.debug("maintenance ticks sent", extra={"brands": len(due)})
    return len(due)


@tenant_task(name=task_names.SCHEMA_PROBE, ignore_result=False)
def schema_probe_task() -> str:
    """Operator diagnostic: answers the schema the worker ran it in (`celery call` to check routing)."""
    logger.info("schema probe ran in %s", connection.schema_name)
    return connection.schema_name
