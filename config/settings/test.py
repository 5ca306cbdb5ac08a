"""Test settings: only what tests need differs from base."""

import os

from .base import *  # noqa: F403
from .base import env

# Local fake partners, push gateways, FCM and alarm receivers listen on 127.0.0.1.
PARTNER_URL_ALLOW_PRIVATE = True
NOTIFICATION_URL_ALLOW_PRIVATE = True
ALARM_WEBHOOK_ALLOW_PRIVATE = True
WEBHOOK_URL_ALLOW_PRIVATE = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# A queue of this test process only: a dev worker on the same Redis must not take test tasks.
CELERY_TASK_DEFAULT_QUEUE = f"test-{os.getpid()}"
CACHES["default"]["KEY_PREFIX"] = f"test-{os.getpid()}"
LOG_LEVEL = env.str("LOG_LEVEL", default="WARNING")
LOGGING["root"]["level"] = LOG_LEVEL
