"""Test harness: one schema per brand for the whole session (django-tenants #664 pattern).

Creating a schema runs every tenant migration (seconds), so `brand_a` and
`brand_b` are created once per session, outside the per-test transactions, and
kept by `--reuse-db`. Each test then runs in a transaction rolled back at its
end, inside the brand's schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.db import connection
from rest_framework.test import APIClient

from accounts.services import api_key_create
from tenants.models import Brand
from tenants.services import brand_create
from tests.support.browser import chromium_page, live_app  # noqa: F401  (headless Chromium on the real app)
from tests.support.partner_fixtures import partner  # noqa: F401  (a partner on a local HTTP server)


@dataclass(frozen=True)
class BrandFixture:
    schema: str
    name: str
    host: str


BRAND_A = BrandFixture("brand_a", "Brand A", "brand-a.localhost")
BRAND_B = BrandFixture("brand_b", "Brand B", "brand-b.localhost")


@pytest.fixture(autouse=True)
def _public_schema_between_tests() -> Iterator[None]:
    """Requests switch the shared connection to their tenant; every test starts and ends in public."""
    connection.set_schema_to_public()
    yield
    connection.set_schema_to_public()


@pytest.fixture(autouse=True)
def _no_brand_lane_flags_between_tests() -> Iterator[None]:
    """A lane flag left by one test (outbox/lanes.py) would hold the next test's lane slots."""
    yield
    from outbox.lanes import _redis

    for key in _redis().scan_iter("lane:*"):
        _redis().delete(key)


@pytest.fixture(scope="session")
def brands(django_db_setup, django_db_blocker) -> dict[str, Brand]:
    with django_db_blocker.unblock():
        return {
            spec.schema: brand_create(schema_name=spec.schema, name=spec.name, domain=spec.host).brand
            for spec in (BRAND_A, BRAND_B)
        }


@pytest.fixture
def brand_a(brands, db) -> Iterator[Brand]:
    """The test runs inside brand_a's schema."""
    connection.set_tenant(brands["brand_a"])
    yield brands["brand_a"]
    connection.set_schema_to_public()


@pytest.fixture
def brand_b(brands, db) -> Brand:
    """brand_b exists (switch to it with `django_tenants.utils.tenant_context`)."""
    return brands["brand_b"]


def _client(host: str, key: str | None = None) -> APIClient:
    client = APIClient(HTTP_HOST=host)
    if key:
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


@pytest.fixture
def tenant_client(brand_a) -> APIClient:
    """An unauthenticated client that talks to brand_a's host."""
    return _client(BRAND_A.host)


@pytest.fixture
def make_api_client(brands, db):
    """`make_api_client(schema, role)` → a client on that brand's host with a fresh key of that role."""

    def make(schema: str = "brand_a", role: str = "crm") -> APIClient:
        previous = connection.tenant
        connection.set_tenant(brands[schema])
        try:
            _, key = api_key_create(name=f"test {role}", role=role)
        finally:
            connection.set_tenant(previous)
        host = BRAND_A.host if schema == "brand_a" else BRAND_B.host
        client = _client(host, key)
        client.api_key = key
        return client

    return make


@pytest.fixture
def crm_client(brand_a, make_api_client) -> APIClient:
    return make_api_client("brand_a", "crm")


@pytest.fixture
def ingest_client(brand_a, make_api_client) -> APIClient:
    return make_api_client("brand_a", "ingest")


@pytest.fixture(scope="session")
def celery_worker_thread(brands, django_db_blocker):
    """A real Celery worker (in-process thread, solo pool) on the real broker and a per-process queue."""
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    with (
        django_db_blocker.unblock(),
        start_worker(app, perform_ping_check=False, loglevel="WARNING") as worker,
    ):
        yield worker
