"""The one outgoing HTTP client: libcurl (pycurl) driven by a CurlMulti, no redirects, capped reads.

Everything that POSTs to the outside world goes through `submit_many()` (a
batch) or `submit()` (a batch of one): partner submissions, push providers
(the signed push gateway, FCM), the alarm webhook. Neither raises for an HTTP or
network outcome: each request gets a `SubmissionResponse` that says what
happened (status code, a capped body excerpt, `Retry-After`, `Location`, or the
network failure), and the caller decides what that means with `core.delivery`.

* pycurl, not urllib3: at ~1,000 submissions/s the per-request CPU is what
  limits sending. Measured against a local keep-alive server, 2,000 requests:
  urllib3 ≈ 445 µs of CPU per request, a bare loop of 16 transfers in flight in
  one CurlMulti ≈ 26 µs, this module's `submit_many` (with its checks) ≈ 20 µs
  more (ADR 0006 "Performance amendment: pycurl"). The HTTP work (parsing,
  connection reuse, timeouts, TLS) happens in C; Python only sets options and
  collects the answer.
* `submit_many(requests, concurrency=16)` runs the whole batch from the calling
  thread on one CurlMulti: at most `concurrency` transfers in flight, the next
  one started as soon as a slot frees, no threads. The answers come back in the
  order of the requests.
* Handles and connections are kept per process and reused between calls. An
  "engine" is one CurlMulti (which owns the connection cache, the DNS cache and
  the TLS session cache) with its idle `pycurl.Curl` handles. A call checks an
  engine out of the process's pool and gives it back at the end, so callers in
  several threads never share one: with a single sending thread there is one
  CurlMulti per process; each thread calling at the same time gets its own.
  The pool is per process: after a fork the child starts a new one (checked
  with `os.getpid()`, plus an `os.register_at_fork` hook that also renews the
  lock) and never closes the parent's handles, whose sockets (and TLS state)
  still belong to the parent.
* POST, one attempt, redirects never followed (a partner answering 3xx is
  misconfigured; the signed body must not be re-posted somewhere else): the 3xx
  comes back with its `Location`. Only http and https are allowed, checked
  before curl sees the URL and enforced by curl (`PROTOCOLS`,
  `REDIR_PROTOCOLS`); a URL with credentials (which curl would send as Basic
  auth) is refused too, as `core.http.url_guard` refuses it at save time.
  HTTP/1.1, as with urllib3. One exception to "one attempt", built into
  libcurl: when a *reused* keep-alive connection turns out to be dead before
  any byte of the answer came back (the partner closed it while idle), libcurl
  re-sends the same request, byte for byte (same `webhook-id`, signature and
  `Idempotency-Key`), on another connection, at most 5 times. If the partner
  had in fact received the first copy, it sees a duplicate key, which it must
  deduplicate anyway (our own retries reuse the key too).
* Timeouts: `timeout_seconds` bounds the connection (`CONNECTTIMEOUT_MS`) and
  the whole transfer (`TIMEOUT_MS`, from the moment the request starts, not
  while it waits for a slot). urllib3 had a connect timeout and a per-read
  timeout of `timeout_seconds` each; a total is stricter (a partner trickling
  its answer can no longer stretch a request), so a lease sized for
  connect + read timeouts still covers it. A timeout is `TIMEOUT`, with the
  status code if the headers had arrived before the body stalled.
* The response body is read raw (no `Accept-Encoding`, no decoding) up to
  `RESPONSE_READ_CAP` bytes; past that the write callback aborts the transfer
  and the answer is the status code, the excerpt and `body_truncated=True`, not
  a failure. libcurl closes an aborted connection instead of reusing it: a
  hostile or broken partner cannot make us read a gigabyte to record an excerpt.
* Unless private addresses are allowed for the target (`allow_private`; by default
  `PARTNER_URL_ALLOW_PRIVATE`), a URL whose host resolves to a
  private, loopback, link-local or otherwise non-global address is refused at
  send time too (DNS can change after the partner was saved). The resolution is
  cached for a minute, and curl is told to connect to exactly the addresses
  that were checked (`RESOLVE` "host:port:addresses"), so a name that re-resolves
  to an internal address between the check and the connection (DNS rebinding)
  cannot redirect the request.
* Nothing is read from the environment for the request: no proxy (`PROXY` ""
  and `NOPROXY` "*" override `http_proxy` and friends), no netrc (a netrc
  credential must never reach a partner), no cookies. TLS peers are verified
  against the system's CA store as Python's `ssl` module finds it
  (`ssl.get_default_verify_paths()`, so `SSL_CERT_FILE`/`SSL_CERT_DIR` apply,
  as they did for urllib3), or certifi's bundle when there is none: the
  manylinux wheel's libcurl has a RHEL path compiled in
  (/etc/pki/tls/certs/ca-bundle.crt), absent on Debian. Like urllib3, libcurl
  honours `SSLKEYLOGFILE`, a TLS debugging switch.
* Headers: the caller's, as given, plus `User-Agent: USER_AGENT` unless the
  caller sets one; curl's `Expect: 100-continue` (a round trip) and its default
  form `Content-Type` are suppressed. A header name or value that would break
  the request (CR, LF, NUL, a name that is not a token) is an
  `INVALID_REQUEST`, never sent.
* The event loop is `CurlMulti.perform()` + `select()`. `select()` cannot watch
  file descriptors ≥ 1024; should the process ever hold that many, the loop
  degrades to polling every 10 ms instead of hanging.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import os
import re
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import pycurl
from django.conf import settings

RESPONSE_READ_CAP = 64 * 1024
USER_AGENT = "campaign-back-office/1.0 (+dispatch)"
DEFAULT_CONCURRENCY = 16

# Engines (CurlMulti + handles) kept idle per process, handles kept per engine, and the
# connections one engine's cache keeps open (several partner hosts × the concurrency).
MAX_IDLE_ENGINES = 32
MAX_IDLE_HANDLES = 64
MAX_CACHED_CONNECTIONS = 64

_HTTP_ONLY = pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS
_SELECT_MAX_WAIT_SECONDS = 1.0
_POLL_FALLBACK_SECONDS = 0.01

# curl error codes: the request itself is unusable (retrying cannot help).
_CURL_INVALID_REQUEST = frozenset({pycurl.E_UNSUPPORTED_PROTOCOL, pycurl.E_URL_MALFORMAT})
_TCHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_HEADER_NAMES = re.compile(rf"(?:{_TCHARS}(?:\x01{_TCHARS})*)?")  # names joined with \x01
_HEADER_VALUE_FORBIDDEN = re.compile(r"[\r\n\x00]")


class NetworkFailure:
    """Kinds of failure where no HTTP answer was received (`SubmissionResponse.failure`)."""

    TIMEOUT = "timeout"
    CONNECTION = "connection_error"
    INVALID_REQUEST = "invalid_request"  # bad URL, unsupported scheme: retrying cannot help


@dataclass(frozen=True)
class SubmissionResponse:
    status_code: int | None
    latency_ms: int
    body_excerpt: bytes = b""
    body_truncated: bool = False
    retry_after: str | None = None
    location: str | None = None
    failure: str | None = None  # a NetworkFailure kind when no HTTP answer was received
    failure_detail: str = ""


@dataclass(frozen=True)
class SubmissionRequest:
    url: str
    body: bytes
    headers: dict[str, str]
    timeout_seconds: float


# --- engines: one CurlMulti and its idle handles, pooled per process --------------------------------


class _Engine:
    """A CurlMulti (connection, DNS and TLS session caches) and its idle easy handles.

    Used by one thread at a time (checked out of the pool for the duration of a call).
    """

    def __init__(self) -> None:
        self.multi = pycurl.CurlMulti()
        self.multi.setopt(pycurl.M_MAXCONNECTS, MAX_CACHED_CONNECTIONS)
        self.idle: list[pycurl.Curl] = []
        # (host, port) of the entries this engine's DNS cache holds from RESOLVE
        self.pinned: set[tuple[str | None, int]] = set()

    def take_handle(self) -> pycurl.Curl:
        return self.idle.pop() if self.idle else pycurl.Curl()

    def give_back(self, curl: pycurl.Curl) -> None:
        if len(self.idle) < MAX_IDLE_HANDLES:
            self.idle.append(curl)
        else:
            curl.close()

    def close(self) -> None:
        for curl in self.idle:
            curl.close()
        self.idle.clear()
        self.multi.close()


_engines: list[_Engine] = []
_engines_pid = os.getpid()
_engines_lock = threading.Lock()
# A parent's engines seen in a forked child: referenced forever, never closed (closing would
# shut down sockets and TLS sessions the parent is still using).
_inherited_engines: list[_Engine] = []


def _forget_parent_engines() -> None:
    global _engines, _engines_pid, _engines_lock
    _inherited_engines.extend(_engines)
    _engines, _engines_pid, _engines_lock = [], os.getpid(), threading.Lock()


os.register_at_fork(after_in_child=_forget_parent_engines)


def _checkout_engine() -> _Engine:
    with _engines_lock:
        if _engines_pid != os.getpid():  # forked without the at-fork hook running
            _forget_parent_engines()
            return _Engine()
        if _engines:
            return _engines.pop()
    return _Engine()


def _checkin_engine(engine: _Engine) -> None:
    with _engines_lock:
        if _engines_pid == os.getpid() and len(_engines) < MAX_IDLE_ENGINES:
            _engines.append(engine)
            return
    if _engines_pid == os.getpid():
        engine.close()


# --- SSRF guard --------------------------------------------------------------------------------------

_ADDRESS_CHECK_TTL_SECONDS = 60.0
# host → (checked at, every address is global, the addresses)
_address_checks: dict[str, tuple[float, bool, tuple[str, ...]]] = {}


def _checked_addresses(host: str) -> tuple[bool, tuple[str, ...]]:
    """Whether every address `host` resolves to is globally routable, and those addresses.

    Raises OSError (or ValueError/UnicodeError) when the host does not resolve.
    """
    cached = _address_checks.get(host)
    if cached and time.monotonic() - cached[0] < _ADDRESS_CHECK_TTL_SECONDS:
        return cached[1], cached[2]
    addresses = tuple(
        dict.fromkeys(info[4][0] for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP))
    )
    public = bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_global for a in addresses)
    _address_checks[host] = (time.monotonic(), public, addresses)
    return public, addresses


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@functools.cache
def _ca_options() -> tuple[tuple[int, str], ...]:
    """Where curl finds trusted CAs: the system's store as Python's ssl sees it, else certifi's."""
    paths = ssl.get_default_verify_paths()
    options: list[tuple[int, str]] = []
    if paths.cafile and os.path.isfile(paths.cafile):
        options.append((pycurl.CAINFO, paths.cafile))
    if paths.capath and os.path.isdir(paths.capath):
        options.append((pycurl.CAPATH, paths.capath))
    if not options:
        import certifi

        options.append((pycurl.CAINFO, certifi.where()))
    return tuple(options)


# --- one transfer ------------------------------------------------------------------------------------


class _Transfer:
    """A request being sent: its answer's body and header lines, collected by curl's callbacks."""

    __slots__ = ("chunks", "header_lines", "index", "size", "started", "truncated")

    def __init__(self, index: int, started: float) -> None:
        self.index = index
        self.started = started
        self.chunks: list[bytes] = []
        self.size = 0
        self.truncated = False
        self.header_lines: list[bytes] = []

    def write(self, data: bytes) -> int | None:
        room = RESPONSE_READ_CAP - self.size
        if len(data) <= room:
            self.chunks.append(data)
            self.size += len(data)
            return None  # all consumed
        if room > 0:
            self.chunks.append(data[:room])
            self.size = RESPONSE_READ_CAP
        self.truncated = True
        return 0  # abort: curl ends the transfer (E_WRITE_ERROR) and closes the connection

    def headers(self) -> tuple[str | None, str | None]:
        """Retry-After and Location of the final answer (a new status line starts over)."""
        retry_after: list[str] = []
        location: list[str] = []
        in_head = False
        for raw in self.header_lines:
            if raw.startswith(b"HTTP/"):
                retry_after, location, in_head = [], [], True
                continue
            line = raw.rstrip(b"\r\n")
            if not line:
                in_head = False  # end of this head (what follows would be trailers)
                continue
            if not in_head:
                continue
            name, sep, value = line.partition(b":")
            if not sep:
                continue
            name = name.strip().lower()
            if name == b"retry-after":
                retry_after.append(value.strip().decode("latin-1"))
            elif name == b"location":
                location.append(value.strip().decode("latin-1"))
        return (", ".join(retry_after) or None), (", ".join(location) or None)


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _failed(started: float, failure: str, detail: str, status_code: int | None = None) -> SubmissionResponse:
    return SubmissionResponse(status_code, _elapsed_ms(started), failure=failure, failure_detail=detail)


def _header_lines(headers: dict[str, str]) -> list[str]:
    """The caller's headers as curl lines (raises ValueError for a header that cannot be sent)."""
    if not _HEADER_NAMES.fullmatch("\x01".join(headers)):
        raise ValueError(f"invalid header name among {list(headers)!r}")
    # "Name:" would tell curl to remove the header; "Name;" sends it with an empty value.
    lines = [f"{name}: {value}" if value != "" else f"{name};" for name, value in headers.items()]
    if _HEADER_VALUE_FORBIDDEN.search("".join(lines)):  # names are tokens: only a value can hold them
        raise ValueError("a header value contains CR, LF or NUL")
    lines.append("Expect:")  # no 100-continue round trip
    if "Content-Type" not in headers and not any(name.lower() == "content-type" for name in headers):
        lines.append("Content-Type:")  # not curl's default application/x-www-form-urlencoded
    return lines


@dataclass(frozen=True, slots=True)
class _Url:
    """What a partner URL means to curl (computed once per URL)."""

    curl_url: bytes
    https: bool
    host: str
    port: int
    curl_host: str | None  # the name curl resolves (IDNA), None for an IP literal or an unencodable name


@functools.lru_cache(maxsize=1024)
def _parse_url(url: str) -> _Url | str:
    """The URL, or why it cannot be sent (for an INVALID_REQUEST)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        has_credentials = parts.username is not None or parts.password is not None
        curl_url = url.encode("ascii") if url.isascii() else url.encode("utf-8")
    except ValueError as exc:
        return f"invalid URL {url!r}: {exc}"
    if parts.scheme not in ("http", "https"):
        return f"invalid URL {url!r}: the scheme must be http or https"
    if not host:
        return f"invalid URL {url!r}: no host"
    if has_credentials:
        return f"invalid URL {url!r}: credentials in the URL are not sent (the request is signed)"
    curl_host: str | None = None
    if not _is_ip_literal(host):
        try:
            curl_host = host.encode("idna").decode("ascii")
        except UnicodeError:
            curl_host = None
    return _Url(curl_url, parts.scheme == "https", host, port, curl_host)


@dataclass(frozen=True, slots=True)
class _Prepared:
    url: _Url
    header_lines: list[str]
    pin: str | None  # the RESOLVE entry "host:port:addresses" of the checked addresses


def _prepare(
    request: SubmissionRequest, started: float, allow_private: bool
) -> _Prepared | SubmissionResponse:
    """What curl needs for `request`, or the answer when it must not be sent."""
    url = _parse_url(request.url)
    if isinstance(url, str):
        return _failed(started, NetworkFailure.INVALID_REQUEST, url)
    try:
        header_lines = _header_lines(request.headers)
    except (ValueError, TypeError) as exc:
        return _failed(started, NetworkFailure.INVALID_REQUEST, str(exc))

    pin = None
    if not allow_private:
        host = url.host
        try:
            public, addresses = _checked_addresses(host)
        except (OSError, ValueError, UnicodeError) as exc:
            return _failed(started, NetworkFailure.CONNECTION, f"{host}: {exc}")
        if not public:
            return _failed(
                started,
                NetworkFailure.INVALID_REQUEST,
                f"refused: {host} resolves to a private or reserved address "
                "(private addresses are not allowed for this target)",
            )
        if not _is_ip_literal(host):  # a literal is connected to as it is
            if url.curl_host is None:
                return _failed(started, NetworkFailure.INVALID_REQUEST, f"invalid host {host!r}")
            listed = ",".join(f"[{a}]" if ":" in a else a for a in addresses)
            pin = f"{url.curl_host}:{url.port}:{listed}"
    return _Prepared(url, header_lines, pin)


def _configure(
    curl: pycurl.Curl, engine: _Engine, transfer: _Transfer, request: SubmissionRequest, prepared: _Prepared
) -> None:
    """Every option of one request, on a handle reset to libcurl's defaults."""
    url = prepared.url
    curl.reset()  # drops the previous request's options and callbacks (not the cached connections)
    setopt = curl.setopt
    setopt(pycurl.URL, url.curl_url)
    setopt(pycurl.POSTFIELDS, request.body)  # POST with this body (copied, length-delimited)
    setopt(pycurl.HTTPHEADER, prepared.header_lines)
    setopt(pycurl.USERAGENT, USER_AGENT)
    setopt(pycurl.HTTP_VERSION, pycurl.CURL_HTTP_VERSION_1_1)
    setopt(pycurl.PROTOCOLS, _HTTP_ONLY)
    setopt(pycurl.REDIR_PROTOCOLS, _HTTP_ONLY)
    setopt(pycurl.FOLLOWLOCATION, 0)
    setopt(pycurl.PROXY, "")
    setopt(pycurl.NOPROXY, "*")
    setopt(pycurl.NETRC, pycurl.NETRC_IGNORED)
    setopt(pycurl.NOSIGNAL, 1)
    timeout_ms = max(1, int(request.timeout_seconds * 1000))
    setopt(pycurl.CONNECTTIMEOUT_MS, timeout_ms)
    setopt(pycurl.TIMEOUT_MS, timeout_ms)
    setopt(pycurl.WRITEFUNCTION, transfer.write)
    setopt(pycurl.HEADERFUNCTION, transfer.header_lines.append)
    if url.https:
        for option, value in _ca_options():
            setopt(option, value)
    if prepared.pin is not None:
        setopt(pycurl.RESOLVE, [prepared.pin])  # replaces an earlier entry for this host:port
        engine.pinned.add((url.curl_host, url.port))
    elif engine.pinned and (url.curl_host, url.port) in engine.pinned:
        # Pinned by an earlier call (the guard was on then): the entry would outlive it in the
        # engine's DNS cache, so remove it and let curl resolve.
        engine.pinned.discard((url.curl_host, url.port))
        setopt(pycurl.RESOLVE, [f"-{url.curl_host}:{url.port}"])


def _finish(curl: pycurl.Curl, transfer: _Transfer, errno: int, message: str) -> SubmissionResponse:
    """The answer of a transfer curl is done with (`errno` 0: completed)."""
    status_code = curl.getinfo(pycurl.RESPONSE_CODE) or None
    latency_ms = _elapsed_ms(transfer.started)
    if errno == 0 or (errno == pycurl.E_WRITE_ERROR and transfer.truncated and status_code):
        retry_after, location = transfer.headers()
        return SubmissionResponse(
            status_code=status_code,
            latency_ms=latency_ms,
            body_excerpt=b"".join(transfer.chunks),
            body_truncated=transfer.truncated,
            retry_after=retry_after,
            location=location,
        )
    if errno == pycurl.E_OPERATION_TIMEDOUT:
        failure = NetworkFailure.TIMEOUT
    elif errno in _CURL_INVALID_REQUEST:
        failure = NetworkFailure.INVALID_REQUEST
    else:  # refused, reset, DNS, TLS, a broken answer…
        failure = NetworkFailure.CONNECTION
    detail = f"curl error {errno}: {message}" if message else f"curl error {errno}"
    return SubmissionResponse(status_code, latency_ms, failure=failure, failure_detail=detail)


# --- the API -----------------------------------------------------------------------------------------


def submit_many(
    requests: Sequence[SubmissionRequest],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    allow_private: bool | None = None,
) -> list[SubmissionResponse]:
    """POST each request once, at most `concurrency` at a time; one answer per request, in order.

    Driven from the calling thread by one CurlMulti. Never raises for a network or HTTP outcome.
    `allow_private` turns the address check off (None: `settings.PARTNER_URL_ALLOW_PRIVATE`); each
    kind of target passes its own setting.
    """
    if not requests:
        return []
    concurrency = max(1, concurrency)
    if allow_private is None:
        allow_private = settings.PARTNER_URL_ALLOW_PRIVATE
    results: list[SubmissionResponse | None] = [None] * len(requests)
    queue: deque[tuple[int, float, _Prepared]] = deque()  # (index, seconds its checks took, prepared)
    for index, request in enumerate(requests):
        started = time.monotonic()
        prepared = _prepare(request, started, allow_private)
        if isinstance(prepared, SubmissionResponse):
            results[index] = prepared
        else:
            queue.append((index, time.monotonic() - started, prepared))
    if queue:
        _run(requests, queue, results, concurrency)
    return results  # type: ignore[return-value]  # every slot is filled


def _run(
    requests: Sequence[SubmissionRequest],
    queue: deque[tuple[int, float, _Prepared]],
    results: list[SubmissionResponse | None],
    concurrency: int,
) -> None:
    engine = _checkout_engine()
    multi = engine.multi
    active: dict[pycurl.Curl, _Transfer] = {}
    healthy = False
    try:
        while queue or active:
            while queue and len(active) < concurrency:
                index, prepare_seconds, prepared = queue.popleft()
                # The request's own wall time: its checks, then its transfer (not the wait for a slot).
                started = time.monotonic() - prepare_seconds
                transfer = _Transfer(index, started)
                curl = engine.take_handle()
                try:
                    _configure(curl, engine, transfer, requests[index], prepared)
                except (pycurl.error, TypeError, ValueError, UnicodeError) as exc:
                    # e.g. a body that is a str with non-ASCII characters, a timeout that is not a number
                    results[index] = _failed(started, NetworkFailure.INVALID_REQUEST, f"not sendable: {exc}")
                    engine.give_back(curl)
                    continue
                multi.add_handle(curl)
                active[curl] = transfer

            while multi.perform()[0] == pycurl.E_CALL_MULTI_PERFORM:
                pass
            while True:
                queued, done, failed = multi.info_read()
                for curl in done:
                    _complete(engine, active, results, curl, 0, "")
                for curl, errno, message in failed:
                    _complete(engine, active, results, curl, errno, message)
                if not queued:
                    break

            if queue and len(active) < concurrency:
                continue  # start the next requests before waiting
            if active:
                _wait(multi)
        healthy = True
    finally:
        if healthy:
            _checkin_engine(engine)
        else:  # an exception (e.g. a task time limit) interrupted the loop: abandon the engine
            with contextlib.suppress(pycurl.error):
                for curl in active:
                    multi.remove_handle(curl)
                    curl.close()
                if _engines_pid == os.getpid():
                    engine.close()


def _complete(
    engine: _Engine,
    active: dict[pycurl.Curl, _Transfer],
    results: list[SubmissionResponse | None],
    curl: pycurl.Curl,
    errno: int,
    message: str,
) -> None:
    transfer = active.pop(curl)
    results[transfer.index] = _finish(curl, transfer, errno, message)
    engine.multi.remove_handle(curl)
    engine.give_back(curl)


def _wait(multi: pycurl.CurlMulti) -> None:
    """Until a socket is ready or curl's next timeout (at most a second)."""
    timeout_ms = multi.timeout()
    wait = _SELECT_MAX_WAIT_SECONDS if timeout_ms < 0 else min(timeout_ms / 1000, _SELECT_MAX_WAIT_SECONDS)
    if wait <= 0:
        return
    before = time.monotonic()
    if multi.select(wait) <= 0 and time.monotonic() - before < wait / 2:
        # select() returned at once with nothing ready: curl had no socket it could put in an
        # fd_set (none yet, or one numbered ≥ FD_SETSIZE). Poll instead of spinning.
        time.sleep(min(wait, _POLL_FALLBACK_SECONDS))


def submit(
    *,
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout_seconds: float,
    allow_private: bool | None = None,
) -> SubmissionResponse:
    """POST `body` to `url` once (`submit_many` of one). Never raises for a network or HTTP outcome."""
    return submit_many(
        [SubmissionRequest(url, body, headers, timeout_seconds)], concurrency=1, allow_private=allow_private
    )[0]
