"""What an attempt's answer means for a dispatch: sent, retry (when), or dead (on `core.delivery`)."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from core import delivery
from core.delivery import (
    describe_response,
    excerpt,
    is_retryable_response,
    is_success_response,
    parse_retry_after,
)
from core.http import client
from dispatches.models import DispatchAttempt

logger = logging.getLogger(__name__)


def retry_base_seconds() -> float:
    return float(getattr(settings, "DISPATCH_RETRY_BASE_SECONDS", 10))


def retry_max_seconds() -> float:
    return float(getattr(settings, "DISPATCH_RETRY_MAX_SECONDS", 3600))


def send_concurrency() -> int:
    return max(1, int(getattr(settings, "DISPATCH_SEND_CONCURRENCY", 16)))


def backoff_seconds(
    *, attempt_number: int, retry_after_seconds: float | None = None, rng: random.Random | None = None
) -> float:
    """The dispatch's back-off (DISPATCH_RETRY_BASE_SECONDS, DISPATCH_RETRY_MAX_SECONDS), full jitter."""
    return delivery.backoff_seconds(
        attempt_number=attempt_number,
        base_seconds=retry_base_seconds(),
        max_seconds=retry_max_seconds(),
        retry_after_seconds=retry_after_seconds,
        rng=rng,
    )


@dataclass(frozen=True)
class Decision:
    """What one attempt means for its dispatch."""

    outcome: str  # DispatchAttempt.Outcome
    error: str = ""
    retry_in_seconds: float | None = None


def classify_response(
    response: client.SubmissionResponse,
    *,
    attempts_used: int,
    max_attempts: int,
    now: datetime,
    rng: random.Random | None = None,
) -> Decision:
    """2xx → sent; 408/429/5xx/timeout/connection error → retry (dead once the budget is used); else dead.

    `attempts_used` counts this attempt, since the last replay.
    """
    if is_success_response(response):
        return Decision(DispatchAttempt.Outcome.SENT)
    error = describe_response(response)
    if not is_retryable_response(response):
        return Decision(DispatchAttempt.Outcome.DEAD, error)
    if attempts_used >= max_attempts:
        return Decision(
            DispatchAttempt.Outcome.DEAD, excerpt(f"max attempts ({max_attempts}) reached: {error}")
        )
    delay = backoff_seconds(
        attempt_number=attempts_used,
        retry_after_seconds=parse_retry_after(response.retry_after, now=now),
        rng=rng,
    )
    return Decision(DispatchAttempt.Outcome.RETRY, error, delay)
