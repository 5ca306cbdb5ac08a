"""Health, readiness, body limits, throttling and tenant-prefixed cache keys."""

from __future__ import annotations

import json

from django.core.cache import cache
from django.db import connection
from django.test import override_settings
from django_tenants.utils import schema_context


def test_healthz_answers_on_any_host(client):
    response = client.get("/healthz", HTTP_HOST="10.1.2.3")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_checks_database_and_broker(brands, db, client):
    response = client.get("/readyz", HTTP_HOST="localhost")
    body = response.json()
    assert response.status_code == 200, body
    assert body["checks"]["database"]["ok"] and body["checks"]["broker"]["ok"]


def test_readyz_is_503_when_the_broker_is_unreachable(brands, db, client, settings):
    from config.celery import app

    original = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    try:
        response = client.get("/readyz", HTTP_HOST="localhost")
    finally:
        app.conf.broker_url = original
    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["ok"] is False


def test_oversized_body_is_413_before_parsing(crm_client):
    with override_settings(MAX_REQUEST_BODY_BYTES=100):
        response = crm_client.post(
            "/api/v1/me/", data=json.dumps({"x": "y" * 200}), content_type="application/json"
        )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_throttling_is_per_key_with_retry_after(make_api_client, monkeypatch):
    from core.throttling import ApiKeyRateThrottle

    monkeypatch.setattr(ApiKeyRateThrottle, "rate", "2/min", raising=False)
    first, second = make_api_client("brand_a", "crm"), make_api_client("brand_a", "crm")
    # Fresh keys each run, so the counters of earlier runs (they expire in a minute) never interfere.
    assert [first.get("/api/v1/me/").status_code for _ in range(3)] == [200, 200, 429]
    throttled = first.get("/api/v1/me/")
    assert throttled.json()["error"]["code"] == "throttled"
    assert int(throttled["Retry-After"]) > 0
    assert second.get("/api/v1/me/").status_code == 200  # another key has its own budget


def test_cache_keys_are_prefixed_with_the_tenant_schema(brands, db):
    with schema_context("brand_a"):
        cache.set("shared-name", "a")
        assert cache.make_key("shared-name").startswith("brand_a:")
    with schema_context("brand_b"):
        assert cache.get("shared-name") is None
        cache.set("shared-name", "b")
    with schema_context("brand_a"):
        assert cache.get("shared-name") == "a"
    assert connection.schema_name == "public"
