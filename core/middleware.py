"""Middleware that must run before the tenant is known."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

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
