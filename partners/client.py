"""The one HTTP client for partner submissions: a pooled urllib3 manager, no redirects, capped reads.

Everything that talks to a partner's `submission_url` goes through `submit()`.
It never raises for an HTTP or network outcome: it returns a `SubmissionResponse`
that says what happened (status code, a capped body excerpt, `Retry-After`, or
the network failure), and `partners.dispatch` decides what that means.

* urllib3 directly, not `requests`: at ~1,000 submissions/s the per-request CPU
  is what limits sending (measured on loopback: requests ≈ 0.45 ms, urllib3 ≈
  0.25 ms per request; ADR 0006 "Performance"). requests only added what we
  switch off anyway (cookies, redirects, environment proxies/netrc).
* One `PoolManager` per process (created lazily, so Celery's prefork children
  do not share a parent's sockets) with a connection pool per partner host
  sized for the send thread pool; urllib3's pools are thread-safe, and no
  cookies are ever stored.
* Redirects are never followed (a partner answering 3xx is misconfigured; the
  signed body must not be re-posted somewhere else).
* The response body is read raw (no gzip decoding) up to `RESPONSE_READ_CAP`
  bytes and the connection discarded beyond that: a hostile or broken partner
  cannot make us read a gigabyte to record an error excerpt.
* Unless `PARTNER_URL_ALLOW_PRIVATE` is on, a URL whose host resolves to a
  private, loopback, link-local or otherwise non-global address is refused at
  send time too (DNS can change after the partner was saved). The check is
  per resolution, cached for a minute; it narrows SSRF, it does not pin the
  address urllib3 then connects to (see ADR 0006).
* Nothing is read from the environment (no proxy, no netrc: a netrc credential
  must never reach a partner).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3
from django.conf import settings
from urllib3.exceptions import (
    HTTPError,
    LocationValueError,
    NewConnectionError,
    ProtocolError,
    SSLError,
)
from urllib3.exceptions import TimeoutError as Urllib3Timeout

RESPONSE_READ_CAP = 64 * 1024
POOL_SIZE = 32
USER_AGENT = "campaign-back-office/1.0 (+dispatch)"

_manager: urllib3.PoolManager | None = None
_manager_pid: int | None = None
_manager_lock = threading.Lock()
# Partners (hosts) whose connection pools are kept per process.
MAX_PARTNER_POOLS = 64


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


def _new_manager() -> urllib3.PoolManager:
    return urllib3.PoolManager(
        num_pools=MAX_PARTNER_POOLS,
        maxsize=POOL_SIZE,
        retries=False,  # one attempt: retries are the dispatch's business (back-off, attempt rows)
        headers={"User-Agent": USER_AGENT},
    )


def get_manager() -> urllib3.PoolManager:
    """The process's pool manager (a fresh one after a fork)."""
    global _manager, _manager_pid
    pid = os.getpid()
    if _manager is None or _manager_pid != pid:
        with _manager_lock:
            if _manager is None or _manager_pid != pid:
                _manager, _manager_pid = _new_manager(), pid
    return _manager


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


def _read_capped(response: urllib3.BaseHTTPResponse, cap: int) -> tuple[bytes, bool]:
    """At most `cap` bytes of the raw body, and whether there was more."""
    data = response.read(cap + 1, decode_content=False)
    if len(data) > cap:
        return data[:cap], True
    return data, False


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

    if urlsplit(url).scheme not in ("http", "https"):
        return SubmissionResponse(
            None,
            elapsed_ms(),
            failure=NetworkFailure.INVALID_REQUEST,
            failure_detail=f"invalid URL {url!r}: the scheme must be http or https",
        )
    try:
        response = get_manager().request(
            "POST",
            url,
            body=body,
            headers={"User-Agent": USER_AGENT, **headers},
            timeout=urllib3.Timeout(connect=timeout_seconds, read=timeout_seconds),
            redirect=False,
            preload_content=False,
        )
    except NewConnectionError as exc:  # refused, unreachable, DNS (a subclass of the connect timeout)
        return SubmissionResponse(
            None, elapsed_ms(), failure=NetworkFailure.CONNECTION, failure_detail=str(exc)
        )
    except Urllib3Timeout as exc:
        return SubmissionResponse(None, elapsed_ms(), failure=NetworkFailure.TIMEOUT, failure_detail=str(exc))
    except (ProtocolError, SSLError) as exc:
        return SubmissionResponse(
            None, elapsed_ms(), failure=NetworkFailure.CONNECTION, failure_detail=str(exc)
        )
    except (LocationValueError, HTTPError) as exc:
        return SubmissionResponse(
            None, elapsed_ms(), failure=NetworkFailure.INVALID_REQUEST, failure_detail=str(exc)
        )

    try:
        excerpt, truncated = _read_capped(response, RESPONSE_READ_CAP)
    except Urllib3Timeout as exc:  # headers came, the body stalled
        response.close()  # the connection is in an unknown state: never reused
        return SubmissionResponse(
            response.status, elapsed_ms(), failure=NetworkFailure.TIMEOUT, failure_detail=str(exc)
        )
    except (HTTPError, OSError) as exc:
        response.close()
        return SubmissionResponse(
            response.status, elapsed_ms(), failure=NetworkFailure.CONNECTION, failure_detail=str(exc)
        )
    if truncated:
        response.close()  # unread bytes left on the socket: the connection is dropped, not pooled
    response.release_conn()
    return SubmissionResponse(
        status_code=response.status,
        latency_ms=elapsed_ms(),
        body_excerpt=excerpt,
        body_truncated=truncated,
        retry_after=response.headers.get("Retry-After"),
        location=response.headers.get("Location"),
    )
