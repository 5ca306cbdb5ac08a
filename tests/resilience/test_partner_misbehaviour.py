"""Partner misbehaviour, each scenario end to end: the misbehaviour, then the partner recovers.

The unit-level cases live in tests/dispatches/test_sending.py (outcome classification,
Retry-After parsing, the read cap); here each SPEC §5 scenario runs to its final state
and gets a row in docs/reliability.md: a retryable failure ends `sent` with the partner
accepting the dispatch's Idempotency-Key once; a redirect ends `dead` (replayable) without
the new host ever being called; a huge body is read only up to the cap.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone
from werkzeug import Response

from core.http import client
from dispatches.models import Dispatch
from dispatches.services import dispatch_send_batch
from tests.dispatches.factories import make_dispatch
from tests.partners.factories import PartnerFactory

SUBMISSIONS = "/submissions"


@pytest.fixture
def partner(brand_a, httpserver):
    return PartnerFactory(
        slug="misbehaving",
        submission_url=httpserver.url_for(SUBMISSIONS),
        auth_url=httpserver.url_for("/participate"),
        timeout_seconds=1,
        max_attempts=8,
    )


def _send_until_final(dispatch: Dispatch, *, rounds: int = 10) -> Dispatch:
    for _ in range(rounds):
        dispatch_send_batch(dispatch_ids=[dispatch.id])
        dispatch.refresh_from_db()
        if dispatch.status in (Dispatch.Status.SENT, Dispatch.Status.DEAD):
            return dispatch
        Dispatch.objects.filter(pk=dispatch.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    return dispatch


class Scripted:
    """Answers a scripted sequence of misbehaviours, then 200; counts each Idempotency-Key."""

    def __init__(self, script):
        self.script = list(script)
        self.keys: Counter[str] = Counter()
        self.accepted: set[str] = set()

    def __call__(self, request):
        key = request.headers.get("Idempotency-Key", "")
        self.keys[key] += 1
        if self.script:
            return self.script.pop(0)(request)
        self.accepted.add(key)
        return Response('{"ok": true}', status=200, content_type="application/json")


def status(code, **headers):
    return lambda request: Response("partner trouble", status=code, headers=headers)


def slow(request):
    time.sleep(1.5)  # beyond the partner's 1 s timeout
    return Response("late", status=200)


@pytest.mark.parametrize(
    ("scenario", "script"),
    [
        ("5xx burst (500, 502, 503, 504) then healthy", [status(500), status(502), status(503), status(504)]),
        ("429 with Retry-After: 1 then healthy", [status(429, **{"Retry-After": "1"})]),
        ("408 then healthy", [status(408)]),
        ("slow responses beyond the timeout (×2) then healthy", [slow, slow]),
    ],
)
def test_retryable_misbehaviour_ends_sent_once(partner, httpserver, reliability, scenario, script):
    handler = Scripted(script)
    httpserver.expect_request(SUBMISSIONS).respond_with_handler(handler)
    dispatch = make_dispatch(partner=partner)
    started = time.monotonic()
    final = _send_until_final(dispatch)
    elapsed = time.monotonic() - started
    time.sleep(0.6 if script and script[0] is slow else 0)  # let a slow handler finish in this test
    keys = {key for key in handler.keys}
    reliability.record(
        f"partner: {scenario} → {final.status} after {final.attempts} attempts",
        lost=int(final.status != Dispatch.Status.SENT),
        duplicated=max(len(handler.accepted) - 1, 0),
        recovery_s=elapsed,
        cases=final.attempts,
        five_xx=0,
    )
    assert final.status == Dispatch.Status.SENT
    assert keys == {str(dispatch.id)}  # every attempt carried the dispatch's own key
    assert handler.accepted == {str(dispatch.id)}


@contextlib.contextmanager
def resetting_server(resets: int, then_port: int):
    """Accepts connections and resets them (RST) `resets` times, then proxies nothing: closes."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    count = {"reset": 0}
    stop = threading.Event()

    def run():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with contextlib.suppress(OSError):
                conn.recv(1024)
            conn.close()
            count["reset"] += 1

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], count
    finally:
        stop.set()
        thread.join(2)
        listener.close()


def test_connection_reset_then_healthy_ends_sent_once(partner, httpserver, reliability):
    handler = Scripted([])
    httpserver.expect_request(SUBMISSIONS).respond_with_handler(handler)
    dispatch = make_dispatch(partner=partner)
    with resetting_server(2, httpserver.port) as (port, count):
        partner.submission_url = f"http://127.0.0.1:{port}{SUBMISSIONS}"
        partner.save()
        for _ in range(2):
            dispatch_send_batch(dispatch_ids=[dispatch.id])
            Dispatch.objects.filter(pk=dispatch.pk).update(
                next_attempt_at=timezone.now() - timedelta(seconds=1)
            )
        dispatch.refresh_from_db()
        assert dispatch.status == Dispatch.Status.RETRYING, dispatch.last_error
        assert dispatch.last_error.startswith("connection_error"), dispatch.last_error
    partner.submission_url = httpserver.url_for(SUBMISSIONS)
    partner.save()
    final = _send_until_final(dispatch)
    reliability.record(
        f"partner: connection reset (RST) ×{count['reset']} then healthy → {final.status}",
        lost=int(final.status != Dispatch.Status.SENT),
        duplicated=max(len(handler.accepted) - 1, 0),
        cases=final.attempts,
    )
    assert final.status == Dispatch.Status.SENT
    assert handler.accepted == {str(dispatch.id)}


def test_redirect_is_dead_and_the_new_host_never_called(partner, httpserver, reliability):
    elsewhere = httpserver.url_for("/elsewhere")
    httpserver.expect_request(SUBMISSIONS).respond_with_data("", status=301, headers={"Location": elsewhere})
    httpserver.expect_request("/elsewhere").respond_with_data("should not be reached")
    dispatch = make_dispatch(partner=partner)
    final = _send_until_final(dispatch)
    followed = sum(1 for request, _ in httpserver.log if request.path == "/elsewhere")
    reliability.record(
        "partner: 301 to another URL → dead at once (replayable), redirect not followed",
        lost=0 if final.status == Dispatch.Status.DEAD else 1,
        leaks=followed,
        cases=final.attempts,
    )
    assert final.status == Dispatch.Status.DEAD and final.attempts == 1
    assert followed == 0


def test_huge_response_body_is_read_only_up_to_the_cap(partner, httpserver, reliability):
    huge = b"x" * (20 * 1024 * 1024)
    httpserver.expect_request(SUBMISSIONS).respond_with_data(huge, status=500)
    response = client.submit(url=partner.submission_url, body=b"{}", headers={}, timeout_seconds=5)
    dispatch = make_dispatch(partner=partner)
    dispatch_send_batch(dispatch_ids=[dispatch.id])
    dispatch.refresh_from_db()
    reliability.record(
        f"partner: 20 MiB error body → read {len(response.body_excerpt)} bytes (cap), dispatch {dispatch.status}",
        lost=int(dispatch.status != Dispatch.Status.RETRYING),
        cases=1,
    )
    assert len(response.body_excerpt) == client.RESPONSE_READ_CAP
    assert dispatch.status == Dispatch.Status.RETRYING
