"""One beat at a time: django-celery-beat's DatabaseScheduler behind a Redis lock.

Two beat processes would each send every periodic job (django-celery-beat
#337). Every beat process ticks, but only the one holding the lock — a Redis
key with a TTL, renewed on each tick — sends anything; the others stand by and
check again every few seconds. When the leader dies its key expires after
`BEAT_LOCK_TTL_SECONDS` and a standby takes over, reloading the schedule (and
the leader's `last_run_at` values) from the database first.
"""

from __future__ import annotations

import logging
import uuid

import redis
from django.conf import settings
from django_celery_beat.schedulers import DatabaseScheduler

logger = logging.getLogger(__name__)

# Renew only our own lock: compare the token and extend atomically.
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


class BeatLock:
    """A Redis lock with an owner token and a TTL."""

    def __init__(self, client: redis.Redis, key: str, ttl_seconds: int) -> None:
        self.client = client
        self.key = key
        self.ttl_ms = ttl_seconds * 1000
        self.token = uuid.uuid4().hex
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    def hold(self) -> bool:
        """Take the lock or extend it if it is ours; False while another process holds it."""
        if self._renew(keys=[self.key], args=[self.token, self.ttl_ms]):
            return True
        return bool(self.client.set(self.key, self.token, nx=True, px=self.ttl_ms))

    def release(self) -> None:
        self._release(keys=[self.key], args=[self.token])


class SingleBeatScheduler(DatabaseScheduler):
    def __init__(self, *args, **kwargs) -> None:
        self.lock = BeatLock(
            redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=5),
            settings.BEAT_LOCK_KEY,
            settings.BEAT_LOCK_TTL_SECONDS,
        )
        self.is_leader = False
        super().__init__(*args, **kwargs)

    def _standby_interval(self) -> float:
        return min(self.max_interval, max(settings.BEAT_LOCK_TTL_SECONDS / 3, 1))

    def tick(self, *args, **kwargs) -> float:
        try:
            leader = self.lock.hold()
        except redis.RedisError:
            # Redis down: nothing can be sent anyway (it is the broker); do not risk two leaders.
            logger.warning("beat lock unavailable (Redis down); standing by")
            leader = False
        if not leader:
            if self.is_leader:
                logger.warning("beat lost its lock; standing by")
            self.is_leader = False
            return self._standby_interval()
        if not self.is_leader:
            logger.info("beat took the lock; scheduling", extra={"beat_lock": self.lock.key})
            self.is_leader = True
            # Another beat may have run jobs meanwhile: read every entry's last_run_at afresh.
            self._initial_read = True
            self._heap = None
        return super().tick(*args, **kwargs)

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self.is_leader:
                try:
                    self.lock.release()
                except redis.RedisError:
                    logger.warning("could not release the beat lock; it expires by itself")
