"""What an attempt's answer means for a webhook delivery (pure: no database, no settings).

SPEC §15's schedule: after the 1st failed attempt wait about 5 s, then 5 min, 30 min, 2 h, 5 h,
10 h, 10 h: eight attempts over about 27.6 h, then `dead`. "About": each wait is stretched by up
to `JITTER_FRACTION` (never shortened), so endpoints that failed together do not all come back at
once; a `Retry-After` longer than the wait is honoured (capped at a day, as core.delivery does).

Every non-2xx answer, a timeout and a connection error are retried (the receiver is the brand's own
system: a 401 from a secret being deployed, or a 404 during a release, heals; Standard Webhooks
senders retry them all). Only a request the client refused to send (a URL the SSRF guard refused at
sending time, a malformed URL) is dead at once: retrying cannot help.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from core.delivery import (
    RETRY_AFTER_MAX_SECONDS,
    describe_response,
    excerpt,
    is_success_response,
    parse_retry_after,
)
from core.http.client import NetworkFailure, SubmissionResponse

# Seconds to wait after failed attempt n (1-based): SPEC §15.
RETRY_SCHEDULE_SECONDS: tuple[int, ...] = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
MAX_ATTEMPTS = len(RETRY_SCHEDULE_SECONDS) + 1
JITTER_FRACTION = 0.1
# An endpoint failing (every attempt since its last success) this long is disabled.
DISABLE_AFTER_FAILING_SECONDS = 5 * 24 * 3600

SENT = "sent"
RETRY = "retry"
DEAD = "dead"


@dataclass(frozen=True)
class Decision:
    outcome: str  # WebhookAttempt.Outcome
    error: str = ""
    retry_in_seconds: float | None = None


def retry_delay_seconds(
    *, attempts_used: int, retry_after_seconds: float | None = None, rng: random.Random | None = None
) -> float:
    """The wait after failed attempt `attempts_used` (1-based, < MAX_ATTEMPTS)."""
    base = RETRY_SCHEDULE_SECONDS[attempts_used - 1]
    delay = base * (1 + (rng or random).uniform(0, JITTER_FRACTION))
    if retry_after_seconds is not None:
        delay = max(delay, min(retry_after_seconds, RETRY_AFTER_MAX_SECONDS))
    return delay


def classify(
    response: SubmissionResponse,
    *,
    attempts_used: int,
    max_attempts: int = MAX_ATTEMPTS,
    now: datetime,
    rng: random.Random | None = None,
) -> Decision:
    """2xx → sent; a refused request → dead; anything else → retry on the schedule, dead after the last."""
    if is_success_response(response):
        return Decision(SENT)
    error = describe_response(response)
    if response.status_code is None and response.failure == NetworkFailure.INVALID_REQUEST:
        return Decision(DEAD, error)
    if attempts_used >= max_attempts:
        return Decision(DEAD, excerpt(f"max attempts ({max_attempts}) reached: {error}"))
    delay = retry_delay_seconds(
        attempts_used=attempts_used,
        retry_after_seconds=parse_retry_after(response.retry_after, now=now),
        rng=rng,
    )
    return Decision(RETRY, error, delay)
