"""Database unreachable: 503 + Retry-After (JSON error shape), never a 500, nothing acknowledged lost.

In-process: the tenant lookup and a view each meet an `OperationalError`.
Under load: a gunicorn web tier in a subprocess reaches PostgreSQL through a TCP
proxy owned by the test; a client posts purchases while the proxy is cut
(connections reset, new ones refused — what a crashed or restarting server
looks like to the web tier) and restored. Every purchase answered 2xx must be
in the database; every other answer must be a 503 with Retry-After; the ones
refused are re-sent afterwards and accepted (idempotent by external_id).
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta

import pytest
import requests
from django.db import OperationalError, connection
from django.utils import timezone
from django_tenants.utils import tenant_context

from tests.resilience.stack import TcpProxy, ThrowAwayRedis, gunicorn_args, process, stack_env, wait_until

HOST = "brand-a.localhost"


def test_tenant_lookup_failure_is_503_with_retry_after(tenant_client, monkeypatch):
    from django_tenants.middleware.main import TenantMainMiddleware

    def unreachable(self, request):
        raise OperationalError("connection to server at 127.0.0.1 failed: Connection refused")

    monkeypatch.setattr(TenantMainMiddleware, "process_request", unreachable)
    response = tenant_client.get("/api/v1/me/")
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    assert response.json()["error"]["code"] == "service_unavailable"


def test_a_view_losing_the_database_is_503_not_500(crm_client, monkeypatch):
    from campaigns import api as campaigns_api

    view = next(
        getattr(campaigns_api, name)
        for name in dir(campaigns_api)
        if name.endswith("ListApi") or name == "CampaignListCreateApi"
    )

    def lost(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(view, "get", lost)
    response = crm_client.get("/api/v1/campaigns/")
    assert response.status_code == 503
    assert response["Retry-After"]
    assert set(response.json()["error"]) == {"code", "message", "fields"}


_BODIES: dict[str, dict] = {}


def purchase_body(external_id: str) -> dict:
    """The same body every time for one external_id (a retry must be byte-for-byte the same purchase)."""
    if external_id not in _BODIES:
        _BODIES[external_id] = _new_body(external_id)
    return _BODIES[external_id]


def _new_body(external_id: str) -> dict:
    return {
        "external_id": external_id,
        "customer_id": "outage-customer",
        "channel": "in_store",
        "purchased_at": (timezone.now() - timedelta(minutes=5)).isoformat(),
        "currency": "EUR",
        "items": [{"sku": "SKU-1", "quantity": 1, "unit_price": "12.50"}],
    }


@pytest.fixture
def committed_ingest_key(brands, django_db_blocker):
    """An ingest key committed in brand_a (the subprocess only sees committed rows); removed after."""
    from accounts.models import ApiKey
    from accounts.services import api_key_create
    from outbox.models import OutboxMessage
    from purchases.models import Purchase

    prefix = f"outage-{uuid.uuid4().hex[:8]}-"
    with django_db_blocker.unblock(), tenant_context(brands["brand_a"]):
        _, key = api_key_create(name=prefix, role="ingest")
        outbox_before = OutboxMessage.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    yield key, prefix
    with django_db_blocker.unblock(), tenant_context(brands["brand_a"]):
        # The main suite expects no committed outbox rows: remove every row this stack wrote.
        OutboxMessage.objects.filter(pk__gt=outbox_before).delete()
        Purchase.objects.filter(external_id__startswith=prefix).delete()
        ApiKey.objects.filter(name=prefix).delete()
    connection.close()


def test_database_down_under_load_answers_503_and_loses_nothing(
    brands, django_db_blocker, committed_ingest_key, tmp_path, reliability
):
    key, prefix = committed_ingest_key
    with django_db_blocker.unblock():
        settings_dict = connection.settings_dict
        db_name = settings_dict["NAME"]
        target = (settings_dict.get("HOST") or "127.0.0.1", int(settings_dict.get("PORT") or 5432))
    if target[0].startswith("/"):
        pytest.skip("the database listens on a unix socket (embedded pgserver); the TCP proxy needs TCP")

    proxy = TcpProxy(*target).start()
    port = proxy.port
    from tests.resilience.stack import free_port

    web_port = free_port()
    user = settings_dict.get("USER") or "postgres"
    password = settings_dict.get("PASSWORD") or ""
    auth = f"{user}:{password}@" if password else f"{user}@"
    # Its own throw-away Redis: the outbox relays of this stack must not land on the shared one.
    redis = ThrowAwayRedis(tmp_path).start()
    env = stack_env(
        DJANGO_SETTINGS_MODULE="config.settings.base",
        REDIS_URL=redis.url,
        DATABASE_URL=f"postgres://{auth}127.0.0.1:{port}/{db_name}",
        DB_CONNECT_TIMEOUT="2",
    )
    base = f"http://127.0.0.1:{web_port}"
    headers = {"Host": HOST, "Authorization": f"Api-Key {key}"}
    acknowledged: list[str] = []
    refused: list[str] = []
    bad: list[tuple[str, int, str]] = []
    first_ok_after_restore: list[float] = []
    stop = threading.Event()
    restored_at: list[float] = []

    def client() -> None:
        session = requests.Session()
        n = 0
        while not stop.is_set():
            external_id = f"{prefix}{n:05d}"
            n += 1
            try:
                response = session.post(
                    f"{base}/api/v1/purchases/", json=purchase_body(external_id), headers=headers, timeout=10
                )
            except requests.RequestException as exc:
                bad.append((external_id, 0, str(exc)[:200]))
                continue
            if response.status_code in (200, 202):
                acknowledged.append(external_id)
                if restored_at and not first_ok_after_restore:
                    first_ok_after_restore.append(time.monotonic() - restored_at[0])
            elif (
                response.status_code == 503
                and response.headers.get("Retry-After")
                and "error" in response.json()
            ):
                refused.append(external_id)
            else:
                bad.append((external_id, response.status_code, response.text[:200]))
            time.sleep(0.02)

    try:
        with process(gunicorn_args(web_port), env=env, log=tmp_path / "web.log"):
            assert wait_until(
                lambda: requests.get(f"{base}/healthz", timeout=1).status_code == 200, timeout=30
            ), (tmp_path / "web.log").read_text()[-2000:]
            worker = threading.Thread(target=client, daemon=True)
            worker.start()
            assert wait_until(lambda: len(acknowledged) >= 20, timeout=30), bad[:3]
            proxy.cut()
            assert wait_until(lambda: len(refused) >= 20, timeout=30), (bad[:3], len(acknowledged))
            time.sleep(1.0)
            restored_at.append(time.monotonic())
            proxy.restore()
            assert wait_until(lambda: bool(first_ok_after_restore), timeout=30), bad[:3]
            acknowledged_before_stop = len(acknowledged)
            assert wait_until(lambda: len(acknowledged) >= acknowledged_before_stop + 20, timeout=30)
            stop.set()
            worker.join(15)
            # The refused ones are re-sent (as a client honouring Retry-After would) and accepted.
            retried = requests.Session()
            for external_id in refused:
                response = retried.post(
                    f"{base}/api/v1/purchases/", json=purchase_body(external_id), headers=headers, timeout=10
                )
                assert response.status_code in (200, 202), response.text[:200]
    finally:
        stop.set()
        proxy.close()
        redis.stop()

    from purchases.models import Purchase

    with django_db_blocker.unblock(), tenant_context(brands["brand_a"]):
        stored = set(
            Purchase.objects.filter(external_id__startswith=prefix).values_list("external_id", flat=True)
        )
    lost = [external_id for external_id in acknowledged + refused if external_id not in stored]
    duplicates = len(stored) - len(set(acknowledged) | set(refused))
    five_xx = sum(1 for _, status, _ in bad if status >= 500)
    reliability.record(
        f"database unreachable under load (TCP cut): {len(acknowledged)} acknowledged, {len(refused)} × 503 then re-sent",
        lost=len(lost),
        duplicated=max(duplicates, 0),
        recovery_s=first_ok_after_restore[0],
        cases=len(acknowledged) + len(refused) + len(bad),
        five_xx=five_xx,
    )
    assert not bad, bad[:5]
    assert not lost, lost[:5]
