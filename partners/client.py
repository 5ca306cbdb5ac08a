"""The one HTTP client for partner submissions: a pooled session, no redirects, capped reads.

Everything that talks to a partner's `submission_url` goes through `submit()`.
It never raises for an HTTP or network outcome: it returns a `SubmissionResponse`
that says what happened (status code, a capped body excerpt, `Retry-After`, or
the network failure), and `partners.dispatch` decides what that means.

* One `requests.Session` per process (created lazily, so Celery's prefork
  children do not share a parent's sockets) with a connection pool sized for
  the send thread pool; urllib3's pool is thread-safe, and the session keeps
  no cookies, so threads can share it.
* Redirects are never followed (a partner answering 3xx is misconfigured; the
  signed body must not be re-posted somewhere else).
* The response body is read up to `RESPONSE_READ_CAP` bytes and the connection
  discarded beyond that: a hostile or broken partner cannot make us read a
  gigabyte to record an error excerpt.
* Unless `PARTNER_URL_ALLOW_PRIVATE` is on, a URL whose host resolves to a
  private, loopback, link-local or otherwise non-global address is refused at
  send time too (DNS can change after the partner was saved). The check is
  per resolution, cached for a minute; it narrows SSRF, it does not pin the
  address requests then connects to (see ADR 0006).
* `trust_env` is off: no proxy/netrc lookups from the environment per request
  (they are slow and a netrc credential must never reach a partner).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
import time
from dataclasses import dataclass
from http.cookiejar import DefaultCookiePolicy
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter

RESPONSE_READ_CAP = 64 * 1024
POOL_SIZE = 32
USER_AGENT = "campaign-back-office/1.0 (+dispatch)"

_session: requests.Session | None = None
_session_pid: int | None = None
_session_lock = threading.Lock()


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


def _new_session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))  # never store partner cookies
    session.headers["User-Agent"] = USER_AGENT
    adapter = HTTPAdapter(pool_connections=POOL_SIZE, pool_maxsize=POOL_SIZE, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def get_session() -> requests.Session:
    """The process's pooled session (a fresh one after a fork)."""
    global _session, _session_pid
    pid = os.getpid()
    if _session is None or _session_pid != pid:
        with _session_lock:
            if _session is None or _session_pid != pid:
                _session, _session_pid = _new_session(), pid
    return _session


_ADDRESS_CHECK_TTL_SECONDS = 60.0
_address_checks: dict[str, tuple[float, bool]] = {}


def _host_is_public(host: str) -> bool:
    """Every address `host` resolves to is globally routable (raises OSError when it does not resolve)."""
    cached = _address_checks.get(host)
    if cached and time.monotonic() - cached[0] < _ADDRESS_CHECK_TTL_SECONDS:
        return cached[1]
    addresses = {info[4][0] for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)}
    public = bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_global for a in addresses)
    _address_checks[host] = (time.monotonic(), public)
    return public


def _read_capped(response: requests.Response, cap: int) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size=16 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size >= cap:
            return b"".join(chunks)[:cap], True
    return b"".join(chunks), False


def submit(*, url: str, body: bytes, headers: dict[str, str], timeout_seconds: float) -> SubmissionResponse:
    """POST `body` to `url` once. Never raises for a network or HTTP outcome."""
    started = time.monotonic()

    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    if not settings.PARTNER_URL_ALLOW_PRIVATE:
        host = urlsplit(url).hostname or ""
        try:
            public = _host_is_public(host)
        except (OSError, ValueError, UnicodeError) as exc:
            return SubmissionResponse(
                None, elapsed_ms(), failure=NetworkFailure.CONNECTION, failure_detail=f"{host}: {exc}"
            )
        if not public:
            return SubmissionResponse(
                None,
                elapsed_ms(),
                failure=NetworkFailure.INVALID_REQUEST,
                failure_detail=f"refused: {host} resolves to a private or reserved address "
                "(PARTNER_URL_ALLOW_PRIVATE is off)",
            )

    try:
        response = get_session().post(
            url,
            data=body,
            headers=headers,
            timeout=(timeout_seconds, timeout_seconds),
            allow_redirects=False,
            stream=True,
        )
    except requests.Timeout as exc:
        return SubmissionResponse(None, elapsed_ms(), failure=NetworkFailure.TIMEOUT, failure_detail=str(exc))
    except requests.ConnectionError as exc:
        return SubmissionResponse(
            None, elapsed_ms(), failure=NetworkFailure.CONNECTION, failure_detail=str(exc)
        )
    except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema) as exc:
        return SubmissionResponse(
            None, elapsed_ms(), failure=NetworkFailure.INVALID_REQUEST, failure_detail=str(exc)
        )
    except requests.RequestException as exc:
        return SubmissionResponse(
            None, elapsed_ms(), failure=NetworkFailure.INVALID_REQUEST, failure_detail=str(exc)
        )

    with response:
        try:
            excerpt, truncated = _read_capped(response, RESPONSE_READ_CAP)
        except requests.Timeout as exc:  # headers came, the body stalled
            return SubmissionResponse(
                response.status_code, elapsed_ms(), failure=NetworkFailure.TIMEOUT, failure_detail=str(exc)
            )
        except requests.RequestException as exc:
            return SubmissionResponse(
                response.status_code,
                elapsed_ms(),
                failure=NetworkFailure.CONNECTION,
                failure_detail=str(exc),
            )
    return SubmissionResponse(
        status_code=response.status_code,
        latency_ms=elapsed_ms(),
        body_excerpt=excerpt,
        body_truncated=truncated,
        retry_after=response.headers.get("Retry-After"),
        location=response.headers.get("Location"),
    )
