from config.celery import tenant_task
from core import task_names
from outbox.services import outbox_purge_relayed, outbox_relay


@tenant_task(name=task_names.RELAY_OUTBOX)
def outbox_relay_task() -> int:
    """Per-brand sweep (beat, via tenants.for_each_tenant): send what the fast path could not."""
    sent = 0
    while True:
        batch = outbox_relay()
        sent += batch
        if batch == 0:
            break
    outbox_purge_relayed()
    return sent
