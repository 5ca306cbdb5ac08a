"""The fake partner's side of SPEC §7: signed awards sent back for a share of the dispatches it accepts.

Used by `manage.py fake_partner --award-share 0.5 --award-url http://127.0.0.1:8000`. Each chosen
dispatch becomes one award, sent after a short delay by a few sender threads (accepting a
submission never waits for an award). The award refers to its dispatch through its ids: `award_id`
is `award-<dispatch_id>` and the `webhook-id` is `award-<dispatch_id>`, so a retried or replayed
send is answered 200 by the platform and never creates a second award.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import json
import logging
import random
import secrets as secrets_module
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from core.http.signing import signed_headers

logger = logging.getLogger("partners.fake_partner")

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
DEFAULT_REWARD = {"type": "voucher", "value": "10.00", "description": "10 off your next purchase"}


@dataclass(frozen=True)
class AwardJob:
    """One award to send: where (partner slug), signed with what, and the body."""

    partner_slug: str
    secret: str
    webhook_id: str
    body: dict[str, Any]
    attempt: int = 1


def award_body(
    *, payload: dict[str, Any], reward: dict[str, Any] | None, now: datetime, voucher_code: str
) -> dict[str, Any]:
    """The award (SPEC §7 body) for an accepted submission's payload (SPEC §5 body)."""
    purchase = payload.get("purchase") or {}
    campaign = payload.get("campaign") or {}
    reward = reward or DEFAULT_REWARD
    reward_type = reward.get("type") or "voucher"
    value = reward.get("value")
    return {
        "award_id": f"award-{payload['dispatch_id']}",
        "customer_id": purchase.get("customer_id"),
        "campaign_id": campaign.get("id"),
        "reward_type": reward_type,
        "value": str(value) if value not in (None, "") else None,
        "currency": purchase.get("currency") if value not in (None, "") else "",
        "voucher_code": voucher_code if reward_type == "voucher" else "",
        "expires_at": (now + timedelta(days=30)).isoformat(),
        "message": reward.get("description") or "",
    }


@dataclass
class AwardSender:
    """Sends awards to `<url>/api/v1/partners/<slug>/awards/` on the brand's host, with retries."""

    url: str
    host: str | None = None
    delay_seconds: float = 1.0
    max_attempts: int = 5
    retry_base_seconds: float = 2.0
    threads: int = 4
    stats: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._queue: list[tuple[float, int, AwardJob]] = []
        self._order = itertools.count()
        self._condition = threading.Condition()
        self._stopping = False
        self._local = threading.local()
        self._workers = [
            threading.Thread(target=self._run, name=f"award-sender-{n}", daemon=True)
            for n in range(self.threads)
        ]
        for worker in self._workers:
            worker.start()

    def submit(self, job: AwardJob, *, delay: float | None = None) -> None:
        due = time.monotonic() + (self.delay_seconds if delay is None else delay)
        with self._condition:
            heapq.heappush(self._queue, (due, next(self._order), job))
            if job.attempt == 1:
                self.stats["awards_queued"] += 1
            self._condition.notify()

    def counters(self) -> dict[str, int]:
        with self._condition:
            return dict(self.stats) | {"awards_waiting": len(self._queue)}

    def pending(self) -> int:
        with self._condition:
            return len(self._queue)

    def stop(self, *, timeout: float = 2.0) -> int:
        """Stop the senders; returns how many awards were still waiting (they are not sent)."""
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        deadline = time.monotonic() + timeout
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        return self.pending()

    def _next_job(self) -> AwardJob | None:
        with self._condition:
            while not self._stopping:
                if self._queue:
                    due = self._queue[0][0]
                    wait = due - time.monotonic()
                    if wait <= 0:
                        return heapq.heappop(self._queue)[2]
                    self._condition.wait(wait)
                else:
                    self._condition.wait()
            return None

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def _run(self) -> None:
        while (job := self._next_job()) is not None:
            self._send(job)

    def _send(self, job: AwardJob) -> None:
        body = json.dumps(job.body).encode()
        headers = signed_headers(secret=job.secret, msg_id=job.webhook_id, body=body)
        if self.host:
            headers["Host"] = self.host
        target = f"{self.url.rstrip('/')}/api/v1/partners/{job.partner_slug}/awards/"
        status: int | None
        try:
            response = self._session().post(target, data=body, headers=headers, timeout=10)
            status, error = response.status_code, response.text[:200]
        except requests.RequestException as exc:
            status, error = None, f"{type(exc).__name__}: {exc}"[:200]
        if status in (200, 201):
            with self._condition:
                self.stats["awards_sent" if status == 201 else "awards_replayed"] += 1
            logger.info(
                "award sent",
                extra={"award_id": job.body["award_id"], "answer_status": status, "attempt": job.attempt},
            )
            return
        if (status is None or status in RETRY_STATUSES) and job.attempt < self.max_attempts:
            with self._condition:
                self.stats["awards_retried"] += 1
            backoff = min(30.0, self.retry_base_seconds * 2 ** (job.attempt - 1)) * random.uniform(0.5, 1.0)
            self.submit(dataclasses.replace(job, attempt=job.attempt + 1), delay=backoff)
            return
        with self._condition:
            self.stats["awards_failed"] += 1
        logger.warning(
            "award not accepted",
            extra={
                "award_id": job.body["award_id"],
                "answer_status": status,
                "attempt": job.attempt,
                "error": error,
            },
        )


def voucher_code(rng: random.Random | None = None) -> str:
    alphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
    pick = (rng or secrets_module.SystemRandom()).choice
    return "DEMO-" + "".join(pick(alphabet) for _ in range(8))


def utc_now() -> datetime:
    return datetime.now(UTC)
