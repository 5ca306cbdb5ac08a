"""Per-brand lanes: evaluation and dispatch messages taken round-robin per brand (ADR 0017).

Every brand shares one Celery queue. A message of a lane task (`LANE_TASK_NAMES`) is not sent to
it: it stays in the brand's outbox table, which is the brand's own queue, and a *lane* task of
that brand runs it. A brand has at most `FAIR_LANES_PER_BRAND` lanes in flight, each a Redis flag
`lane:<schema>:<slot>` set with SET NX and an expiry. A lane run takes one bounded batch of the
brand's oldest messages, runs them, and sends itself again to the tail of the shared queue while
its brand has messages left: a brand with 200,000 purchases queued has at most two messages in
the shared queue, so another brand's single purchase waits for a few batches, not the backlog.

Nothing is lost when a process dies between two steps:

* the messages are rows, committed with the data they are about; a message is marked done
  (`relayed_at`) only after its task ran, and is leased to the lane that took it for
  `FAIR_LANE_LEASE_SECONDS` (another lane takes it again when the lease ends);
* a flag set without its task (crash, broker down) expires after the same time, and the brand's
  outbox sweep (`outbox_relay_task`, sent by the maintenance tick while messages are pending)
  starts a lane again.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import timedelta

import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone

from config.celery import app
from core import task_names
from core.logging import request_id_var
from outbox.models import OutboxMessage

logger = logging.getLogger(__name__)

LANE_TASK_NAMES = frozenset({task_names.EVALUATE_PURCHASES, task_names.SEND_DISPATCHES})
# A message whose task failed this many times is given up (its app's own sweep owns the rows:
# unevaluated purchases, due dispatches), so that it cannot come back forever.
MAX_LANE_ATTEMPTS = 10

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('expire', KEYS[1], ARGV[2]) end
return 0
"""

_client: redis.Redis | None = None


def _redis() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=1)
    return _client


def lane_key(schema: str, slot: int) -> str:
    return f"lane:{schema}:{slot}"


def lane_start() -> bool:
    """Start a lane for the current brand if it has fewer than its cap in flight; True if one started.

    Called after a lane message commits and by the outbox sweep. A brand whose lanes are all in
    flight needs nothing: they take the new message before they stop (`lane_run`).
    """
    schema = connection.schema_name
    token = uuid.uuid4().hex
    try:
        for slot in range(settings.FAIR_LANES_PER_BRAND):
            key = lane_key(schema, slot)
            if not _redis().set(key, token, nx=True, ex=settings.FAIR_LANE_LEASE_SECONDS):
                continue
            try:
                app.send_task(task_names.DRAIN_LANE, args=[slot, token], kwargs={})
            except Exception:
                _redis().eval(_RELEASE, 1, key, token)
                raise
            return True
    except Exception:  # after commit, never the request's failure: the sweep starts the lane
        logger.warning("could not start a lane; the outbox sweep will", exc_info=True)
    return False


def _claim(limit: int) -> list[OutboxMessage]:
    """Lease the brand's oldest lane messages not leased to a running lane (one statement)."""
    table = OutboxMessage._meta.db_table
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            # The pick is a materialized CTE, not `WHERE id IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)`:
            # a planner that re-runs that subquery per row skips the rows this statement already locked
            # and takes n more each time, so a "batch" could be the whole backlog (brand fairness gone).
            f"WITH picked AS MATERIALIZED (SELECT id FROM {table} WHERE relayed_at IS NULL"  # noqa: S608
            " AND task_name = ANY(%s) AND (leased_until IS NULL OR leased_until < %s)"
            " ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)"
            f" UPDATE {table} o SET leased_until = %s, relay_attempts = o.relay_attempts + 1"
            " FROM picked WHERE o.id = picked.id"
            " RETURNING o.id, o.task_name, o.args, o.kwargs, o.relay_attempts, o.request_id",
            [
                sorted(LANE_TASK_NAMES),
                now,
                limit,
                now + timedelta(seconds=settings.FAIR_LANE_LEASE_SECONDS),
            ],
        )
        rows = cursor.fetchall()
    return [
        OutboxMessage(
            id=pk,
            task_name=name,
            args=_json(args),
            kwargs=_json(kwargs),
            relay_attempts=attempts,
            request_id=request_id,
        )
        for pk, name, args, kwargs, attempts, request_id in sorted(rows)
    ]


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


def lane_messages_waiting() -> bool:
    """Whether the brand has lane messages that no running lane holds."""
    return (
        OutboxMessage.objects.filter(relayed_at__isnull=True, task_name__in=LANE_TASK_NAMES)
        .exclude(leased_until__gte=timezone.now())
        .exists()
    )


def _run(message: OutboxMessage) -> None:
    """Run the message's task here, as the worker would (a retaken message counts as redelivered)."""
    if message.task_name not in app.tasks:
        app.loader.import_default_modules()  # the apps' tasks modules, as a worker loads them at start
    task = app.tasks[message.task_name]
    reset = request_id_var.set(message.request_id or request_id_var.get())
    task.push_request(
        args=message.args,
        kwargs=message.kwargs,
        delivery_info={"redelivered": message.relay_attempts > 1},
    )
    try:
        task.run(*message.args, **message.kwargs)
    finally:
        task.pop_request()
        request_id_var.reset(reset)


def lane_run(*, slot: int, token: str) -> int:
    """One turn of a lane: run a batch of the brand's messages, then requeue or stop; returns how many ran."""
    schema = connection.schema_name
    key = lane_key(schema, slot)
    lease = settings.FAIR_LANE_LEASE_SECONDS
    if not _redis().eval(_RENEW, 1, key, token, lease) and not _redis().set(key, token, nx=True, ex=lease):
        return 0  # the flag expired while this task waited in the queue, and another lane took the slot
    ran = 0
    limit = settings.FAIR_LANE_BATCH_MESSAGES
    claimed = _claim(limit)
    finished: list[int] = []
    for message in claimed:
        done = True
        try:
            _run(message)
            ran += 1
        except Exception:
            done = message.relay_attempts >= MAX_LANE_ATTEMPTS
            logger.exception(
                "lane message failed%s",
                ": given up, its app's sweep owns the rows" if done else "; retried when its lease ends",
                extra={"outbox_id": message.pk, "task_name": message.task_name},
            )
        if done:
            finished.append(message.pk)
    # One statement for the batch (a process dying before it re-runs the batch's messages once their
    # lease ends: the tasks are idempotent, as a redelivery requires anyway).
    if finished:
        OutboxMessage.objects.filter(pk__in=finished).update(relayed_at=timezone.now(), leased_until=None)
    # A full batch means a backlog: requeue without asking (the turn after the last finds nothing
    # and stops), which saves a query a turn while a brand drains.
    if len(claimed) == limit or lane_messages_waiting():
        try:
            app.send_task(task_names.DRAIN_LANE, args=[slot, token], kwargs={})
            return ran
        except Exception:
            logger.warning("could not requeue the lane; the outbox sweep will start it", exc_info=True)
    _redis().eval(_RELEASE, 1, key, token)
    # A message committed while this lane was deciding to stop found every slot taken.
    if lane_messages_waiting():
        lane_start()
    return ran
