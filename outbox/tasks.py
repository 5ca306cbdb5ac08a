from config.celery import tenant_task
from core import task_names
from outbox.lanes import lane_messages_waiting, lane_run, lane_start
from outbox.services import outbox_purge_relayed, outbox_relay


@tenant_task(name=task_names.RELAY_OUTBOX)
def outbox_relay_task() -> int:
    """Per-brand sweep (the maintenance tick): send what the fast path could not, restart lost lanes."""
    sent = 0
    while True:
        batch = outbox_relay()
        sent += batch
        if batch == 0:
            break
    outbox_purge_relayed()
    if lane_messages_waiting():
        lane_start()  # a lane lost with its worker, or never sent, starts again here
    return sent


@tenant_task(name=task_names.DRAIN_LANE)
def drain_lane_task(slot: int, token: str) -> int:
    """One turn of one of the brand's lanes (outbox/lanes.py): a batch of messages, then the queue's tail."""
    return lane_run(slot=slot, token=token)
