"""The signed public unsubscribe page (SPEC §14): GET shows a form, POST unsubscribes.

A POST is also RFC 8058's one-click unsubscribe (`List-Unsubscribe=One-Click` in the body, sent by
the mailbox provider without cookies): CSRF-exempt, since the signed token in the URL is the
authority. GET never changes anything (link scanners follow links). An invalid or foreign token is
a 404.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from core.exceptions import NotFoundError
from notifications.messages import unsubscribe, unsubscribe_read
from notifications.tracking import tracking_hit

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


PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,"
    b"\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)


@require_http_methods(["GET"])
def open_pixel(request: HttpRequest, token: str) -> HttpResponse:
    """The open pixel: always the GIF (a broken image would show), the open recorded when the token is ours."""
    try:
        tracking_hit(token=token, kind="opened")
    except NotFoundError:
        pass
    response = HttpResponse(PIXEL, content_type="image/gif")
    response["Cache-Control"] = "no-store, private"
    return response


@require_http_methods(["GET"])
def click_redirect(request: HttpRequest, token: str) -> HttpResponse:
    """A signed click: recorded, then a 302 to the URL the token carries (never one from the query)."""
    try:
        url = tracking_hit(token=token, kind="clicked")
    except NotFoundError:
        return HttpResponse("Unknown link.", status=404, content_type="text/plain")
    response = HttpResponseRedirect(url)
    response["Cache-Control"] = "no-store, private"
    return response
