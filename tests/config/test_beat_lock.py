"""Only one beat schedules: a second SingleBeatScheduler stands by while the first holds the Redis lock."""

from __future__ import annotations

import os
import time

import pytest
from django_celery_beat import schedulers as beat_schedulers
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from config.beat import SingleBeatScheduler
from config.celery import app

TASK_NAME = "beat-lock-test job"


@pytest.fixture
def beat_setup(db, settings, monkeypatch):
    settings.BEAT_LOCK_KEY = f"test-beat-lock-{os.getpid()}-{time.monotonic_ns()}"
    settings.BEAT_LOCK_TTL_SECONDS = 1
    # The scheduler closes "old" connections between ticks; inside the test's transaction that would break it.
    monkeypatch.setattr(beat_schedulers, "close_old_connections", lambda: None)
    every_second = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(name=TASK_NAME, task="tenants.schema_probe", interval=every_second)
    sent: dict[str, list[float]] = {}
    started: list[SingleBeatScheduler] = []

    def start(label: str) -> SingleBeatScheduler:
        scheduler = SingleBeatScheduler(app=app)
        sent[label] = []
        # Record what would be published (the broker path itself is Celery's).
        scheduler.apply_entry = lambda entry, producer=None: (
            sent[label].append(time.monotonic()) if entry.name == TASK_NAME else None
        )
        started.append(scheduler)
        return scheduler

    yield start, sent
    for scheduler in started:
        scheduler.lock.release()


def _tick_for(seconds: float, *schedulers: SingleBeatScheduler) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for scheduler in schedulers:
            scheduler.tick()
        time.sleep(0.05)


def test_a_second_beat_schedules_nothing_while_the_first_holds_the_lock(beat_setup):
    start, sent = beat_setup
    first, second = start("first"), start("second")

    _tick_for(3.5, first, second)

    assert first.is_leader and not second.is_leader
    assert 2 <= len(sent["first"]) <= 4  # an every-second job over ~3.5 s, sent once each time
    assert sent["second"] == []


def test_the_standby_takes_over_when_the_leader_stops(beat_setup):
    start, sent = beat_setup
    first, second = start("first"), start("second")
    _tick_for(1.5, first, second)
    assert sent["first"] and not sent["second"]

    # The leader dies without releasing: its lock expires after the TTL (1 s here).
    stopped_at = time.monotonic()
    _tick_for(3.5, second)

    assert second.is_leader
    assert sent["second"] and sent["second"][0] >= stopped_at + 0.9
    first.tick()  # the old leader comes back: it stands by
    assert not first.is_leader


def test_a_clean_shutdown_hands_over_at_once(beat_setup):
    start, _ = beat_setup
    first, second = start("first"), start("second")
    first.tick()
    assert first.is_leader
    first.close()
    second.tick()
    assert second.is_leader
