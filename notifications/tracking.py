"""Open pixel and signed click redirects (SPEC §14): they become delivery events (`MessageEvent`)
and customer events of §11 (`message_opened`, `message_clicked`).

A tracking token signs {schema, message id[, url]}: the redirect only goes where the token says
(no open redirect), and a token of another brand is refused. The §11 event id is derived from the
message (and the link), so the first open and the first click of each link are events; repeats
are delivery events only.
"""

from __future__ import annotations

import hashlib
import re

from django.core import signing
from django.db import connection, transaction
from django.utils import timezone

from core.exceptions import NotFoundError
from customers.services import events_ingest
from notifications.models import Message, MessageEvent

SALT = "notifications.tracking"
HREF = re.compile(r'href="(https?://[^"]+)"', re.IGNORECASE)


def _token(message_id: str, url: str = "") -> str:
    data = {"s": connection.schema_name, "m": message_id}
    if url:
        data["u"] = url
    return signing.dumps(data, salt=SALT, compress=True)


def tracked_html(*, message_id: str, html: str, base_url: str) -> str:
    """Links through the click redirect, and the open pixel before </body> (or at the end)."""
    if not html:
        return html

    def rewrite(match: re.Match) -> str:
        url = match.group(1)
        if "/unsubscribe/" in url:
            return match.group(0)
        return f'href="{base_url}/t/c/{_token(message_id, url)}/"'

    html = HREF.sub(rewrite, html)
    pixel = f'<img src="{base_url}/t/o/{_token(message_id)}/" width="1" height="1" alt="">'
    index = html.lower().rfind("</body>")
    return html[:index] + pixel + html[index:] if index >= 0 else html + pixel


def read_token(token: str) -> dict[str, str]:
    try:
        data = signing.loads(token, salt=SALT)
    except signing.BadSignature as exc:
        raise NotFoundError("Unknown tracking link.") from exc
    if data.get("s") != connection.schema_name:
        raise NotFoundError("Unknown tracking link.")
    return data


@transaction.atomic
def tracking_hit(*, token: str, kind: str) -> str:
    """Record an open or a click; the click's target URL ("" for an open)."""
    data = read_token(token)
    message = Message.objects.filter(pk=data["m"]).first()
    url = data.get("u", "")
    if message is None:
        return url
    now = timezone.now()
    MessageEvent.objects.create(message=message, kind=kind, url=url[:2000], occurred_at=now)
    suffix = f"-{hashlib.sha256(url.encode()).hexdigest()[:12]}" if url else ""
    events_ingest(
        bodies=[
            {
                "event_id": f"msg-{message.pk}-{kind}{suffix}",
                "customer_id": message.customer_id,
                "name": f"message_{kind}",
                "properties": {
                    "message_id": str(message.pk),
                    "channel": message.channel,
                    "campaign_id": message.campaign_id,
                    **({"url": url[:500]} if url else {}),
                },
                "occurred_at": now.isoformat(),
            }
        ]
    )
    return url
