"""Concurrent duplicates: the same purchase posted at the same moment on two connections.

Data must be committed for two connections to see each other's rows: every
database call of this test runs in helper threads (each with its own
autocommitting connection), outside the test's rolled-back transaction, and the
test deletes what it created.
"""

from __future__ import annotations

import json
import threading

from django.db import connection, connections
from django_tenants.utils import schema_context
from rest_framework.test import APIClient

from accounts.models import ApiKey
from accounts.services import api_key_create
from outbox.models import OutboxMessage
from purchases.models import Purchase
from tests.purchases.conftest import in_own_connection, purchase_body

ROUNDS = 8


def test_concurrent_identical_posts_store_and_enqueue_the_purchase_once(brands, db):
    test_database = connection.settings_dict["NAME"]
    bodies = [purchase_body() for _ in range(ROUNDS)]
    external_ids = [body["external_id"] for body in bodies]

    def create_key():
        with schema_context("brand_a"):
            return api_key_create(name="concurrency test", role="ingest")

    api_key, key = in_own_connection(test_database, create_key)
    statuses: dict[int, list[int]] = {i: [] for i in range(ROUNDS)}
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def poster() -> None:
        connections["default"].settings_dict["NAME"] = test_database
        client = APIClient(HTTP_HOST="brand-a.localhost")
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
        try:
            for index, body in enumerate(bodies):
                barrier.wait(timeout=10)
                response = client.post(
                    "/api/v1/purchases/", data=json.dumps(body), content_type="application/json"
                )
                statuses[index].append(response.status_code)
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)
            barrier.abort()
        finally:
            connections.close_all()

    def stored_rows():
        with schema_context("brand_a"):
            ids = list(Purchase.objects.filter(external_id__in=external_ids).values_list("id", flat=True))
            messages = [
                m
                for m in OutboxMessage.objects.filter(task_name="purchases.evaluate_batch")
                if set(m.args[0]) & set(ids)
            ]
            return ids, messages

    def clean_up():
        ids, messages = stored_rows()
        with schema_context("brand_a"):
            OutboxMessage.objects.filter(pk__in=[m.pk for m in messages]).delete()
            Purchase.objects.filter(pk__in=ids).delete()
            ApiKey.objects.filter(pk=api_key.pk).delete()

    try:
        threads = [threading.Thread(target=poster) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not errors, errors
        ids, messages = in_own_connection(test_database, stored_rows)
        for index in range(ROUNDS):
            assert sorted(statuses[index]) == [200, 202], statuses
        assert len(ids) == ROUNDS
        # Each purchase was enqueued once, by the request that stored it.
        assert sorted(m.args[0] for m in messages) == sorted([pk] for pk in ids)
    finally:
        in_own_connection(test_database, clean_up)
