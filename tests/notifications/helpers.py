"""Signing helpers shared by the award and notification tests."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from standardwebhooks import Webhook


def award_body(campaign_id: int, **overrides: Any) -> dict[str, Any]:
    body = {
        "award_id": f"aw-{uuid.uuid4().hex[:10]}",
        "customer_id": "cust-1",
        "campaign_id": campaign_id,
        "reward_type": "voucher",
        "value": "10.00",
        "currency": "EUR",
        "voucher_code": "XMAS-10",
        "expires_at": "2026-12-31T23:59:59Z",
        "message": "Merry Christmas",
    }
    body.update(overrides)
    return body


def signed_headers(
    secret: str, raw: str, *, msg_id: str | None = None, at: datetime | None = None
) -> dict[str, str]:
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    at = at or datetime.now(UTC)
    return {
        "HTTP_WEBHOOK_ID": msg_id,
        "HTTP_WEBHOOK_TIMESTAMP": str(int(at.timestamp())),
        "HTTP_WEBHOOK_SIGNATURE": Webhook(secret).sign(msg_id, at, raw),
    }


def post_award(
    client,
    slug: str,
    secret: str,
    body: dict[str, Any] | str,
    *,
    msg_id: str | None = None,
    at: datetime | None = None,
    sent_raw: str | None = None,
):
    """POST a Standard-Webhooks-signed award; `sent_raw` sends other bytes than those signed (tampering)."""
    raw = body if isinstance(body, str) else json.dumps(body)
    headers = signed_headers(secret, raw, msg_id=msg_id, at=at)
    return client.post(
        f"/api/v1/partners/{slug}/awards/",
        data=(sent_raw if sent_raw is not None else raw).encode(),
        content_type="application/json",
        **headers,
    )


MINUTES_6 = timedelta(minutes=6)
