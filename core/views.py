"""JSON answers for requests that never reach an API view."""

from django.http import HttpRequest, JsonResponse

from core.exceptions import error_body


def tenant_not_found(request: HttpRequest) -> JsonResponse:
    """An unknown host: 404, never the public site or another tenant."""
    return JsonResponse(error_body("unknown_host", "No brand is served at this host."), status=404)


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("not_found", "Not found."), status=404)


def server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse(error_body("server_error", "Internal server error."), status=500)
