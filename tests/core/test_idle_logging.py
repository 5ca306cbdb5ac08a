"""Idle logs stay quiet at INFO: the frequent periodic jobs' routine lines go to DEBUG, real work does not."""

from __future__ import annotations

import logging

import pytest
from celery.app import trace

from core import task_names
from core.logging import FREQUENT_PERIODIC_TASKS, PeriodicTickFilter
from tenants.schedules import PERIODIC_JOBS


class Capture(logging.Handler):
    def __init__(self, tick_filter: PeriodicTickFilter) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.addFilter(tick_filter)

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def captured():
    def attach(*, show: bool = False) -> Capture:
        handler = Capture(PeriodicTickFilter(show=show))
        for name in ("celery.beat", "celery.app.trace", "celery.worker.strategy"):
            logging.getLogger(name).addHandler(handler)
        attached.append(handler)
        return handler

    attached: list[Capture] = []
    levels = {name: logging.getLogger(name).level for name in ("celery.beat", "celery.app.trace")}
    for name in levels:
        logging.getLogger(name).setLevel(logging.INFO)
    yield attach
    for handler in attached:
        for name in ("celery.beat", "celery.app.trace", "celery.worker.strategy"):
            logging.getLogger(name).removeHandler(handler)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def _success(name: str) -> None:
    trace.info(trace.LOG_SUCCESS, {"id": "abc", "name": name, "return_value": None, "runtime": 0.01})


def test_frequent_periodic_jobs_are_all_known_to_the_filter():
    frequent = {
        job.tenant_task
        for job in PERIODIC_JOBS
        if job.in_tick or (job.every_seconds is not None and job.every_seconds <= 60)
    }
    assert frequent | {task_names.FOR_EACH_TENANT} <= FREQUENT_PERIODIC_TASKS
    assert task_names.EVALUATE_PURCHASES not in FREQUENT_PERIODIC_TASKS
    assert task_names.SEND_DISPATCHES not in FREQUENT_PERIODIC_TASKS


def test_ticks_and_beat_sends_are_dropped_at_info_real_work_and_failures_are_kept(captured):
    handler = captured()
    logging.getLogger("celery.beat").info(
        "Scheduler: Sending due task %s (%s)", "maintenance tick", task_names.FOR_EACH_TENANT
    )
    _success(task_names.MAINTENANCE_TICK)
    _success(task_names.EVALUATE_PURCHASES)
    trace.logger.error("Task %(name)s[%(id)s] raised", {"name": task_names.MAINTENANCE_TICK, "id": "x"})

    kept = [(record.levelname, record.getMessage().split(" in ")[0]) for record in handler.records]
    assert kept == [
        ("INFO", f"Task {task_names.EVALUATE_PURCHASES}[abc] succeeded"),
        ("ERROR", f"Task {task_names.MAINTENANCE_TICK}[x] raised"),
    ]


def test_with_log_level_debug_the_tick_lines_are_written_as_debug(captured):
    handler = captured(show=True)
    _success(task_names.MAINTENANCE_TICK)
    assert [record.levelname for record in handler.records] == ["DEBUG"]
