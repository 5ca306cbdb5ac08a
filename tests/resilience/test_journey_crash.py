"""Journeys under a crash (SPEC §19): a worker SIGKILLed between recording a step run and sending,
and one SIGKILLed between sending and recording. Every customer receives each message once: the SMS
gateway (a local server standing in for it) counts the idempotency keys (`webhook-id`) it accepts.

The journey is send → send over 50 customers with phones; the executor works in batches of 20.

1. Worker 1 advances the first batch (step runs and queued messages committed together) and is
   killed as it starts delivering: nothing was sent.
2. Worker 2 (the sweep's delivery of the lost messages, then the next batch) is killed while the
   gateway holds one request: that message reached the gateway, its outcome was never recorded.
3. The recovery (the same sweep and executor, after the leases expire) finishes everything. The
   message worker 2 lost is re-sent under the same key; the gateway counts it once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from werkzeug import Response

from tests.partners.factories import make_whsec
from tests.support.committed import (
    in_committed_connection,
    sender_killed_mid_request,
    subprocess_database_url,
)

CUSTOMERS = 50
NAME = "Crash journey"

WORKER = """
import os, signal, sys
import django
django.setup()
from django_tenants.utils import schema_context
from journeys import executor
from notifications.messages import message_deliver, messages_enqueue_due
from outbox.models import OutboxMessage

def killed_before_sending(**kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

if sys.argv[1] == "kill-before-send":
    executor.messages_deliver_batch = killed_before_sending
with schema_context("brand_a"):
    # The notification sweep's part: lost sends (queued for over a minute, leases expired) are
    # enqueued; a worker runs each enqueued send (here, in this process).
    messages_enqueue_due()
    for row in OutboxMessage.objects.filter(task_name="notifications.send_message", relayed_at__isnull=False):
        message_deliver(message_id=row.args[0])
        row.delete()
    print("advanced", executor.enrollments_advance_due(batch_size=20), flush=True)
"""


def _clean() -> None:
    from customers.models import Customer
    from journeys.models import Journey
    from notifications.models import Message
    from outbox.models import OutboxMessage

    for journey in Journey.objects.filter(name=NAME):
        Message.objects.filter(journey_step__startswith=f"{journey.pk}:").delete()
        journey.delete()
    Customer.objects.filter(customer_id__startswith="crash-").delete()
    OutboxMessage.objects.filter(task_name="notifications.send_message").delete()


def _arrange() -> None:
    from customers.services import customers_upsert
    from journeys.services import journey_activate, journey_create

    steps = [
        {"key": "one", "kind": "send", "channel": "sms", "body_text": "first", "next": "two"},
        {"key": "two", "kind": "send", "channel": "sms", "body_text": "second"},
    ]
    journey = journey_create(
        data={"name": NAME, "entry": {"event": "crash-signup"}, "steps": steps}, actor="system"
    )
    journey_activate(journey_id=journey.pk, actor="system")
    customers_upsert(
        bodies=[{"customer_id": f"crash-{n:03d}", "phone": f"+4915100000{n:03d}"} for n in range(CUSTOMERS)],
        actor="system",
    )
    from journeys.entry import enroll

    enroll(journey=journey, customer_ids=[f"crash-{n:03d}" for n in range(CUSTOMERS)])


def _run(mode: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", WORKER, mode],
        env=os.environ
        | {
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": subprocess_database_url(),
            **env,
        },
        cwd=str(Path(__file__).resolve().parents[2]),
        capture_output=True,
        timeout=120,
    )


def _state() -> dict[str, object]:
    from journeys.models import Enrollment, StepRun
    from notifications.models import Message

    return {
        "runs": StepRun.objects.filter(enrollment__journey__name=NAME).count(),
        "messages": Counter(
            Message.objects.filter(customer_id__startswith="crash-").values_list("status", flat=True)
        ),
        "per_step": Counter(
            (m.customer_id, m.journey_step) for m in Message.objects.filter(customer_id__startswith="crash-")
        ),
        "finished": Enrollment.objects.filter(journey__name=NAME, state="completed").count(),
    }


@pytest.mark.django_db
def test_a_journey_worker_killed_twice_sends_every_message_once(brands, httpserver, reliability):
    secret = make_whsec()
    env = {
        "SMS_PROVIDER": "webhook",
        "SMS_WEBHOOK_URL": httpserver.url_for("/sms"),
        "SMS_WEBHOOK_SECRET": secret,
    }
    accepted: Counter[str] = Counter()
    by_customer: dict[str, set[str]] = {}
    hold_at = {"n": 7}
    arrived = threading.Event()

    def gateway(request):
        body = request.get_json()
        key = request.headers["webhook-id"]
        accepted[key] += 1
        by_customer.setdefault(body["to"], set()).add(key)
        if len(accepted) == hold_at["n"] and not arrived.is_set():
            arrived.set()
            time.sleep(1.5)  # the gateway has it; the worker dies before it reads the answer
        return Response('{"message_id": "gw"}', status=200, content_type="application/json")

    httpserver.expect_request("/sms", method="POST").respond_with_handler(gateway)
    in_committed_connection(_clean, schema="brand_a")
    try:
        in_committed_connection(_arrange, schema="brand_a")

        # 1. Killed between the step runs (committed, with their queued messages) and the sending.
        first = _run("kill-before-send", env)
        assert first.returncode == -signal.SIGKILL, first.stderr.decode()[-2000:]
        after_first = in_committed_connection(_state, schema="brand_a")
        assert after_first["runs"] == 40 and after_first["messages"] == {"queued": 40}
        assert not accepted

        # 2. Killed between sending and recording: the gateway holds the 7th request.
        in_committed_connection(  # the first worker's messages are over a minute old for the sweep
            lambda: (
                __import__("notifications.models", fromlist=["Message"])
                .Message.objects.filter(customer_id__startswith="crash-")
                .update(created_at=timezone.now() - timedelta(minutes=2))
            ),
            schema="brand_a",
        )
        sender_killed_mid_request(WORKER, "run", arrived=arrived, extra_env=env)
        time.sleep(1.6)
        at_crash = in_committed_connection(_state, schema="brand_a")
        assert at_crash["messages"].get("sending", 0) >= 1

        # 3. The recovery: leases expired, the sweep re-sends the lost ones, the executor finishes.
        def expire_leases() -> None:
            from notifications.models import Message

            Message.objects.filter(customer_id__startswith="crash-").update(
                created_at=timezone.now() - timedelta(minutes=5),
                claimed_until=timezone.now() - timedelta(seconds=1),
            )

        started = time.monotonic()
        for _ in range(5):
            in_committed_connection(expire_leases, schema="brand_a")
            done = _run("run", env)
            assert done.returncode == 0, done.stderr.decode()[-3000:]
            final = in_committed_connection(_state, schema="brand_a")
            if final["finished"] == CUSTOMERS and final["messages"] == {"sent": 2 * CUSTOMERS}:
                break
        recovery = time.monotonic() - started
    finally:
        in_committed_connection(_clean, schema="brand_a")

    resends = sum(accepted.values()) - len(accepted)
    lost = 2 * CUSTOMERS - len(accepted)
    duplicated = sum(n - 1 for n in final["per_step"].values()) + (final["runs"] - 2 * CUSTOMERS)
    reliability.record(
        f"journey worker SIGKILL between step run and send, then between send and record; {CUSTOMERS} "
        f"customers × 2 sends; {resends} same-key resend(s) absorbed by the gateway",
        lost=lost,
        duplicated=duplicated,
        recovery_s=recovery,
        cases=2 * CUSTOMERS,
    )
    assert final["finished"] == CUSTOMERS, final
    assert final["messages"] == {"sent": 2 * CUSTOMERS}, final
    assert final["runs"] == 2 * CUSTOMERS
    assert all(n == 1 for n in final["per_step"].values())  # one message row per customer and step
    assert len(by_customer) == CUSTOMERS and all(len(keys) == 2 for keys in by_customer.values())
    assert lost == 0 and duplicated == 0
    assert resends >= 1  # the message in flight at the second crash came back under its key
