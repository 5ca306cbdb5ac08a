"""The request id of an API request reaches the logs of the tasks it causes."""

from __future__ import annotations

import logging

import pytest

from config.celery import app
from core.celery_signals import REQUEST_ID_HEADER
from core.logging import ContextFilter, request_id_var
from outbox.services import outbox_enqueue
from tenants.tasks import schema_probe_task


@pytest.mark.usefixtures("celery_worker_thread")
def test_request_id_is_in_the_worker_log_lines_of_the_task(brand_a, caplog):
    caplog.handler.addFilter(ContextFilter())
    caplog.set_level(logging.INFO, logger="tenants.tasks")
    token = request_id_var.set("req-0123456789")
    try:
        assert schema_probe_task.delay().get(timeout=10) == "brand_a"
    finally:
        request_id_var.reset(token)
    probe_lines = [r for r in caplog.records if r.getMessage() == "schema probe ran in brand_a"]
    assert probe_lines and all(r.request_id == "req-0123456789" for r in probe_lines)
    assert all(r.tenant == "brand_a" for r in probe_lines)


def test_the_outbox_carries_the_request_id_to_the_broker(
    brand_a, django_capture_on_commit_callbacks, monkeypatch
):
    published = []
    monkeypatch.setattr(app, "send_task", lambda name, args, kwargs, headers: published.append(headers))
    token = request_id_var.set("req-outbox")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            outbox_enqueue(task_name="some.task")
    finally:
        request_id_var.reset(token)
    assert published == [{REQUEST_ID_HEADER: "req-outbox"}]


def test_responses_echo_a_sane_request_id_and_replace_a_bad_one(brands, db, client):
    assert (
        client.get("/healthz", HTTP_X_REQUEST_ID="abc-1").get("X-Request-ID") is None
    )  # before the middleware
    response = client.get("/api/v1/me/", HTTP_HOST="brand-a.localhost", HTTP_X_REQUEST_ID="abc-1")
    assert response["X-Request-ID"] == "abc-1"
    response = client.get("/api/v1/me/", HTTP_HOST="brand-a.localhost", HTTP_X_REQUEST_ID="x" * 500)
    assert len(response["X-Request-ID"]) == 32
