"""What every delivery to an outside system shares: the status vocabulary, back-off, `Retry-After`,
the retry policy, excerpts.

Partner dispatches, push notifications and alarm webhooks all deliver something
over HTTP (through `core.http.client`) and record the attempt. They share one
reading of the answer:

* 2xx is delivered;
* 408, 429, 5xx, a timeout or a connection error is worth retrying, with
  exponential back-off and **full jitter** (AWS Architecture Blog, "Exponential
  Backoff And Jitter": the least total work under contention), never sooner than
  the server's `Retry-After`, and never later than a day for a `Retry-After`;
* anything else (other 4xx, redirects, which are never followed, a request the
  client refused to send, e.g. to a private address) is final.

Status vocabulary (`DeliveryStatus`, SPEC §14) of every delivery to a customer:

* `queued`: waiting for its first attempt (or replayed);
* `sending`: claimed by a sender, an attempt is in flight (a lease, `claimed_until`
  and `claim_token`, says until when; past it, the sweep re-sends);
* `sent`: the provider accepted it; `delivered`: the provider later confirmed it reached
  the recipient;
* `failed`: this attempt failed, another one is scheduled (`next_attempt_at`);
* `dead`: no more attempts (a permanent error, or the attempt budget used); only a
  replay reopens it;
* `skipped`: never sent, by decision (the reason is stored with it); `deferred`: held
  until a time (quiet hours, a cap window), then queued again.

Partner dispatches keep SPEC §5's words, which the partner API fixes:
`pending` ≈ `queued`, `retrying` ≈ `failed`, `sent` = `sent`, `dead` = `dead`. A
dispatch has no `sending`: while claimed it keeps `pending`/`retrying`, and only its
lease shows that an attempt is in flight.

No Django settings, no database, no I/O (answers are `core.http.client.SubmissionResponse`s). Callers pass their own base and cap
(each channel has its own settings) and record the attempt their own way;
`BatchResult` is the tally a batch of deliveries returns.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from django.db.models import TextChoices

from core.http.client import RESPONSE_READ_CAP, NetworkFailure, SubmissionResponse

RETRYABLE_STATUS_CODES = frozenset({408, 429})
# A server may ask us to wait, but cannot park a delivery for a month.
RETRY_AFTER_MAX_SECONDS = 24 * 3600
ERROR_EXCERPT_CHARS = 1000


class DeliveryStatus(TextChoices):
    """The one status vocabulary of deliveries to customers (SPEC §14); see the module docstring."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    DEAD = "dead"
    SKIPPED = "skipped"
    DEFERRED = "deferred"


# No attempt will be made any more (a provider's receipt may still move `sent` to `delivered`).
FINAL_STATUSES = frozenset(
    {DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.DEAD, DeliveryStatus.SKIPPED}
)
# Still on its way: waiting, in flight, or due to be retried.
OPEN_STATUSES = frozenset(set(DeliveryStatus) - FINAL_STATUSES)


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


def is_success_response(response: SubmissionResponse) -> bool:
    """A 2xx, even when the body then stalled or was cut at the read cap: the status wins."""
    return response.status_code is not None and 200 <= response.status_code < 300


def is_retryable_response(response: SubmissionResponse) -> bool:
    """A retryable status code, or no answer because of a timeout or a connection error.

    Not retryable: any other status code, and a request the client refused to send (a
    malformed URL, a header that would break the request, a private address the guard refused).
    """
    if response.status_code is not None:
        return is_retryable_status(response.status_code)
    return response.failure in (NetworkFailure.TIMEOUT, NetworkFailure.CONNECTION)


def describe_response(response: SubmissionResponse) -> str:
    """What an answer was, for `last_error` and logs: "HTTP 503: <body excerpt>", "timeout: …".

    A redirect says that it was not followed; a body cut at the client's read cap says so.
    """
    if response.status_code is None:
        return excerpt(f"{response.failure}: {response.failure_detail}")
    body = response.body_excerpt.decode("utf-8", errors="replace")
    text = f"HTTP {response.status_code}"
    if 300 <= response.status_code < 400:
        text += f": redirect to {response.location or '(no Location)'} not followed"
    marker = f" [response body over {RESPONSE_READ_CAP} bytes, not read further]"
    if body:
        text = excerpt(f"{text}: {body}")
        if response.body_truncated:
            text = text[: ERROR_EXCERPT_CHARS - len(marker)] + marker
    return text


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
