"""Standard Webhooks signing of outgoing partner requests (SPEC §5), with the `standardwebhooks` library."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache

from standardwebhooks import Webhook


@lru_cache(maxsize=256)
def _webhook(secret: str) -> Webhook:
    # Decoding the whsec_ secret once per secret, not once per request.
    return Webhook(secret)


def signed_headers(
    *,
    secret: str,
    msg_id: str,
    body: bytes,
    timestamp: datetime | None = None,
    also_secrets: Sequence[str] = (),
) -> dict[str, str]:
    """The headers of a signed submission: `webhook-*`, `Idempotency-Key` (= msg id), content type.

    The signature covers exactly `body` (the bytes sent): "{id}.{timestamp}.{body}". Each of
    `also_secrets` (a secret being rotated out) adds its own signature, space-delimited after the
    first, as Standard Webhooks specifies: a receiver holding either secret verifies the request.
    """
    timestamp = timestamp or datetime.now(UTC)
    data = body.decode()
    signature = " ".join(
        _webhook(key).sign(msg_id=msg_id, timestamp=timestamp, data=data) for key in (secret, *also_secrets)
    )
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
        "Idempotency-Key": msg_id,
        "Content-Type": "application/json",
    }
