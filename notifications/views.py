"""The signed public unsubscribe page (SPEC §14): GET shows a form, POST unsubscribes.

A POST is also RFC 8058's one-click unsubscribe (`List-Unsubscribe=One-Click` in the body, sent by
the mailbox provider without cookies): CSRF-exempt, since the signed token in the URL is the
authority. GET never changes anything (link scanners follow links). An invalid or foreign token is
a 404.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from core.exceptions import NotFoundError
from notifications.messages import unsubscribe, unsubscribe_read

LABELS = {
    "email": "emails",
    "sms": "text messages",
    "push": "push notifications",
    "in_app": "in-app messages",
}


@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe_page(request: HttpRequest, token: str) -> HttpResponse:
    try:
        data = unsubscribe_read(token)
    except NotFoundError:
        return HttpResponse("This unsubscribe link is not valid.", status=404, content_type="text/plain")
    context = {"channel_label": LABELS.get(data["ch"], "messages"), "topic": data.get("t", ""), "done": False}
    if request.method == "POST":
        unsubscribe(token=token)
        context["done"] = True
    response = render(request, "notifications/unsubscribe.html", context)
    response["Cache-Control"] = "no-store"
    response["X-Robots-Tag"] = "noindex"
    return response
