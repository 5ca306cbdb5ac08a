"""Celery routing for scale-out (ADR 0019): the maintenance queue's table names real tasks only, and
unset it is the default queue (every worker takes everything, as before)."""

from __future__ import annotations

from django.conf import settings

from config.celery import app
from core import task_names


def test_every_routed_name_is_a_task_of_the_project():
    app.loader.import_default_modules()
    wire_names = {value for name, value in vars(task_names).items() if name.isupper()}
    routed = set(settings.CELERY_TASK_ROUTES)
    assert routed == set(settings.MAINTENANCE_QUEUE_TASKS)
    assert routed <= wire_names, routed - wire_names
    assert routed <= set(app.tasks), routed - set(app.tasks)


def test_the_pipeline_stays_on_the_default_queue_and_maintenance_follows_its_setting():
    router = app.amqp.router
    for name in (task_names.DRAIN_LANE, task_names.EVALUATE_PURCHASES, task_names.SEND_DISPATCHES):
        assert router.route({}, name)["queue"].name == settings.CELERY_TASK_DEFAULT_QUEUE
    for name in (task_names.MAINTENANCE_TICK, task_names.MAINTENANCE_DISPATCH, task_names.ARCHIVE_CAMPAIGN):
        assert router.route({}, name)["queue"].name == settings.CELERY_MAINTENANCE_QUEUE
