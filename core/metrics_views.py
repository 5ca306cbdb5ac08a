import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from core.exceptions import error_body
from core.metrics import render_latest


def metrics_view(request: HttpRequest) -> HttpResponse:
    """`/metrics` on the public host; a bearer token guards it when METRICS_TOKEN is set."""
    token = settings.METRICS_TOKEN
    if token:
        presented = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(presented.encode(), token.encode()):
            return JsonResponse(
                error_body("not_authenticated", "A valid bearer token is required."), status=401
            )
    body, content_type = render_latest()
    return HttpResponse(body, content_type=content_type)
