"""The outbox keeps a message whose broker was down at commit time, and relays it later.

The broker failure here is kombu's own OperationalError raised by send_task; a
real Redis stopped under load is the resilience suite's job (tests/resilience).
"""

from __future__ import annotations

from kombu.exceptions import OperationalError

from config.celery import app
from outbox.models import OutboxMessage
from outbox.services import outbox_enqueue, outbox_relay
from outbox.tasks import outbox_relay_task


def test_commit_relays_the_message_at_once(brand_a, django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    monkeypatch.setattr(app, "send_task", lambda name, args, kwargs, headers: sent.append((name, args)))
    with django_capture_on_commit_callbacks(execute=True):
        outbox_enqueue(task_name="some.task", args=[1, 2])
    assert sent == [("some.task", [1, 2])]
    assert OutboxMessage.objects.get().relayed_at is not None


def test_broker_down_at_commit_keeps_the_message_for_the_sweep(
    brand_a, django_capture_on_commit_callbacks, monkeypatch
):
    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to redis: Connection refused.")

    monkeypatch.setattr(app, "send_task", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        outbox_enqueue(task_name="some.task", args=[7])
    message = OutboxMessage.objects.get()
    assert message.relayed_at is None
    assert message.relay_attempts == 1
    assert "Connection refused" in message.last_error

    sent = []
    monkeypatch.setattr(app, "send_task", lambda name, args, kwargs, headers: sent.append((name, args)))
    assert outbox_relay_task.run() == 1
    assert sent == [("some.task", [7])]
    message.refresh_from_db()
    assert message.relayed_at is not None
    assert outbox_relay() == 0  # nothing is sent twice
