"""core.http.client against real local servers: `submit_many` outcomes and order, concurrency, connection
reuse, the request on the wire, TLS verification, the SSRF guard and its address pinning, fork safety."""

from __future__ import annotations

import datetime as dt
import os
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from core.http import client
from core.http.client import NetworkFailure, SubmissionRequest

PRIVATE_REFUSAL = "resolves to a private or reserved address"


@pytest.fixture
def threaded_server() -> Iterator[HTTPServer]:
    """A pytest-httpserver that answers requests concurrently (a slow answer does not block the others)."""
    server = HTTPServer(threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


def _refused_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/submissions"  # nothing listens there any more


def _request(url: str, *, timeout: float = 5, body: bytes = b"{}", headers=None) -> SubmissionRequest:
    return SubmissionRequest(url=url, body=body, headers=headers or {}, timeout_seconds=timeout)


def test_submit_many_answers_each_request_in_order_whatever_its_outcome(threaded_server):
    def slow(request):
        time.sleep(1.5)
        return Response("late")

    server = threaded_server
    server.expect_request("/ok").respond_with_data("accepted", status=200)
    server.expect_request("/busy").respond_with_data("busy", status=500, headers={"Retry-After": "7"})
    server.expect_request("/moved").respond_with_data(
        "", status=301, headers={"Location": server.url_for("/elsewhere")}
    )
    server.expect_request("/slow").respond_with_handler(slow)
    server.expect_request("/huge").respond_with_data(b"x" * (client.RESPONSE_READ_CAP + 10), status=200)
    server.expect_request("/elsewhere").respond_with_data("must not be reached")

    started = time.monotonic()
    ok, busy, moved, refused, timed_out, huge, ftp = client.submit_many(
        [
            _request(server.url_for("/ok")),
            _request(server.url_for("/busy")),
            _request(server.url_for("/moved")),
            _request(_refused_url()),
            _request(server.url_for("/slow"), timeout=1),
            _request(server.url_for("/huge")),
            _request("ftp://example.com/submissions"),
        ]
    )
    elapsed = time.monotonic() - started

    assert (ok.status_code, ok.body_excerpt, ok.failure, ok.body_truncated) == (200, b"accepted", None, False)
    assert (busy.status_code, busy.body_excerpt, busy.retry_after) == (500, b"busy", "7")
    assert busy.failure is None
    assert (moved.status_code, moved.location) == (301, server.url_for("/elsewhere"))
    assert not [r for r, _ in server.log if r.path == "/elsewhere"]  # the redirect was not followed
    assert (refused.status_code, refused.failure) == (None, NetworkFailure.CONNECTION)
    assert refused.failure_detail
    assert (timed_out.status_code, timed_out.failure) == (None, NetworkFailure.TIMEOUT)
    assert 900 <= timed_out.latency_ms < 1500
    assert (huge.status_code, huge.failure, huge.body_truncated) == (200, None, True)
    assert huge.body_excerpt == b"x" * client.RESPONSE_READ_CAP
    assert (ftp.status_code, ftp.failure) == (None, NetworkFailure.INVALID_REQUEST)
    assert "scheme" in ftp.failure_detail
    assert elapsed < 1.5  # sent together: the whole batch took about the 1 s timeout
    time.sleep(0.6)  # let the slow handler finish before the server stops


def test_a_header_that_would_break_the_request_is_invalid_and_not_sent(httpserver):
    httpserver.expect_request("/submissions").respond_with_data("ok")
    url = httpserver.url_for("/submissions")

    injected, bad_name, fine = client.submit_many(
        [
            _request(url, headers={"X-Note": "a\r\nX-Injected: 1"}),
            _request(url, headers={"Bad Name": "x"}),
            _request(url),
        ]
    )

    assert injected.failure == bad_name.failure == NetworkFailure.INVALID_REQUEST
    assert fine.status_code == 200
    assert len(httpserver.log) == 1


def test_the_request_on_the_wire(httpserver):
    """POST, the body as given, the caller's headers, our User-Agent; no Expect, no invented Content-Type."""
    httpserver.expect_request("/submissions", method="POST").respond_with_data("ok")
    body = b"\x00binary\xff" + b"y" * (2 * 1024 * 1024)  # large enough for curl to want Expect: 100-continue

    response = client.submit(
        url=httpserver.url_for("/submissions"),
        body=body,
        headers={"Idempotency-Key": "k-1", "webhook-signature": "v1,abc", "X-Empty": ""},
        timeout_seconds=5,
    )

    assert response.status_code == 200, response
    [(request, _)] = httpserver.log
    assert request.get_data() == body
    assert request.headers["Idempotency-Key"] == "k-1"
    assert request.headers["webhook-signature"] == "v1,abc"
    assert request.headers["X-Empty"] == ""
    assert request.headers["User-Agent"] == client.USER_AGENT
    assert "Expect" not in request.headers
    assert "Content-Type" not in request.headers
    assert "Accept-Encoding" not in request.headers  # the body is read raw


def test_headers_of_the_final_answer_are_read_case_insensitively(httpserver):
    httpserver.expect_request("/submissions").respond_with_data(
        "slow down", status=429, headers={"retry-after": "120", "LOCATION": "/x"}
    )
    response = client.submit(
        url=httpserver.url_for("/submissions"), body=b"{}", headers={}, timeout_seconds=5
    )
    assert (response.status_code, response.retry_after, response.location) == (429, "120", "/x")


class _CountingServer(ThreadingHTTPServer):
    """HTTP/1.1 keep-alive server that counts TCP connections and requests in flight."""

    daemon_threads = True
    request_queue_size = 64  # the default listen backlog (5) would hold back simultaneous connects

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__(("127.0.0.1", 0), _CountingHandler)
        self.delay = delay
        self.connections = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()

    def verify_request(self, request, client_address) -> bool:  # once per accepted connection
        self.connections += 1
        return True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/submissions"


class _CountingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _CountingServer

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            self.server.in_flight += 1
            self.server.max_in_flight = max(self.server.max_in_flight, self.server.in_flight)
        time.sleep(self.server.delay)
        with self.server.lock:
            self.server.in_flight -= 1
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format, *args) -> None:
        pass


@contextmanager
def counting_server(delay: float = 0.0) -> Iterator[_CountingServer]:
    server = _CountingServer(delay)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_requests_run_concurrently_up_to_the_limit():
    with counting_server(delay=0.5) as server:
        started = time.monotonic()
        responses = client.submit_many([_request(server.url) for _ in range(8)], concurrency=8)
        elapsed = time.monotonic() - started
        assert [r.status_code for r in responses] == [200] * 8
        assert elapsed < 2.0  # 8 × 0.5 s one after the other would be 4 s
        assert server.max_in_flight == 8

        server.max_in_flight = 0
        started = time.monotonic()
        responses = client.submit_many([_request(server.url) for _ in range(6)], concurrency=3)
        elapsed = time.monotonic() - started
        assert [r.status_code for r in responses] == [200] * 6
        assert server.max_in_flight == 3  # never more than `concurrency` at once
        assert 0.95 <= elapsed < 2.0  # two rounds of 0.5 s
        assert all(450 <= r.latency_ms < 1000 for r in responses)  # a request's own time, not its wait


def test_connections_are_kept_and_reused_between_calls():
    with counting_server() as server:
        first = client.submit_many([_request(server.url) for _ in range(6)], concurrency=3)
        opened = server.connections
        second = client.submit_many([_request(server.url) for _ in range(6)], concurrency=3)
        single = [client.submit(url=server.url, body=b"{}", headers={}, timeout_seconds=5) for _ in range(3)]

        assert [r.status_code for r in first + second + single] == [200] * 15
        assert 1 <= opened <= 3
        assert server.connections == opened  # the second batch and the single requests opened none


def test_after_a_truncated_answer_the_connection_is_not_reused(httpserver):
    httpserver.expect_ordered_request("/submissions").respond_with_data(b"x" * (client.RESPONSE_READ_CAP * 4))
    httpserver.expect_ordered_request("/submissions").respond_with_data(b"fine")
    url = httpserver.url_for("/submissions")

    first = client.submit(url=url, body=b"{}", headers={}, timeout_seconds=5)
    second = client.submit(url=url, body=b"{}", headers={}, timeout_seconds=5)

    assert (first.status_code, first.body_truncated, first.failure) == (200, True, None)
    assert (second.status_code, second.body_excerpt, second.failure) == (200, b"fine", None)


def test_a_private_address_is_refused_when_not_allowed(httpserver, settings):
    settings.PARTNER_URL_ALLOW_PRIVATE = False
    httpserver.expect_request("/submissions").respond_with_data("ok")
    port = httpserver.port

    responses = client.submit_many(
        [
            _request(f"http://127.0.0.1:{port}/submissions"),
            _request(f"http://localhost:{port}/submissions"),
            _request("http://does-not-exist.invalid/submissions"),
        ]
    )

    loopback, named, unresolvable = responses
    assert loopback.failure == named.failure == NetworkFailure.INVALID_REQUEST
    assert PRIVATE_REFUSAL in loopback.failure_detail and PRIVATE_REFUSAL in named.failure_detail
    assert unresolvable.failure == NetworkFailure.CONNECTION
    assert httpserver.log == []


def test_curl_connects_to_the_checked_addresses_and_nowhere_else(httpserver, settings):
    """DNS pinning: curl is handed the addresses the guard checked. `partner.test` resolves nowhere
    (.test is reserved), so reaching the server proves curl used the pinned address. The check's result
    is seeded in its cache, since a public address cannot be served locally."""
    httpserver.expect_request("/submissions").respond_with_data("pinned")
    url = f"http://partner.test:{httpserver.port}/submissions"
    settings.PARTNER_URL_ALLOW_PRIVATE = False
    client._address_checks["partner.test"] = (time.monotonic(), True, ("127.0.0.1",))
    try:
        pinned = client.submit(url=url, body=b"{}", headers={}, timeout_seconds=5)
        settings.PARTNER_URL_ALLOW_PRIVATE = True  # no check, no pin: curl resolves the name itself
        unpinned = client.submit(url=url, body=b"{}", headers={}, timeout_seconds=5)
    finally:
        client._address_checks.pop("partner.test", None)

    assert (pinned.status_code, pinned.body_excerpt) == (200, b"pinned")
    assert unpinned.failure == NetworkFailure.CONNECTION  # the earlier pin did not linger in curl's cache
    assert len(httpserver.log) == 1


def _tls_files(tmp_path) -> tuple[str, str, str]:
    """A CA and a certificate for localhost/127.0.0.1 signed by it: (ca.pem, cert.pem, key.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def build(subject, issuer, public_key, signing_key, *, ca: bool):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            import ipaddress

            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        return builder.sign(signing_key, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_cert = build("test CA", "test CA", ca_key.public_key(), ca_key, ca=True)
    cert = build("localhost", "test CA", key.public_key(), ca_key, ca=False)
    paths = [str(tmp_path / name) for name in ("ca.pem", "cert.pem", "key.pem")]
    for path, data in zip(
        paths,
        [
            ca_cert.public_bytes(serialization.Encoding.PEM),
            cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        ],
        strict=True,
    ):
        with open(path, "wb") as f:
            f.write(data)
    return paths[0], paths[1], paths[2]


def test_tls_peers_are_verified_against_the_system_trust_store(tmp_path, monkeypatch):
    ca, cert, key = _tls_files(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = HTTPServer(host="127.0.0.1", ssl_context=context)
    server.expect_request("/submissions").respond_with_data("over tls")
    server.start()
    url = f"https://127.0.0.1:{server.port}/submissions"
    try:
        untrusted = client.submit(url=url, body=b"{}", headers={}, timeout_seconds=5)
        # The trust store is the system's as Python's ssl module finds it, SSL_CERT_FILE included.
        monkeypatch.setenv("SSL_CERT_FILE", ca)
        client._ca_options.cache_clear()
        trusted = client.submit(url=url, body=b"{}", headers={}, timeout_seconds=5)
    finally:
        client._ca_options.cache_clear()
        server.clear()
        server.stop()

    assert (untrusted.status_code, untrusted.failure) == (None, NetworkFailure.CONNECTION)
    assert (trusted.status_code, trusted.body_excerpt) == (200, b"over tls")


def test_a_forked_child_gets_its_own_engine_and_the_parent_keeps_its_connection():
    with counting_server() as server:
        assert client.submit(url=server.url, body=b"{}", headers={}, timeout_seconds=5).status_code == 200
        pid = os.fork()
        if pid == 0:  # the child: a fresh engine, its own connection
            code = 1
            try:
                response = client.submit(url=server.url, body=b"{}", headers={}, timeout_seconds=5)
                code = 0 if response.status_code == 200 else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        after = client.submit(url=server.url, body=b"{}", headers={}, timeout_seconds=5)

        assert os.waitstatus_to_exitcode(status) == 0
        assert after.status_code == 200
        assert server.connections == 2  # the parent's, reused after the fork, and the child's


def test_an_empty_batch_sends_nothing():
    assert client.submit_many([]) == []
