"""`simulate_purchases` drives a real HTTP server (here: Django's WSGI app on a real socket)."""

from __future__ import annotations

import io
import threading
from wsgiref.simple_server import WSGIRequestHandler, make_server

from django.core.handlers.wsgi import WSGIHandler
from django.core.management import call_command
from django.db import connection, connections
from django_tenants.utils import schema_context

from accounts.models import ApiKey
from accounts.services import api_key_create
from outbox.models import OutboxMessage
from purchases.models import Purchase
from tests.purchases.conftest import in_own_connection


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        return


def test_simulate_purchases_sends_through_the_api_and_summarises(brands, db):
    test_database = connection.settings_dict["NAME"]

    def create_key():
        with schema_context("brand_a"):
            return api_key_create(name="simulation test", role="ingest")

    api_key, key = in_own_connection(test_database, create_key)
    server = make_server("127.0.0.1", 0, WSGIHandler(), handler_class=QuietHandler)
    port = server.server_address[1]

    def serve():
        connections["default"].settings_dict["NAME"] = test_database
        try:
            server.serve_forever(poll_interval=0.05)
        finally:
            connections.close_all()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    out = io.StringIO()
    try:
        for batch_size in (1, 7):
            call_command(
                "simulate_purchases",
                schema="brand_a",
                count=20,
                url=f"http://127.0.0.1:{port}",
                api_key=key,
                batch_size=batch_size,
                duplicates=0.2,
                invalid=0.1,
                seed=batch_size,
                stdout=out,
                stderr=io.StringIO(),
            )
    finally:
        server.shutdown()
        thread.join(timeout=10)

        def stored_and_clean():
            with schema_context("brand_a"):
                purchases = Purchase.objects.filter(external_id__startswith="sim-")
                stored = purchases.count()
                ids = set(purchases.values_list("id", flat=True))
                for message in OutboxMessage.objects.filter(task_name="purchases.evaluate_batch"):
                    if set(message.args[0]) & ids:
                        message.delete()
                purchases.delete()
                ApiKey.objects.filter(pk=api_key.pk).delete()
                return stored

        stored = in_own_connection(test_database, stored_and_clean)

    report = out.getvalue()
    assert report.count("Sent 20 purchases") == 2
    accepted = sum(
        int(line.split()[1]) for line in report.splitlines() if line.strip().startswith("accepted")
    )
    assert accepted == stored > 0
    assert "duplicate" in report and "invalid" in report
    assert not [line for line in report.splitlines() if line.strip().startswith(("http:", "error:"))]


def test_simulate_purchases_reuses_one_named_key_kept_in_a_private_file(brand_a, tmp_path):
    from purchases.management.commands.simulate_purchases import API_KEY_NAME, reusable_api_key

    path = tmp_path / ".data" / "simulate-api-key.txt"
    first, created = reusable_api_key(schema="brand_a", path=path)
    again, created_again = reusable_api_key(schema="brand_a", path=path)

    assert (created, created_again) == (True, False)
    assert again == first
    assert ApiKey.objects.filter(name=API_KEY_NAME).count() == 1
    assert ApiKey.objects.get_from_key(first).role == "ingest"
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_text() == f"brand_a {first}\n"

    # A key that stopped working (revoked, or a new database) is replaced, and the file follows.
    ApiKey.objects.filter(name=API_KEY_NAME).update(revoked=True)
    replaced, created = reusable_api_key(schema="brand_a", path=path)
    assert created and replaced != first
    assert path.read_text() == f"brand_a {replaced}\n"


def test_auto_batch_size_follows_the_rate():
    from purchases.management.commands.simulate_purchases import auto_batch_size

    assert [auto_batch_size(rate) for rate in (0, 1, 50, 200, 10_000)] == [100, 1, 10, 40, 1000]
