"""Scale-out across hosts: two Celery worker "hosts", each in its own network namespace, share the
broker (Redis) and the database (PostgreSQL) that run on the host side.

The network is made by the test and removed by its finalizers: a bridge on the host with an address
of its own, one veth pair per namespace (the host end on the bridge, the other end in the namespace
with its own address), loopback up inside. PostgreSQL and the throw-away Redis listen on 127.0.0.1
only, so the test forwards the bridge address's ports to them (TCP forwarders in this process; the
machine's services are not reconfigured). The partner listens on the bridge address itself. A
worker in a namespace therefore reaches the database, the broker and the partner only through the
veth, as a worker on another machine would reach them through the network; the forwarders and the
partner see which host (source address) opened each connection and sent each request.

2,000 purchases of 4 brands are ingested through the web tier (gunicorn, host side) while both hosts
work. Once host 1 has sent part of its share to the partner, its whole worker is SIGKILLed (tasks in
flight, lanes leased); host 2 alone must finish: every purchase evaluated once, one dispatch each,
every dispatch reaching the partner under its own Idempotency-Key. A lane (outbox/lanes.py) held by
the dead host comes back when its lease ends (FAIR_LANE_LEASE_SECONDS, 10 s here), started again by
the outbox sweep the beat stand-in sends.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from datetime import timedelta
from decimal import Decimal

import pytest
import requests
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from tests.resilience.stack import (
    FakeBeat,
    RecordingPartner,
    TcpProxy,
    ThrowAwayRedis,
    free_port,
    gunicorn_args,
    process,
    stack_env,
    wait_until,
    worker_args,
)
from tests.support.committed import in_committed_connection

BRANDS = 4
TOTAL = 2000
BATCH = 100
LEASE_SECONDS = 10


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=15)


def _netns_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns add)"
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    probe = f"cbop{os.getpid() % 100000}"
    done = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True, timeout=15)
    if done.returncode != 0:
        return f"`ip netns add` is not allowed here: {done.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, timeout=15)
    return None


class HostNetwork:
    """A bridge `cbo<n>br` with 10.231.<n>.1/24 and `hosts` namespaces `cbo<n>h<i>` with 10.231.<n>.<i+1>."""

    def __init__(self, hosts: int) -> None:
        tag = os.getpid() % 200 + 20  # a subnet of its own per run: parallel runs do not share addresses
        self.prefix = f"cbo{tag}"
        self.bridge = f"{self.prefix}br"
        self.host_ip = f"10.231.{tag}.1"
        self.namespaces = [f"{self.prefix}h{i}" for i in range(1, hosts + 1)]
        self.addresses = {ns: f"10.231.{tag}.{i}" for i, ns in enumerate(self.namespaces, start=2)}
        self.made: list[tuple[str, ...]] = []

    def up(self) -> HostNetwork:
        self.down()  # what a killed earlier run with the same tag may have left
        _ip("link", "add", self.bridge, "type", "bridge")
        self.made.append(("link", "del", self.bridge))
        _ip("addr", "add", f"{self.host_ip}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for ns in self.namespaces:
            outer, inner = f"{ns}a", f"{ns}b"
            _ip("netns", "add", ns)
            self.made.append(("netns", "del", ns))  # deleting the namespace deletes its veth pair
            _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
            _ip("link", "set", inner, "netns", ns)
            _ip("link", "set", outer, "master", self.bridge)
            _ip("link", "set", outer, "up")
            _ip("-n", ns, "addr", "add", f"{self.addresses[ns]}/24", "dev", inner)
            _ip("-n", ns, "link", "set", inner, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        return self

    def down(self) -> None:
        for ns in self.namespaces:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=15)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True, timeout=15)
        self.made.clear()


@pytest.fixture
def host_network():
    reason = _netns_unavailable()
    if reason:
        pytest.skip(reason)
    network = HostNetwork(hosts=2)
    try:
        yield network.up()
    finally:
        network.down()


def _drop_brands(schemas: list[str]) -> None:
    from tenants.models import Brand, BrandWorkDue

    def drop() -> None:
        with connection.cursor() as cursor:
            for schema in schemas:
                cursor.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        BrandWorkDue.objects.filter(schema_name__in=schemas).delete()
        Brand.objects.filter(schema_name__in=schemas).delete()

    in_committed_connection(drop)


@pytest.fixture
def four_brands(brands, django_db_blocker, host_network, tmp_path):
    """Four brands of their own (committed), each with a partner on the bridge address, an active
    campaign and an ingest key; dropped afterwards with everything the stack wrote into them."""
    from accounts.services import api_key_create
    from campaigns.models import Campaign
    from tenants.services import brand_create
    from tests.partners.factories import PartnerFactory, make_whsec

    if str(connection.settings_dict.get("HOST") or "").startswith("/"):
        pytest.skip("needs PostgreSQL over TCP (the namespaces reach it through a forwarder)")
    partner_server = RecordingPartner(latency_seconds=0.005, host=host_network.host_ip)
    schemas = [f"scale_out_{n}" for n in range(1, BRANDS + 1)]
    made: dict[str, dict] = {}
    with django_db_blocker.unblock():
        _drop_brands(schemas)
        for n, schema in enumerate(schemas, start=1):
            domain = f"scale-out-{n}.localhost"
            in_committed_connection(
                lambda schema=schema, n=n, domain=domain: brand_create(
                    schema_name=schema, name=f"Scale out {n}", domain=domain
                )
            )

            def fill(schema=schema) -> dict:
                partner = PartnerFactory(
                    slug=f"scale-{schema[-1]}",
                    submission_url=partner_server.url,
                    auth_url=partner_server.url,
                    secret=make_whsec(),
                    max_attempts=20,
                )
                now = timezone.now()
                campaign = Campaign.objects.create(
                    name=f"Scale out {schema}",
                    kind="custom",
                    status="active",
                    starts_at=now - timedelta(days=1),
                    ends_at=now + timedelta(days=1),
                    purchase_channels=["in_store", "ecommerce"],
                    currency="EUR",
                    min_purchase_value=Decimal("0"),
                    partner=partner,
                    reward={"type": "voucher", "value": "5.00", "description": "5 off"},
                    notification={"title": "Won", "body": "{{ award.value }}"},
                )
                _, key = api_key_create(name=f"scale-{schema}", role="ingest")
                return {"campaign": campaign.pk, "key": key}

            made[schema] = {"domain": domain, **in_committed_connection(fill, schema=schema)}
    try:
        yield {"schemas": schemas, "brands": made, "partner": partner_server, "tmp": tmp_path}
    finally:
        partner_server.close()
        with django_db_blocker.unblock():
            _drop_brands(schemas)
        connection.close()


def _progress(schemas: list[str], django_db_blocker) -> dict[str, int]:
    from dispatches.models import Dispatch
    from purchases.models import Evaluation, Purchase

    def count() -> dict[str, int]:
        totals = dict.fromkeys(("purchases", "evaluations", "evaluated_purchases", "dispatches", "sent"), 0)
        for schema in schemas:
            with schema_context(schema):
                evaluations = Evaluation.objects.all()
                totals["purchases"] += Purchase.objects.count()
                totals["evaluations"] += evaluations.count()
                totals["evaluated_purchases"] += evaluations.values("purchase").distinct().count()
                totals["dispatches"] += Dispatch.objects.count()
                totals["sent"] += Dispatch.objects.filter(status="sent").count()
        return totals

    with django_db_blocker.unblock():
        return in_committed_connection(count)


def _purchase(external_id: str) -> dict:
    return {
        "external_id": external_id,
        "customer_id": f"cust-{external_id[-3:]}",
        "channel": "in_store",
        "purchased_at": (timezone.now() - timedelta(minutes=1)).isoformat(),
        "currency": "EUR",
        "items": [{"sku": "SKU-1", "quantity": 2, "unit_price": "10.00"}],
    }


def test_two_hosts_in_network_namespaces_share_the_work_and_one_killed_loses_nothing(
    four_brands, host_network, django_db_blocker, reliability
):
    tmp, partner_server, schemas = four_brands["tmp"], four_brands["partner"], four_brands["schemas"]
    settings_dict = connection.settings_dict
    db_target = (settings_dict.get("HOST") or "127.0.0.1", int(settings_dict.get("PORT") or 5432))
    redis = ThrowAwayRedis(tmp).start()
    # The host side's services on the bridge address: what the namespaces can reach.
    db_forward = TcpProxy(*db_target, listen_host=host_network.host_ip, port=db_target[1]).start()
    redis_forward = TcpProxy(
        "127.0.0.1", redis.port, listen_host=host_network.host_ip, port=redis.port
    ).start()
    user = settings_dict.get("USER") or "postgres"
    auth = f"{user}:{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else user

    def env_for(address: str) -> dict[str, str]:
        return stack_env(
            DJANGO_SETTINGS_MODULE="config.settings.base",
            DATABASE_URL=f"postgres://{auth}@{address}:{db_target[1]}/{settings_dict['NAME']}",
            REDIS_URL=f"redis://{address}:{redis.port}/0",
            NOTIFICATION_PROVIDER="console",
            DISPATCH_RETRY_BASE_SECONDS="1",
            DISPATCH_RETRY_MAX_SECONDS="5",
            CELERY_DB_REUSE_MAX="100",
            FAIR_LANE_LEASE_SECONDS=str(LEASE_SECONDS),
        )

    web_env = env_for("127.0.0.1")
    worker_env = env_for(host_network.host_ip)
    host1, host2 = host_network.namespaces
    ip1, ip2 = host_network.addresses[host1], host_network.addresses[host2]
    web_port = free_port()
    base = f"http://127.0.0.1:{web_port}"
    beat = FakeBeat(redis.url).start()
    killed_at: dict[str, int] = {}
    after_kill: dict[str, int] = {}
    recovery = None
    done = False
    try:
        with (
            process(gunicorn_args(web_port), env=web_env, log=tmp / "web.log"),
            process(
                ["ip", "netns", "exec", host1, *worker_args(), "-n", "host1@%h"],
                env=worker_env,
                log=tmp / "host1.log",
            ) as worker1,
            process(
                ["ip", "netns", "exec", host2, *worker_args(), "-n", "host2@%h"],
                env=worker_env,
                log=tmp / "host2.log",
            ),
        ):
            assert wait_until(
                lambda: requests.get(f"{base}/healthz", timeout=1).status_code == 200, timeout=30
            ), (tmp / "web.log").read_text()[-2000:]
            session = requests.Session()
            for start in range(0, TOTAL, BATCH):
                schema = schemas[(start // BATCH) % BRANDS]
                brand = four_brands["brands"][schema]
                body = {"purchases": [_purchase(f"so-{schema}-{n:05d}") for n in range(start, start + BATCH)]}
                response = session.post(
                    f"{base}/api/v1/purchases/batch/",
                    json=body,
                    headers={"Host": brand["domain"], "Authorization": f"Api-Key {brand['key']}"},
                    timeout=60,
                )
                assert response.status_code == 202, response.text[:300]
                assert {r["status"] for r in response.json()["results"]} == {"accepted"}
            # Both hosts take work; host 1 dies (SIGKILL, whole worker) with its share half done.
            assert wait_until(
                lambda: partner_server.callers.get(ip1, 0) >= 100 and partner_server.callers.get(ip2, 0) >= 1,
                timeout=180,
                interval=0.05,
            ), (partner_server.callers, (tmp / "host1.log").read_text()[-3000:])
            killed_at = dict(partner_server.callers)
            os.killpg(worker1.pid, signal.SIGKILL)
            worker1.wait(10)
            killed = time.monotonic()
            assert len(partner_server.requests) < TOTAL, "everything was sent before the kill: nothing tested"
            done = wait_until(
                lambda: (
                    (p := _progress(schemas, django_db_blocker))["sent"] == TOTAL
                    and p["evaluated_purchases"] == TOTAL
                ),
                timeout=300,
                interval=1.0,
            )
            recovery = time.monotonic() - killed
            time.sleep(3)  # anything still in flight would show up as a duplicate now
            after_kill = {caller: partner_server.callers.get(caller, 0) for caller in (ip1, ip2)}
    finally:
        beat.stop()
        db_forward.close()
        redis_forward.close()
        redis.stop()
    final = _progress(schemas, django_db_blocker)
    keys = partner_server.accepted
    resends = len(partner_server.requests) - len(keys)
    lost = TOTAL - final["sent"]
    duplicated = (
        (final["evaluations"] - final["evaluated_purchases"])
        + (final["dispatches"] - TOTAL)
        + sum(count - 1 for count in keys.values())
    )
    reliability.record(
        f"scale-out: 2 worker hosts in network namespaces, {TOTAL} purchases of {BRANDS} brands; "
        f"host 1 SIGKILLed at {killed_at.get(ip1, 0)} + {killed_at.get(ip2, 0)} sent by host 1 + 2; "
        f"host 2 sent {after_kill.get(ip2, 0)} in all ({resends} same-key resend(s) absorbed by the partner); "
        f"database connections by host {db_forward.peers.get(ip1, 0)} / {db_forward.peers.get(ip2, 0)}",
        lost=lost,
        duplicated=duplicated,
        recovery_s=recovery,
        cases=TOTAL,
    )
    assert done, (final, (tmp / "host2.log").read_text()[-3000:])
    assert final["purchases"] == TOTAL
    assert final["evaluations"] == TOTAL and final["dispatches"] == TOTAL
    assert len(keys) == TOTAL and duplicated == 0
    # Each host reached the partner and the database only through its own address.
    assert after_kill[ip1] >= 100 and after_kill[ip2] > killed_at.get(ip2, 0)
    assert set(partner_server.callers) == {ip1, ip2}
    assert {ip1, ip2} <= set(db_forward.peers) and {ip1, ip2} <= set(redis_forward.peers)
    with contextlib.suppress(Exception):
        connection.close()
