"""Middleware that must run before the tenant is known."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django_tenants.middleware.main import TenantMainMiddleware

from core import health
from core.exceptions import error_body
from core.logging import request_id_var

Handler = Callable[[HttpRequest], HttpResponse]


class HealthCheckMiddleware:
    """`/healthz` (process up) and `/readyz` (database + broker) on any host.

    Load balancers probe by IP, not by brand host name, so these answer before
    the tenant lookup and never touch tenant data.
    """

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == "/healthz":
            return JsonResponse({"status": "ok"})
        if request.path == "/readyz":
            checks = health.readiness()
            ready = all(check["ok"] for check in checks.values())
            return JsonResponse(
                {"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
            )
        return self.get_response(request)


class RequestContextMiddleware:
    """Gives every request a correlation id (taken from `X-Request-ID` if sane) for the logs."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response


class BodySizeLimitMiddleware:
    """Refuse bodies over MAX_REQUEST_BODY_BYTES with 413 before anything reads them."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse(
                error_body("invalid_content_length", "Content-Length is not a number."), status=400
            )
        if length > settings.MAX_REQUEST_BODY_BYTES:
            return JsonResponse(
                error_body(
                    "payload_too_large",
                    f"The request body is larger than {settings.MAX_REQUEST_BODY_BYTES} bytes.",
                ),
                status=413,
            )
        return self.get_response(request)


class NulCharacterGuardMiddleware:
    """A path or query string with a NUL character is a 400: PostgreSQL cannot compare text with NUL,
    so a lookup by such an id would raise DataError (a 500) deep in a selector (ADR 0009)."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path or "%00" in request.META.get("QUERY_STRING", ""):
            return JsonResponse(
                error_body("invalid_characters", "NUL characters are not allowed in the URL."), status=400
            )
        return self.get_response(request)


# --- Database unreachable: 503 + Retry-After, never a 500 (ADR 0009) ---------------------------
DATABASE_RETRY_AFTER_SECONDS = 5


def is_database_unavailable(exc: BaseException) -> bool:
    """The database cannot be reached (down, restarting, connection lost) — not a bug in a query.

    Django wraps the driver's errors: a refused or dropped connection is an `OperationalError`
    (or an `InterfaceError` on a connection that was closed under us). A malformed query is a
    `ProgrammingError`/`DataError` and stays a 500: those are bugs to see, not outages to wait out.
    """
    from django.db import InterfaceError, OperationalError

    return isinstance(exc, OperationalError | InterfaceError)


def database_unavailable_response() -> JsonResponse:
    response = JsonResponse(
        error_body(
            "service_unavailable",
            "The service cannot reach its database for a moment; retry after the Retry-After delay.",
        ),
        status=503,
    )
    response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    return response


def _log_unavailable(request: HttpRequest, exc: BaseException) -> None:
    import logging

    logging.getLogger("core.database").warning(
        "database unavailable: answering 503",
        extra={"path": request.path, "error": f"{type(exc).__name__}: {exc}"[:300]},
    )


class DatabaseUnavailableMiddleware:
    """Maps a lost database in a view (API or admin) to 503 + Retry-After in the SPEC error shape.

    DRF's handler leaves these exceptions alone (it returns None), so they reach
    `process_exception` here. Nothing acknowledged is lost: a view answers 2xx only
    after its transaction committed, so a request that hits the outage gets 503 and
    the client retries (purchases are idempotent by `external_id`).
    """

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if is_database_unavailable(exception):
            _log_unavailable(request, exception)
            return database_unavailable_response()
        return None


class TenantMiddleware(TenantMainMiddleware):
    """django-tenants' host → schema lookup; while the database is unreachable, 503 instead of 500.

    The lookup is the first query of every tenant request, so an outage surfaces here before
    any view runs (and before `process_exception` could see it).
    """

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        try:
            return super().process_request(request)
        except Exception as exc:
            if not is_database_unavailable(exc):
                raise
            _log_unavailable(request, exc)
            return database_unavailable_response()
