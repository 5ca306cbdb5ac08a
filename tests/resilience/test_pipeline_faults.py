"""Worker crash and broker outage on a real stack: gunicorn + a Celery worker (prefork) in
subprocesses, a throw-away redis-server, a local partner honouring Idempotency-Key, and a
stand-in for beat sending the recovery sweeps. Rows are committed in brand_a of the test
database (the subprocesses see only committed data) and removed afterwards.

Exactly once is checked where it matters: one evaluation per (purchase, campaign), one
dispatch per eligible pair, and every dispatch id reaching the partner under its own
Idempotency-Key (a resend after a crash reuses the key; the partner counts it once).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psutil
import pytest
import requests
from django.db import connection
from django.utils import timezone
from django_tenants.utils import tenant_context
from standardwebhooks import Webhook

from tests.resilience.stack import (
    FakeBeat,
    RecordingPartner,
    SupervisedProcess,
    ThrowAwayRedis,
    free_port,
    gunicorn_args,
    process,
    stack_env,
    wait_until,
    worker_args,
)

HOST = "brand-a.localhost"


@pytest.fixture
def pipeline(brands, django_db_blocker, tmp_path):
    """Committed partner + active campaign + ingest key in brand_a, a partner server, redis, env."""
    from accounts.models import ApiKey
    from accounts.services import api_key_create
    from campaigns.models import Campaign
    from tests.partners.factories import PartnerFactory, make_whsec

    if str(connection.settings_dict.get("HOST") or "").startswith("/"):
        pytest.skip("needs PostgreSQL over TCP for the subprocess stack")
    tag = uuid.uuid4().hex[:8]
    partner_server = RecordingPartner()
    redis = ThrowAwayRedis(tmp_path).start()
    secret = make_whsec()
    with django_db_blocker.unblock(), tenant_context(brands["brand_a"]):
        partner = PartnerFactory(
            slug=f"res-{tag}",
            submission_url=partner_server.url,
            auth_url=partner_server.url,
            secret=secret,
            max_attempts=20,
        )
        now = timezone.now()
        campaign = Campaign.objects.create(
            name=f"Resilience {tag}",
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
        _, key = api_key_create(name=f"res-{tag}", role="ingest")
        from outbox.models import OutboxMessage

        outbox_before = OutboxMessage.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    settings_dict = connection.settings_dict
    auth = settings_dict.get("USER") or "postgres"
    if settings_dict.get("PASSWORD"):
        auth += f":{settings_dict['PASSWORD']}"
    database_url = (
        f"postgres://{auth}@{settings_dict.get('HOST') or '127.0.0.1'}:{settings_dict.get('PORT') or 5432}/"
        f"{settings_dict['NAME']}"
    )
    env = stack_env(
        DJANGO_SETTINGS_MODULE="config.settings.base",
        DATABASE_URL=database_url,
        REDIS_URL=redis.url,
        NOTIFICATION_PROVIDER="console",
        DISPATCH_RETRY_BASE_SECONDS="1",
        DISPATCH_RETRY_MAX_SECONDS="5",
        CELERY_DB_REUSE_MAX="100",
    )
    yield {
        "tag": tag,
        "key": key,
        "secret": secret,
        "partner": partner,
        "campaign": campaign,
        "redis": redis,
        "env": env,
        "partner_server": partner_server,
        "tmp": tmp_path,
    }
    redis.stop()
    partner_server.close()
    with django_db_blocker.unblock(), tenant_context(brands["brand_a"]):
        from awards.models import Award
        from dispatches.models import Dispatch
        from notifications.models import Notification
        from outbox.models import OutboxMessage
        from purchases.models import Purchase

        Notification.objects.filter(campaign=campaign).delete()
        Award.objects.filter(campaign=campaign).delete()
        Dispatch.objects.filter(campaign=campaign).delete()
        Purchase.objects.filter(external_id__startswith=f"res-{tag}-").delete()
        campaign.delete()
        partner.delete()
        ApiKey.objects.filter(name=f"res-{tag}").delete()
        # The main suite expects no committed outbox rows: remove every row this stack wrote.
        OutboxMessage.objects.filter(pk__gt=outbox_before).delete()
    connection.close()


def purchase_body(external_id: str) -> dict:
    return {
        "external_id": external_id,
        "customer_id": f"cust-{external_id[-3:]}",
        "channel": "in_store",
        "purchased_at": (timezone.now() - timedelta(minutes=1)).isoformat(),
        "currency": "EUR",
        "items": [{"sku": "SKU-1", "quantity": 2, "unit_price": "10.00"}],
    }


def progress(brands, django_db_blocker, pipeline) -> dict[str, int]:
    from awards.models import Award
    from dispatches.models import Dispatch
    from notifications.models import Notification
    from purchases.models import Evaluation, Purchase

    tag, campaign = pipeline["tag"], pipeline["campaign"]
    with django_db_blocker.unblock(), tenant_context(brands["brand_a"]):
        purchases = Purchase.objects.filter(external_id__startswith=f"res-{tag}-")
        result = {
            "purchases": purchases.count(),
            "evaluations": Evaluation.objects.filter(purchase__in=purchases, campaign=campaign).count(),
            "evaluated_purchases": Evaluation.objects.filter(purchase__in=purchases, campaign=campaign)
            .values("purchase")
            .distinct()
            .count(),
            "dispatches": Dispatch.objects.filter(campaign=campaign).count(),
            "sent": Dispatch.objects.filter(campaign=campaign, status="sent").count(),
            "awards": Award.objects.filter(campaign=campaign).count(),
            "notified": Notification.objects.filter(campaign=campaign, status="sent").count(),
        }
    connection.close()
    return result


def web_up(base: str) -> bool:
    return requests.get(f"{base}/healthz", timeout=1).status_code == 200


def test_worker_killed_mid_batch_loses_nothing_and_sends_once(
    brands, django_db_blocker, pipeline, reliability
):
    env, tmp = pipeline["env"], pipeline["tmp"]
    web_port = free_port()
    base = f"http://127.0.0.1:{web_port}"
    headers = {"Host": HOST, "Authorization": f"Api-Key {pipeline['key']}"}
    partner_server = pipeline["partner_server"]
    total = 600
    beat = FakeBeat(pipeline["redis"].url).start()
    try:
        with process(gunicorn_args(web_port), env=env, log=tmp / "web.log"):
            assert wait_until(lambda: web_up(base), timeout=30), (tmp / "web.log").read_text()[-2000:]
            # Accept everything first (the worker is not running yet): a full backlog to crash into.
            for start in range(0, total, 100):
                batch = [purchase_body(f"res-{pipeline['tag']}-{n:05d}") for n in range(start, start + 100)]
                response = requests.post(
                    f"{base}/api/v1/purchases/batch/", json={"purchases": batch}, headers=headers, timeout=30
                )
                assert response.status_code == 202, response.text[:300]
                assert {r["status"] for r in response.json()["results"]} == {"accepted"}
            worker = process(worker_args(), env=env, log=tmp / "worker-1.log")
            proc = worker.__enter__()
            try:
                assert wait_until(lambda: len(partner_server.requests) >= 30, timeout=90), (
                    tmp / "worker-1.log"
                ).read_text()[-3000:]
                children = psutil.Process(proc.pid).children(recursive=True)
                assert children, "prefork worker has no child"
                os.kill(children[0].pid, signal.SIGKILL)  # a child dies mid-task
                time.sleep(1.5)
                os.killpg(proc.pid, signal.SIGKILL)  # then the whole worker, with tasks in flight
                proc.wait(10)
            finally:
                worker.__exit__(None, None, None)
            at_crash = progress(brands, django_db_blocker, pipeline)
            restarted = time.monotonic()
            with process(worker_args(), env=env, log=tmp / "worker-2.log"):
                done = wait_until(
                    lambda: (
                        (p := progress(brands, django_db_blocker, pipeline))["sent"] == total
                        and p["evaluated_purchases"] == total
                    ),
                    timeout=240,
                    interval=1.0,
                )
                recovery = time.monotonic() - restarted
                time.sleep(2)  # anything still in flight would show up as a duplicate now
    finally:
        beat.stop()
    final = progress(brands, django_db_blocker, pipeline)
    keys = partner_server.accepted
    resends = len(partner_server.requests) - len(keys)
    lost = total - final["sent"]
    duplicated = (
        (final["evaluations"] - final["evaluated_purchases"])
        + (final["dispatches"] - total)
        + sum(count - 1 for count in keys.values())
    )
    reliability.record(
        f"worker SIGKILL (child, then whole worker) mid-batch, {total} purchases; crash at "
        f"{at_crash['sent']} sent; {resends} same-key resend(s) absorbed by the partner",
        lost=lost,
        duplicated=duplicated,
        recovery_s=recovery,
        cases=total,
    )
    assert done, (final, (tmp / "worker-2.log").read_text()[-3000:])
    assert final["evaluations"] == total and final["evaluated_purchases"] == total
    assert final["dispatches"] == total
    assert len(keys) == total
    assert duplicated == 0


def award_request(base: str, slug: str, secret: str, campaign_id: int, award_id: str) -> requests.Response:
    body = json.dumps(
        {
            "award_id": award_id,
            "customer_id": "cust-award",
            "campaign_id": campaign_id,
            "reward_type": "voucher",
            "value": "5.00",
            "currency": "EUR",
            "voucher_code": f"V-{award_id}",
            "expires_at": "2030-01-01T00:00:00Z",
            "message": "well done",
        }
    )
    msg_id = f"msg_{uuid.uuid4().hex}"
    at = datetime.now(UTC)
    headers = {
        "Host": HOST,
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, at, body),
    }
    return requests.post(f"{base}/api/v1/partners/{slug}/awards/", data=body, headers=headers, timeout=15)


def test_broker_outage_loses_nothing(brands, django_db_blocker, pipeline, reliability):
    env, tmp, redis = pipeline["env"], pipeline["tmp"], pipeline["redis"]
    web_port = free_port()
    base = f"http://127.0.0.1:{web_port}"
    headers = {"Host": HOST, "Authorization": f"Api-Key {pipeline['key']}"}
    accepted: list[str] = []
    awards: list[str] = []
    bad: list[tuple[str, int, str]] = []
    stop = threading.Event()

    def client() -> None:
        session = requests.Session()
        n = 0
        while not stop.is_set():
            external_id = f"res-{pipeline['tag']}-{n:05d}"
            try:
                response = session.post(
                    f"{base}/api/v1/purchases/", json=purchase_body(external_id), headers=headers, timeout=15
                )
                if response.status_code in (200, 202):
                    accepted.append(external_id)
                else:
                    bad.append((external_id, response.status_code, response.text[:200]))
                if n % 5 == 0:
                    award_id = f"aw-{pipeline['tag']}-{n}"
                    award = award_request(
                        base, pipeline["partner"].slug, pipeline["secret"], pipeline["campaign"].pk, award_id
                    )
                    if award.status_code in (200, 201):
                        awards.append(award_id)
                    else:
                        bad.append((award_id, award.status_code, award.text[:200]))
            except requests.RequestException as exc:
                bad.append((external_id, 0, str(exc)[:200]))
            n += 1
            time.sleep(0.05)

    beat = FakeBeat(redis.url).start()
    down_answers: list[int] = []
    try:
        with (
            process(gunicorn_args(web_port), env=env, log=tmp / "web.log"),
            SupervisedProcess(worker_args(), env=env, log=tmp / "worker.log") as worker,
        ):
            assert wait_until(lambda: web_up(base), timeout=30), (tmp / "web.log").read_text()[-2000:]
            thread = threading.Thread(target=client, daemon=True)
            thread.start()
            assert wait_until(lambda: len(accepted) >= 20, timeout=30), bad[:3]
            redis.stop()
            before = len(accepted) + len(bad)
            assert wait_until(lambda: len(accepted) + len(bad) >= before + 10, timeout=60)
            down_answers = [len(accepted), len(bad)]
            redis.start()
            restored = time.monotonic()
            time.sleep(3)
            stop.set()
            thread.join(30)
            total = len(accepted)
            done = wait_until(
                lambda: (
                    (p := progress(brands, django_db_blocker, pipeline))["sent"] == total
                    and p["notified"] == len(awards)
                ),
                timeout=180,
                interval=1.0,
            )
            recovery = time.monotonic() - restored
            time.sleep(2)
    finally:
        stop.set()
        beat.stop()
    final = progress(brands, django_db_blocker, pipeline)
    keys = pipeline["partner_server"].accepted
    lost = (len(accepted) - final["sent"]) + (len(awards) - final["notified"])
    duplicated = (final["evaluations"] - final["evaluated_purchases"]) + (final["dispatches"] - len(accepted))
    duplicated += final["awards"] - len(awards)
    five_xx = sum(1 for _, status, _ in bad if status >= 500)
    reliability.record(
        f"broker (Redis) stopped while {len(accepted)} purchases and {len(awards)} awards were accepted; "
        f"worker restarted by its supervisor {worker.restarts}×",
        lost=max(lost, 0),
        duplicated=duplicated,
        recovery_s=recovery,
        cases=len(accepted) + len(awards) + len(bad),
        five_xx=five_xx,
    )
    assert not bad, bad[:5]
    assert done, (final, len(accepted), len(awards), down_answers)
    assert duplicated == 0 and len(keys) == len(accepted)


def test_budget_holds_with_a_worker_killed_mid_way(brands, django_db_blocker, pipeline, reliability):
    """SPEC §13 under a crash: a budget of 50, 200 eligible purchases posted in batches of 10 by 4
    concurrent clients, the worker SIGKILLed after the first sends → exactly 50 sent, never above."""
    from django.db.models import Sum

    from campaigns.budgets import budget_set
    from campaigns.models import Budget, BudgetLedger, Campaign, CampaignTransition

    env, tmp = pipeline["env"], pipeline["tmp"]
    campaign = pipeline["campaign"]
    with django_db_blocker.unblock(), tenant_context(brands["brand_a"]):
        budget_set(campaign_id=campaign.pk, actor="user:resilience", kind="count", limit=Decimal(50))
    connection.close()
    web_port = free_port()
    base = f"http://127.0.0.1:{web_port}"
    headers = {"Host": HOST, "Authorization": f"Api-Key {pipeline['key']}"}
    partner_server = pipeline["partner_server"]
    total, clients, limit = 200, 4, 50
    beat = FakeBeat(pipeline["redis"].url).start()
    snapshots: list[tuple] = []

    def budget_row():
        with django_db_blocker.unblock(), tenant_context(brands["brand_a"]):
            row = (
                Budget.objects.filter(campaign=campaign).values_list("committed", "reserved", "limit").first()
            )
        connection.close()
        return row

    try:
        with process(gunicorn_args(web_port), env=env, log=tmp / "web.log"):
            assert wait_until(lambda: web_up(base), timeout=30), (tmp / "web.log").read_text()[-2000:]
            barrier = threading.Barrier(clients)
            errors: list[BaseException] = []

            def client(index: int) -> None:
                try:
                    barrier.wait(timeout=30)
                    for start in range(index * 50, index * 50 + 50, 10):
                        batch = [
                            purchase_body(f"res-{pipeline['tag']}-{n:05d}") for n in range(start, start + 10)
                        ]
                        response = requests.post(
                            f"{base}/api/v1/purchases/batch/",
                            json={"purchases": batch},
                            headers=headers,
                            timeout=30,
                        )
                        assert response.status_code == 202, response.text[:300]
                except BaseException as exc:
                    errors.append(exc)
                    barrier.abort()

            threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
            worker = process(worker_args(), env=env, log=tmp / "worker-1.log")
            proc = worker.__enter__()
            try:
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(timeout=60)
                assert not errors, errors
                assert wait_until(lambda: len(partner_server.requests) >= 5, timeout=90), (
                    tmp / "worker-1.log"
                ).read_text()[-3000:]
                snapshots.append(budget_row())
                os.killpg(proc.pid, signal.SIGKILL)  # the whole worker, with tasks in flight
                proc.wait(10)
            finally:
                worker.__exit__(None, None, None)
            at_crash = progress(brands, django_db_blocker, pipeline)
            restarted = time.monotonic()
            with process(worker_args(), env=env, log=tmp / "worker-2.log"):

                def finished() -> bool:
                    snapshots.append(budget_row())
                    p = progress(brands, django_db_blocker, pipeline)
                    return p["evaluated_purchases"] == total and p["sent"] >= limit

                done = wait_until(finished, timeout=240, interval=1.0)
                recovery = time.monotonic() - restarted
                time.sleep(2)  # anything still in flight would show up now
                snapshots.append(budget_row())
    finally:
        beat.stop()
    final = progress(brands, django_db_blocker, pipeline)
    with django_db_blocker.unblock(), tenant_context(brands["brand_a"]):
        budget = Budget.objects.get(campaign=campaign)
        ledger = BudgetLedger.objects.filter(budget=budget)
        ledger_committed = ledger.filter(status="committed").aggregate(s=Sum("amount"))["s"] or 0
        open_reserved = ledger.filter(status="reserved").aggregate(s=Sum("amount"))["s"] or 0
        steps = list(
            CampaignTransition.objects.filter(campaign=campaign)
            .order_by("id")
            .values_list("to_status", "note")
        )
        status = Campaign.objects.get(pk=campaign.pk).status
        BudgetLedger.objects.filter(budget=budget).delete()
    connection.close()
    keys = partner_server.accepted
    over = max((c + r - lim for c, r, lim in filter(None, snapshots)), default=0)
    reliability.record(
        f"budget of {limit}, {total} eligible purchases from {clients} clients, worker SIGKILL mid-way "
        f"(crash at {at_crash['sent']} sent); counter above the limit in {len(snapshots)} snapshots: "
        f"{'never' if over <= 0 else 'yes'}",
        lost=limit - final["sent"],
        duplicated=(final["dispatches"] - limit) + sum(count - 1 for count in keys.values()),
        recovery_s=recovery,
        cases=total,
    )
    assert done, (final, (tmp / "worker-2.log").read_text()[-3000:])
    assert final["sent"] == limit and final["dispatches"] == limit and len(keys) == limit
    assert (budget.committed, budget.reserved) == (limit, 0)
    assert (ledger_committed, open_reserved) == (limit, 0)
    assert over <= 0
    assert ("paused", "budget_threshold") in steps and status == "completed"
