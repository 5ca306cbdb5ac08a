"""What every delivery to an outside system shares: back-off, `Retry-After`, the retry policy, excerpts.

Partner dispatches, push notifications and alarm webhooks all deliver something
over HTTP and record the attempt. They share one reading of the answer:

* 2xx is delivered;
* 408, 429, 5xx, a timeout or a connection error is worth retrying, with
  exponential back-off and **full jitter** (AWS Architecture Blog, "Exponential
  Backoff And Jitter": the least total work under contention), never sooner than
  the server's `Retry-After`, and never later than a day for a `Retry-After`;
* anything else (other 4xx, redirects, which are never followed) is final.

Pure: no Django settings, no database, no I/O. Callers pass their own base and
cap (each channel has its own settings) and record the attempt their own way;
`BatchResult` is the tally a batch of deliveries returns.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

RETRYABLE_STATUS_CODES = frozenset({408, 429})
# A server may ask us to wait, but cannot park a delivery for a month.
RETRY_AFTER_MAX_SECONDS = 24 * 3600
ERROR_EXCERPT_CHARS = 1000


def is_retryable_status(status_code: int) -> bool:
    """408, 429 and 5xx: the server may answer differently later."""
    return status_code in RETRYABLE_STATUS_CODES or 500 <= status_code <= 599


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """`Retry-After` as seconds from now: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - now).total_seconds())


def backoff_seconds(
    *,
    attempt_number: int,
    base_seconds: float,
    max_seconds: float,
    retry_after_seconds: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Full jitter: uniform in [0, min(max, base·2^(n-1))], at least 1 s, raised to `Retry-After`."""
    rng = rng or random
    cap = min(max_seconds, base_seconds * 2 ** max(0, attempt_number - 1))
    delay = max(1.0, rng.uniform(0, cap))
    if retry_after_seconds is not None:
        delay = max(delay, min(retry_after_seconds, RETRY_AFTER_MAX_SECONDS))
    return delay


def excerpt(text: str, limit: int = ERROR_EXCERPT_CHARS) -> str:
    """At most `limit` characters: answers of outside systems can be huge or hostile."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class BatchResult:
    """The tally of a batch of deliveries."""

    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    dead: int = 0
    skipped: int = 0  # not sendable now: final, not due, claimed by someone else, or unknown
    lost: int = 0  # the lease was taken over before the outcome could be recorded
    # (delivery id, seconds) of retries due soon: the caller may schedule them with a countdown.
    retry_soon: list[tuple[str, float]] = field(default_factory=list)

    def merge(self, other: BatchResult) -> None:
        for name in ("claimed", "sent", "retrying", "dead", "skipped", "lost"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.retry_soon.extend(other.retry_soon)
