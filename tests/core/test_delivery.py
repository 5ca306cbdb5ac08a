"""core.delivery: full-jitter back-off, retryable answers, Retry-After, excerpts, the status vocabulary."""

from __future__ import annotations

import random
from datetime import timedelta
from email.utils import format_datetime

import pytest
from django.utils import timezone

from core.delivery import (
    ERROR_EXCERPT_CHARS,
    FINAL_STATUSES,
    OPEN_STATUSES,
    RETRY_AFTER_MAX_SECONDS,
    DeliveryStatus,
    backoff_seconds,
    describe_response,
    excerpt,
    is_retryable_response,
    is_retryable_status,
    is_success_response,
    parse_retry_after,
)
from core.http.client import RESPONSE_READ_CAP, NetworkFailure, SubmissionResponse


@pytest.mark.parametrize("attempt", range(1, 12))
def test_full_jitter_stays_within_one_second_and_the_capped_exponential(attempt):
    rng = random.Random(attempt)
    cap = min(300, 10 * 2 ** (attempt - 1))
    samples = [
        backoff_seconds(attempt_number=attempt, base_seconds=10, max_seconds=300, rng=rng) for _ in range(500)
    ]
    assert all(1 <= s <= cap for s in samples)
    # Full jitter spans the whole window, from (almost) nothing to the cap, not just its upper half.
    assert min(samples) <= max(1.0, cap * 0.1)
    assert max(samples) > cap * 0.9


def test_full_jitter_is_uniform_not_half_fixed():
    rng = random.Random(1)
    samples = [
        backoff_seconds(attempt_number=5, base_seconds=10, max_seconds=3600, rng=rng) for _ in range(4000)
    ]
    cap = 160
    below_half = sum(s < cap / 2 for s in samples) / len(samples)
    assert 0.45 < below_half < 0.55  # half jitter would put nothing below cap / 2


def test_backoff_is_at_least_a_second_and_honours_retry_after_up_to_a_day():
    rng = random.Random(3)
    assert all(
        backoff_seconds(attempt_number=1, base_seconds=0.01, max_seconds=1, rng=rng) == 1.0 for _ in range(50)
    )
    assert backoff_seconds(attempt_number=1, base_seconds=5, max_seconds=60, retry_after_seconds=900) >= 900
    huge = backoff_seconds(attempt_number=1, base_seconds=5, max_seconds=60, retry_after_seconds=10**9)
    assert huge == RETRY_AFTER_MAX_SECONDS
    # Retry-After is a minimum, never a way to shorten the back-off.
    assert backoff_seconds(attempt_number=1, base_seconds=5, max_seconds=5, retry_after_seconds=0) >= 1


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 599])
def test_retryable_status_codes(status):
    assert is_retryable_status(status)


@pytest.mark.parametrize("status", [200, 201, 301, 302, 307, 308, 400, 401, 403, 404, 409, 410, 422, 600])
def test_final_status_codes(status):
    assert not is_retryable_status(status)


def _answer(status_code=None, **fields) -> SubmissionResponse:
    return SubmissionResponse(status_code=status_code, latency_ms=3, **fields)


def test_which_answers_are_retried():
    assert is_retryable_response(_answer(503))
    assert is_retryable_response(_answer(failure=NetworkFailure.TIMEOUT, failure_detail="curl error 28"))
    assert is_retryable_response(_answer(failure=NetworkFailure.CONNECTION, failure_detail="refused"))
    # A request the client refused to send (bad URL, private address) cannot succeed later.
    assert not is_retryable_response(
        _answer(failure=NetworkFailure.INVALID_REQUEST, failure_detail="refused")
    )
    assert not is_retryable_response(_answer(302, location="https://elsewhere.example/"))
    assert not is_retryable_response(_answer(404))


def test_the_status_wins_over_a_stalled_body():
    stalled = _answer(200, failure=NetworkFailure.TIMEOUT, failure_detail="curl error 28")
    assert is_success_response(stalled)
    assert not is_success_response(_answer(304))
    assert not is_success_response(_answer(failure=NetworkFailure.CONNECTION))


def test_describe_says_a_redirect_was_not_followed_and_a_body_was_cut():
    redirect = describe_response(_answer(307, location="https://elsewhere.example/x"))
    assert redirect == "HTTP 307: redirect to https://elsewhere.example/x not followed"
    assert describe_response(_answer(302)) == "HTTP 302: redirect to (no Location) not followed"
    assert describe_response(_answer(503, body_excerpt=b"busy")) == "HTTP 503: busy"
    cut = describe_response(_answer(500, body_excerpt=b"x" * 5000, body_truncated=True))
    assert len(cut) == ERROR_EXCERPT_CHARS
    assert cut.endswith(f"[response body over {RESPONSE_READ_CAP} bytes, not read further]")
    assert describe_response(_answer(failure="timeout", failure_detail="curl error 28")) == (
        "timeout: curl error 28"
    )


def test_excerpt_caps_hostile_answers():
    assert excerpt("short") == "short"
    long = excerpt("y" * 10_000)
    assert len(long) == ERROR_EXCERPT_CHARS and long.endswith("…")


def test_parse_retry_after():
    now = timezone.now()
    assert parse_retry_after("30", now=now) == 30
    assert parse_retry_after(None, now=now) is None
    assert parse_retry_after("soon", now=now) is None
    date = format_datetime(now + timedelta(seconds=60), usegmt=True)
    assert 58 <= parse_retry_after(date, now=now) <= 61
    past = format_datetime(now - timedelta(seconds=60), usegmt=True)
    assert parse_retry_after(past, now=now) == 0


def test_the_status_vocabulary_is_spec_14s_and_splits_into_final_and_open():
    assert DeliveryStatus.values == [
        "queued", "sending", "sent", "delivered", "failed", "dead", "skipped", "deferred",
    ]  # fmt: skip
    assert FINAL_STATUSES == {"sent", "delivered", "dead", "skipped"}
    assert OPEN_STATUSES == {"queued", "sending", "failed", "deferred"}
    assert not FINAL_STATUSES & OPEN_STATUSES
