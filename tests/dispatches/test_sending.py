"""Sending dispatches to a real local partner (pytest-httpserver): signature, body, outcomes, retries."""

from __future__ import annotations

import json
import socket
import time
from datetime import timedelta
from decimal import Decimal
from email.utils import format_datetime

import pytest
from django.utils import timezone
from pytest_httpserver import HTTPServer
from standardwebhooks import Webhook
from werkzeug import Response

from core.delivery import ERROR_EXCERPT_CHARS
from core.http import client
from dispatches.claims import LEASE_MARGIN, dispatch_claim
from dispatches.models import Dispatch, DispatchAttempt
from dispatches.policy import backoff_seconds
from dispatches.services import dispatch_due_ids, dispatch_send_batch, dispatch_send_due
from dispatches.tasks import send_dispatches_task
from outbox.models import OutboxMessage
from tests.dispatches.factories import make_dispatch
from tests.purchases.factories import PurchaseFactory

SUBMISSIONS = "/submissions"


def _make_due(dispatch: Dispatch) -> None:
    Dispatch.objects.filter(pk=dispatch.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))


def _attempts(dispatch: Dispatch) -> list[DispatchAttempt]:
    return list(DispatchAttempt.objects.filter(dispatch=dispatch).order_by("number"))


def test_the_request_is_signed_and_shaped_as_spec_section_5(partner, httpserver):
    purchase = PurchaseFactory(
        external_id="order-42", customer_id="cust-7", currency="EUR", total=Decimal("80")
    )
    dispatch = make_dispatch(partner=partner, purchase=purchase, eligible_value=Decimal("65.5"))
    httpserver.expect_request(SUBMISSIONS, method="POST").respond_with_json({"ok": True})

    result = dispatch_send_batch(dispatch_ids=[str(dispatch.id)])

    assert result.sent == 1
    [(request, _)] = httpserver.log
    body = request.get_data()
    # The library verifies the signature of these exact bytes with the partner's secret.
    payload = Webhook(partner.secret).verify(body, dict(request.headers))
    assert request.headers["webhook-id"] == str(dispatch.id)
    assert request.headers["Idempotency-Key"] == str(dispatch.id)
    assert request.headers["Content-Type"] == "application/json"
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 10
    assert request.headers["webhook-signature"].startswith("v1,")
    campaign = dispatch.campaign
    assert payload == {
        "type": "purchase.eligible",
        "dispatch_id": str(dispatch.id),
        "tenant": "brand_a",
        "campaign": {"id": campaign.id, "name": campaign.name, "version": campaign.version},
        "purchase": {
            "external_id": "order-42",
            "customer_id": "cust-7",
            "channel": "ecommerce",
            "purchased_at": purchase.purchased_at.isoformat().replace("+00:00", "Z"),
            "currency": "EUR",
            "total": "80.00",
            "eligible_value": "65.50",
        },
    }
    with pytest.raises(Exception, match="signature"):
        Webhook(partner.secret).verify(body + b" ", dict(request.headers))

    dispatch.refresh_from_db()
    assert dispatch.status == Dispatch.Status.SENT
    assert dispatch.attempts == 1
    assert dispatch.sent_at is not None
    assert dispatch.last_status_code == 200
    assert dispatch.claimed_until is None
    [attempt] = _attempts(dispatch)
    assert (attempt.number, attempt.outcome, attempt.status_code) == (1, "sent", 200)
    assert attempt.latency_ms >= 0


def test_version_and_eligible_value_come_from_the_evaluation_not_the_current_campaign(partner, httpserver):
    dispatch = make_dispatch(partner=partner)
    campaign = dispatch.campaign
    evaluated_version = campaign.version
    campaign.version = evaluated_version + 3  # edited after the evaluation
    campaign.save(update_fields=["version"])
    httpserver.expect_request(SUBMISSIONS).respond_with_data("", status=204)

    dispatch_send_batch(dispatch_ids=[dispatch.id])

    payload = json.loads(httpserver.log[0][0].get_data())
    assert payload["campaign"]["version"] == evaluated_version


def test_500_then_200_is_sent_after_two_attempts(partner, httpserver):
    dispatch = make_dispatch(partner=partner)
    httpserver.expect_oneshot_request(SUBMISSIONS).respond_with_data("upstream exploded", status=500)
    httpserver.expect_request(SUBMISSIONS).respond_with_data("ok", status=200)

    first = dispatch_send_batch(dispatch_ids=[dispatch.id])
    dispatch.refresh_from_db()
    assert first.retrying == 1
    assert dispatch.status == Dispatch.Status.RETRYING
    assert dispatch.last_status_code == 500
    assert "upstream exploded" in dispatch.last_error
    assert dispatch.next_attempt_at > timezone.now()

    # Not due yet: a second message (duplicate delivery) sends nothing.
    assert dispatch_send_batch(dispatch_ids=[dispatch.id]).skipped == 1
    assert len(httpserver.log) == 1

    _make_due(dispatch)
    dispatch_send_batch(dispatch_ids=[dispatch.id])

    dispatch.refresh_from_db()
    assert dispatch.status == Dispatch.Status.SENT
    assert dispatch.attempts == 2
    assert dispatch.last_error == ""
    assert [(a.number, a.outcome, a.status_code) for a in _attempts(dispatch)] == [
        (1, "retry", 500),
        (2, "sent", 200),
    ]
    ids = {request.headers["Idempotency-Key"] for request, _ in httpserver.log}
    assert ids == {str(dispatch.id)}  # the retry carries the same key


@pytest.mark.parametrize("retry_after", ["120", "http-date"])
def test_429_retry_after_is_honoured_as_a_minimum(partner, httpserver, retry_after):
    if retry_after == "http-date":
        retry_after = format_datetime(timezone.now() + timedelta(seconds=125), usegmt=True)
    dispatch = make_dispatch(partner=partner)
    httpserver.expect_request(SUBMISSIONS).respond_with_data(
        "slow down", status=429, headers={"Retry-After": retry_after}
    )
    before = timezone.now()

    dispatch_send_batch(dispatch_ids=[dispatch.id])

    dispatch.refresh_from_db()
    assert dispatch.status == Dispatch.Status.RETRYING
    assert dispatch.last_status_code == 429
    assert dispatch.next_attempt_at >= before + timedelta(seconds=119)


@pytest.mark.parametrize("status", [408, 502, 503])
def test_other_retryable_statuses(partner, httpserver, status):
    dispatch = make_dispatch(partner=partner)
    httpserver.expect_request(SUBMISSIONS).respond_with_data("", status=status)
    dispatch_send_batch(dispatch_ids=[dispatch.id])
    dispatch.refresh_from_db()
    assert dispatch.status == Dispatch.Status.RETRYING


@pytest.mark.parametrize("status", [400, 401, 404, 409, 422])
def test_other_4xx_is_dead_at_once_and_never_sent_again(partner, httpserver, status):
    dispatch = make_dispatch(partner=partner)
    httpserver.expect_request(SUBMISSIONS).respond_with_json({"error": "bad payload"}, status=status)

    result = dispatch_send_batch(dispatch_ids=[dispatch.id])

    dispatch.refresh_from_db()
    assert result.dead == 1
    assert dispatch.status == Dispatch.Status.DEAD
    assert dispatch.attempts == 1
    assert dispatch.next_attempt_at is None
    assert f"HTTP {status}" in dispatch.last_error and "bad payload" in dispatch.last_error
    assert [(a.outcome, a.status_code) for a in _attempts(dispatch)] == [("dead", status)]
    # Dead is final: neither another message nor the sweep sends it.
    Dispatch.objects.filter(pk=dispatch.pk).update(created_at=timezone.now() - timedelta(hours=1))
    assert dispatch_send_batch(dispatch_ids=[dispatch.id]).skipped == 1
    assert dispatch_send_due().claimed == 0
    assert len(httpserver.log) == 1


def test_a_redirect_is_not_followed_and_is_dead(partner, httpserver):
    dispatch = make_dispatch(partner=partner)
    elsewhere = httpserver.url_for("/elsewhere")
    httpserver.expect_request(SUBMISSIONS).respond_with_data("", status=301, headers={"Location": elsewhere})
    httpserver.expect_request("/elsewhere").respond_with_data("should not be reached")

    dispatch_send_batch(dispatch_ids=[dispatch.id])

    dispatch.refresh_from_db()
    assert dispatch.status == Dispatch.Status.DEAD
    assert dispatch.last_status_code == 301
    assert f"redirect to {elsewhere} not followed" in dispatch.last_error
    assert [request.path for request, _ in httpserver.log] == [SUBMISSIONS]


def test_a_timeout_is_retried(partner, httpserver):
    def too_slow(request):
        time.sleep(1.6)  # the partner's timeout is 1 s
        return Response("late", status=200)

    dispatch = make_dispatch(partner=partner)
    httpserver.expect_request(SUBMISSIONS).respond_with_handler(too_slow)

    dispatch_send_batch(dispatch_ids=[dispatch.id])

    dispatch.refresh_from_db()
    assert dispatch.status == Dispatch.Status.RETRYING
    assert dispatch.last_status_code is None
    assert dispatch.last_error.startswith("timeout")
    [attempt] = _attempts(dispatch)
    assert attempt.outcome == "retry" and attempt.status_code is None
    assert 900 <= attempt.latency_ms < 1600
    _wait_for_requests(httpserver, 1)  # let the slow handler finish inside this test


def _wait_for_requests(httpserver, count: int, seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while len(httpserver.log) < count and time.monotonic() < deadline:
        time.sleep(0.05)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connection_refused_is_retried(partner):
    partner.submission_url = f"http://127.0.0.1:{_closed_port()}/submissions"
    partner.save()
    dispatch = make_dispatch(partner=partner)

    dispatch_send_batch(dispatch_ids=[dispatch.id])

    dispatch.refresh_from_db()
    assert dispatch.status == Dispatch.Status.RETRYING
    assert dispatch.last_error.startswith("connection_error")


def test_max_attempts_then_dead(partner, httpserver):
    dispatch = make_dispatch(partner=partner)  # partner.max_attempts == 3
    httpserver.expect_request(SUBMISSIONS).respond_with_data("down", status=503)

    for _ in range(3):
        dispatch_send_batch(dispatch_ids=[dispatch.id])
        _make_due(dispatch)

    dispatch.refresh_from_db()
    assert dispatch.status == Dispatch.Status.DEAD
    assert dispatch.attempts == 3
    assert dispatch.last_error.startswith("max attempts (3) reached: HTTP 503")
    assert [a.outcome for a in _attempts(dispatch)] == ["retry", "retry", "dead"]
    assert dispatch_send_batch(dispatch_ids=[dispatch.id]).claimed == 0
    assert len(httpserver.log) == 3


def test_a_huge_response_body_is_read_only_up_to_the_cap(partner, httpserver):
    huge = b"x" * (5 * 1024 * 1024)
    httpserver.expect_request(SUBMISSIONS).respond_with_data(huge, status=500)

    response = client.submit(url=partner.submission_url, body=b"{}", headers={}, timeout_seconds=2)
    assert response.status_code == 500
    assert len(response.body_excerpt) == client.RESPONSE_READ_CAP
    assert response.body_truncated

    dispatch = make_dispatch(partner=partner)
    dispatch_send_batch(dispatch_ids=[dispatch.id])
    dispatch.refresh_from_db()
    assert len(dispatch.last_error) <= ERROR_EXCERPT_CHARS
    assert dispatch.last_error.endswith("not read further]")
    assert len(_attempts(dispatch)[0].error) <= ERROR_EXCERPT_CHARS


def test_a_batch_is_sent_concurrently_and_each_dispatch_is_recorded(partner):
    def slow_ok(request):
        time.sleep(0.3)
        return Response("ok")

    server = HTTPServer(threaded=True)  # a partner that answers requests concurrently
    server.expect_request(SUBMISSIONS).respond_with_handler(slow_ok)
    server.start()
    try:
        partner.submission_url = server.url_for(SUBMISSIONS)
        partner.save()
        dispatches = [make_dispatch(partner=partner) for _ in range(8)]
        started = time.monotonic()
        result = dispatch_send_batch(dispatch_ids=[d.id for d in dispatches])
        elapsed = time.monotonic() - started
    finally:
        server.clear()
        server.stop()

    assert result.sent == 8
    assert Dispatch.objects.filter(status="sent").count() == 8
    assert DispatchAttempt.objects.count() == 8
    assert elapsed < 8 * 0.3  # partner latency overlaps within the batch


def test_a_worker_lost_after_sending_resends_once_with_the_same_key(partner, httpserver):
    dispatch = make_dispatch(partner=partner)
    httpserver.expect_request(SUBMISSIONS).respond_with_data("ok")
    # A worker claimed and (say) sent, then died before recording: only the claim was committed.
    import uuid

    claimed, _ = dispatch_claim(dispatch_ids=[dispatch.id], claim_token=uuid.uuid4(), now=timezone.now())
    assert len(claimed) == 1
    assert dispatch_send_batch(dispatch_ids=[dispatch.id]).skipped == 1  # the lease holds
    assert dispatch_due_ids() == []

    Dispatch.objects.filter(pk=dispatch.pk).update(claimed_until=timezone.now() - timedelta(seconds=1))
    assert dispatch_due_ids() == [dispatch.id]
    result = dispatch_send_due()

    assert result.sent == 1
    dispatch.refresh_from_db()
    assert dispatch.status == Dispatch.Status.SENT
    assert dispatch.attempts == 2
    assert [(a.number, a.outcome, a.status_code) for a in _attempts(dispatch)] == [
        (1, "retry", None),
        (2, "sent", 200),
    ]
    assert "worker lost" in _attempts(dispatch)[0].error
    assert [r.headers["Idempotency-Key"] for r, _ in httpserver.log] == [str(dispatch.id)]


def test_the_sweep_sends_due_retries_and_stuck_pending_but_not_fresh_ones(partner, httpserver):
    httpserver.expect_request(SUBMISSIONS).respond_with_data("ok")
    fresh = make_dispatch(partner=partner)
    stuck = make_dispatch(partner=partner)
    Dispatch.objects.filter(pk=stuck.pk).update(created_at=timezone.now() - timedelta(minutes=2))
    due = make_dispatch(partner=partner, status="retrying", attempts=1, next_attempt_at=timezone.now())
    later = make_dispatch(
        partner=partner, status="retrying", attempts=1, next_attempt_at=timezone.now() + timedelta(minutes=5)
    )

    result = send_due_dispatches()

    assert result["sent"] == 2
    statuses = dict(Dispatch.objects.values_list("id", "status"))
    assert statuses == {fresh.id: "pending", stuck.id: "sent", due.id: "sent", later.id: "retrying"}


def send_due_dispatches():
    from dispatches.tasks import send_due_dispatches_task

    return send_due_dispatches_task.run()


def test_an_inactive_partner_holds_its_dispatches(partner, httpserver):
    dispatch = make_dispatch(partner=partner)
    partner.is_active = False
    partner.save()
    assert dispatch_send_batch(dispatch_ids=[dispatch.id]).claimed == 0
    Dispatch.objects.filter(pk=dispatch.pk).update(created_at=timezone.now() - timedelta(hours=1))
    assert dispatch_due_ids() == []
    assert httpserver.log == []


def test_a_dispatch_without_an_eligible_evaluation_is_dead_not_sent(partner, httpserver):
    dispatch = make_dispatch(partner=partner)
    dispatch.purchase.evaluations.update(eligible=False, reason="below_minimum")
    dispatch_send_batch(dispatch_ids=[dispatch.id])
    dispatch.refresh_from_db()
    assert dispatch.status == Dispatch.Status.DEAD
    assert "no eligible evaluation" in dispatch.last_error
    assert httpserver.log == []


def test_the_task_takes_string_ids_and_skips_malformed_ones(partner, httpserver):
    dispatch = make_dispatch(partner=partner)
    httpserver.expect_request(SUBMISSIONS).respond_with_data("ok")
    outcome = send_dispatches_task.run([str(dispatch.id), "not-a-uuid"])
    assert outcome["sent"] == 1


def test_backoff_is_exponential_with_full_jitter_and_honours_retry_after(settings):
    import random

    settings.DISPATCH_RETRY_BASE_SECONDS = 10
    settings.DISPATCH_RETRY_MAX_SECONDS = 300
    rng = random.Random(7)
    for attempt in range(1, 10):
        cap = min(300, 10 * 2 ** (attempt - 1))
        samples = [backoff_seconds(attempt_number=attempt, rng=rng) for _ in range(200)]
        assert all(1 <= s <= max(1, cap) for s in samples)
        assert max(samples) > cap * 0.8  # the jitter spans the whole window
    assert backoff_seconds(attempt_number=1, retry_after_seconds=900, rng=rng) >= 900
    assert backoff_seconds(attempt_number=1, retry_after_seconds=10**9, rng=rng) == 24 * 3600


def test_no_outbox_message_for_a_plain_send(partner, httpserver):
    # Sending does not enqueue anything; only replay does.
    httpserver.expect_request(SUBMISSIONS).respond_with_data("ok")
    dispatch_send_batch(dispatch_ids=[make_dispatch(partner=partner).id])
    assert OutboxMessage.objects.count() == 0


def test_a_batch_larger_than_a_claim_chunk_is_sent_chunk_by_chunk(partner, httpserver, settings):
    settings.DISPATCH_CLAIM_CHUNK = 2
    httpserver.expect_request(SUBMISSIONS).respond_with_data("ok")
    dispatches = [make_dispatch(partner=partner) for _ in range(5)]

    result = dispatch_send_batch(dispatch_ids=[d.id for d in dispatches] + [dispatches[0].id])

    assert (result.claimed, result.sent, result.skipped) == (5, 5, 1)
    assert len(httpserver.log) == 5


def test_the_lease_covers_the_chunk_at_the_send_concurrency(partner, settings):
    import uuid

    settings.DISPATCH_SEND_CONCURRENCY = 2
    dispatches = [make_dispatch(partner=partner) for _ in range(3)]  # partner timeout: 1 s
    now = timezone.now()
    claimed, _ = dispatch_claim(dispatch_ids=[d.id for d in dispatches], claim_token=uuid.uuid4(), now=now)
    assert len(claimed) == 3
    # 3 requests, 2 at a time → 2 rounds of (connect + read) timeouts, plus the margin.
    expected = now + timedelta(seconds=2 * 2 * 1) + LEASE_MARGIN
    assert set(Dispatch.objects.values_list("claimed_until", flat=True)) == {expected}


def test_a_private_partner_address_is_refused_unless_allowed(partner, httpserver, settings):
    settings.PARTNER_URL_ALLOW_PRIVATE = False
    dispatch = make_dispatch(partner=partner)  # the partner is on 127.0.0.1
    httpserver.expect_request(SUBMISSIONS).respond_with_data("ok")

    dispatch_send_batch(dispatch_ids=[dispatch.id])

    dispatch.refresh_from_db()
    assert dispatch.status == Dispatch.Status.DEAD
    assert "private or reserved address" in dispatch.last_error
    assert httpserver.log == []


def test_only_one_sweep_per_brand_runs_at_a_time(partner, httpserver):
    from django.core.cache import cache

    from dispatches.tasks import SWEEP_LOCK_KEY, send_due_dispatches_task

    stuck = make_dispatch(partner=partner)
    Dispatch.objects.filter(pk=stuck.pk).update(created_at=timezone.now() - timedelta(minutes=2))
    httpserver.expect_request(SUBMISSIONS).respond_with_data("ok")
    cache.set(SWEEP_LOCK_KEY, "another sweep", timeout=30)
    try:
        assert send_due_dispatches_task.run() == {"skipped": 1}
        assert httpserver.log == []
    finally:
        cache.delete(SWEEP_LOCK_KEY)
    assert send_due_dispatches_task.run()["sent"] == 1
    assert cache.get(SWEEP_LOCK_KEY) is None


def test_the_sweep_stops_taking_chunks_after_its_time_budget(partner, httpserver):
    httpserver.expect_request(SUBMISSIONS).respond_with_data("ok")
    for _ in range(3):
        dispatch = make_dispatch(
            partner=partner, status="retrying", attempts=1, next_attempt_at=timezone.now()
        )
    result = dispatch_send_due(chunk=1, time_budget_seconds=0)
    assert result.sent == 1  # the first chunk always goes; the rest waits for the next sweep
    assert Dispatch.objects.filter(status="retrying").count() == 2
    assert dispatch.status == "retrying"


def test_a_short_retry_is_also_scheduled_as_a_countdown_hint(partner, httpserver, settings, monkeypatch):
    settings.DISPATCH_RETRY_BASE_SECONDS = 2
    sent = []
    monkeypatch.setattr(
        send_dispatches_task, "apply_async", lambda args, countdown: sent.append((args, countdown))
    )
    dispatch = make_dispatch(partner=partner)
    httpserver.expect_request(SUBMISSIONS).respond_with_data("", status=503)

    send_dispatches_task.run([str(dispatch.id)])

    dispatch.refresh_from_db()
    [(args, countdown)] = sent
    assert args == [[str(dispatch.id)]]
    assert 1 <= countdown <= 2
    assert dispatch.next_attempt_at is not None  # the row stays the source of truth for the sweep


def test_a_long_retry_after_is_left_to_the_sweep(partner, httpserver, monkeypatch):
    sent = []
    monkeypatch.setattr(send_dispatches_task, "apply_async", lambda **kw: sent.append(kw))
    dispatch = make_dispatch(partner=partner)
    httpserver.expect_request(SUBMISSIONS).respond_with_data("", status=429, headers={"Retry-After": "60"})
    send_dispatches_task.run([str(dispatch.id)])
    assert sent == []


def test_the_task_names_and_the_beat_entry():
    from config.celery import app
    from tenants.schedules import PERIODIC_JOBS

    assert "partners.send_dispatches" in app.tasks
    assert "partners.send_due_dispatches" in app.tasks
    [job] = [j for j in PERIODIC_JOBS if j.tenant_task == "partners.send_due_dispatches"]
    assert job.every_seconds <= 10
