"""Per-key throttling. The cache key function prefixes the tenant schema, so two
brands never share a budget. DRF throttling is not atomic under concurrency
(DRF #5181): it is a budget, not a security control."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from rest_framework.throttling import SimpleRateThrottle

if TYPE_CHECKING:  # rest_framework.views imports this module through the settings
    from rest_framework.request import Request
    from rest_framework.views import APIView


logger = logging.getLogger(__name__)


class FailOpenThrottleMixin:
    """While the cache (Redis) is unreachable, let requests through instead of answering 500.

    The throttle is a budget, not a security control (above); a purchase or an award that the
    outbox can keep must not be refused because the counter store is down (ADR 0009).
    """

    def allow_request(self, request: Request, view: APIView) -> bool:
        try:
            return super().allow_request(request, view)
        except Exception as exc:  # redis.ConnectionError/TimeoutError, OSError: the cache backend is down
            if not _is_cache_outage(exc):
                raise
            logger.warning("throttle cache unreachable; request let through", extra={"error": str(exc)[:200]})
            return True


def _is_cache_outage(exc: Exception) -> bool:
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return isinstance(exc, RedisConnectionError | RedisTimeoutError | OSError)


class ApiKeyRateThrottle(FailOpenThrottleMixin, SimpleRateThrottle):
    scope = "api_key"

    def get_cache_key(self, request: Request, view: APIView) -> str:
        user = request.user
        if user is not None and getattr(user, "role", None):
            ident = f"key:{user.pk}"
        elif user is not None and user.is_authenticated:
            ident = f"user:{user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
