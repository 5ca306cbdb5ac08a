"""Settings for every environment, read from the environment (django-environ).

The test settings override only what tests need; nothing here exists only in
production. When DATABASE_URL / REDIS_URL are unset, config.embedded starts
PostgreSQL and Redis from wheels under .data/ (the bare-machine default).
"""

import os
import sys
import warnings
from datetime import timedelta
from pathlib import Path

import environ

from config import embedded

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()

# `manage.py embedded status|stop` must not start what it is asked about.
_MANAGING_EMBEDDED = len(sys.argv) > 1 and sys.argv[1] == "embedded"

DATABASE_URL = env.str("DATABASE_URL", default="") or ("" if _MANAGING_EMBEDDED else embedded.database_url())
REDIS_URL = env.str("REDIS_URL", default="") or ("" if _MANAGING_EMBEDDED else embedded.redis_url())
USING_EMBEDDED_SERVERS = not env.str("DATABASE_URL", default="")

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="dev-only-insecure-key-change-me")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
# Tenants are sub-domains: ".localhost" admits brand-a.localhost, brand-b.localhost, ...
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", ".localhost", "127.0.0.1"])

# --- HTTPS hardening, from the environment (all off by default so `make run` works over http).
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("DJANGO_BEHIND_TLS_PROXY", default=False) else None
)
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=False)
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- Apps: what lives in the public schema vs in each brand's schema (docs/adr/0001-tenancy.md)
SHARED_APPS = [
    "django_tenants",
    "tenants",
    "core",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "core.apps.AdminConfig",  # the admin, split into brand and platform sites (core/admin_sites.py)
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "anymail",  # ESP tracking webhooks → notifications suppressions (SPEC §14)
    "monitoring.alarms",  # alarm rules and alarms of the platform (ADR 0008)
    "config.apps.CompositionRootConfig",  # hooks between apps the layers keep apart (config/wiring.py)
]
TENANT_APPS = [
    # Audit events (core.AuditEvent) live in each brand's schema as well as in public.
    "core",
    # Each brand has its own users, sessions and admin log: CRM staff never cross brands.
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "core.apps.AdminConfig",  # the admin, split into brand and platform sites (core/admin_sites.py)
    "rest_framework_api_key",
    "accounts",
    "outbox",
    "customers",
    "campaigns",
    "purchases",
    "partners",
    "dispatches",
    "awards",
    "promotions",  # promo codes and redemptions (SPEC §12)
    "notifications",
    "webhooks",  # the brand's outgoing webhook endpoints and deliveries (SPEC §15, ADR 0022)
    "analytics",  # attribution, hourly campaign rollups, reports, cohorts (SPEC §16, ADR 0024)
    "experiments",  # A/B experiments: sticky assignment, exposures, results (SPEC §16, ADR 0024)
    "content",  # generated drafts with guard rails, approval, use as templates/variants (SPEC §17, ADR 0026)
    "journeys",  # multi-step journeys: steps, enrollments, the executor (SPEC §19, ADR 0028)
    "archive",
    "monitoring",  # hourly rollups and health snapshot per brand: the CRM dashboards (ADR 0008)
]
INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenants.Brand"
TENANT_DOMAIN_MODEL = "tenants.Domain"
PUBLIC_SCHEMA_NAME = "public"
PUBLIC_SCHEMA_URLCONF = "config.urls_public"
ROOT_URLCONF = "config.urls_tenant"
# An unknown host gets a JSON 404, never the public site or another tenant.
DEFAULT_NOT_FOUND_TENANT_VIEW = "core.views.tenant_not_found"
# Leave False: True can serve another tenant's rows after a savepoint rollback (django-tenants #1262).
TENANT_LIMIT_SET_CALLS = False
# The migrated schema every new brand's schema is copied from (tenants/schema_template.py); never a brand.
BRAND_TEMPLATE_SCHEMA = env.str("BRAND_TEMPLATE_SCHEMA", default="brand_template")
# `migrate_schemas --executor=parallel` (tenants/migration_executor.py): schemas migrated at once.
TENANT_MULTIPROCESSING_MAX_PROCESSES = env.int("TENANT_MIGRATE_PROCESSES", default=os.cpu_count() or 2)

MIDDLEWARE = [
    "core.middleware.HealthCheckMiddleware",  # /healthz, /readyz on any host, before tenant lookup
    "core.middleware.RequestContextMiddleware",  # request id + log context
    "core.middleware.BodySizeLimitMiddleware",
    "core.middleware.NulCharacterGuardMiddleware",  # NUL in the URL: 400, not a DataError 500
    # django-tenants' TenantMainMiddleware, answering 503 (not 500) while the database is unreachable
    "core.middleware.TenantMiddleware",
    "core.middleware.DatabaseUnavailableMiddleware",  # the same for views (process_exception)
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

DATABASES = {"default": env.db_url_config(DATABASE_URL) if DATABASE_URL else {}}
DATABASES["default"]["ENGINE"] = "django_tenants.postgresql_backend"
# django-environ leaves `?host=/socket/dir` in OPTIONS; HOST is where Django (and our tools) look.
if not DATABASES["default"].get("HOST") and DATABASES["default"].get("OPTIONS", {}).get("host"):
    DATABASES["default"]["HOST"] = DATABASES["default"]["OPTIONS"].pop("host")
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# An unreachable database host must fail a request fast (503), not hang it until the proxy times out.
DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
    "connect_timeout", env.int("DB_CONNECT_TIMEOUT", default=5)
)
DATABASE_ROUTERS = ("django_tenants.routers.TenantSyncRouter",)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        # Keys are prefixed with the tenant schema, or brands would share cache entries (and throttles).
        "KEY_FUNCTION": "django_tenants.cache.make_key",
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="cbo"),
    }
}
# A Redis outage must fail cache calls fast (throttles then fail open), not hang requests.
CACHES["default"]["OPTIONS"] = {"socket_connect_timeout": 1, "socket_timeout": 2}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Without collectstatic (dev, tests) whitenoise serves the apps' static files directly.
WHITENOISE_USE_FINDERS = True
warnings.filterwarnings("ignore", message="No directory at")
WHITENOISE_AUTOREFRESH = DEBUG

# --- Request limits
# Bodies larger than this get a 413 before any parsing (core.middleware.BodySizeLimitMiddleware).
MAX_REQUEST_BODY_BYTES = env.int("MAX_REQUEST_BODY_BYTES", default=10 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES

# --- DRF
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "core.pagination.PagePagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_THROTTLE_CLASSES": ["core.throttling.ApiKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_key": env.str("API_THROTTLE_RATE", default="6000/min")},
    "EXCEPTION_HANDLER": "core.exceptions.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
MAX_PAGE_SIZE = 500

SPECTACULAR_SETTINGS = {
    "TITLE": "Campaign back office API",
    "DESCRIPTION": "Campaigns, purchases, partners and awards of one brand (tenant host).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Served from the sidecar package: the docs work offline, no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}
# Every operation documents the standard error answers (401/403/404/429/503, 400/409/413/415 on writes).
SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"] = [
    "drf_spectacular.hooks.postprocess_schema_enums",
    "core.openapi.document_error_responses",
    "customers.openapi.add_dsl_components",
]

# --- Celery (tenant-schemas-celery app in config/celery.py)
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_EXPIRES = timedelta(hours=1)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
# acks_late alone loses the task when the child process is killed; requeue it instead.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A web request must not hang on a dead broker: publish fails fast and the outbox keeps the message.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
# Long back-off lives in next_attempt_at columns swept by beat, never in ETAs longer than this.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
# Scale-out (docs/operations.md, ADR 0019): the periodic and bulky work can get a queue of its own,
# consumed by other hosts than the purchase pipeline's (`celery worker -Q maintenance`). Unset, it is
# the default queue and every worker takes everything. Wire names (core/task_names.py).
CELERY_MAINTENANCE_QUEUE = env.str("CELERY_MAINTENANCE_QUEUE", default=CELERY_TASK_DEFAULT_QUEUE)
MAINTENANCE_QUEUE_TASKS = (
    "tenants.for_each_tenant",
    "tenants.maintenance_dispatch",
    "maintenance.tick",
    "monitoring.tick",
    "metrics.refresh_tenant_gauges",
    "metrics.refresh_queue_gauges",
    "campaigns.complete_expired",
    "customers.compute_segment",
    "customers.refresh_stats",
    "archive.run_due",
    "archive.archive_campaign",
    "archive.archive_expired_purchases",
)
CELERY_TASK_ROUTES = {name: {"queue": CELERY_MAINTENANCE_QUEUE} for name in MAINTENANCE_QUEUE_TASKS}
# Celery otherwise closes the DB connection around every task (celery #4116): 4-5x slower.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
CELERY_TASK_TENANT_CACHE_SECONDS = env.int("CELERY_TASK_TENANT_CACHE_SECONDS", default=30)
# django-celery-beat's DatabaseScheduler behind a Redis lock: a second beat process schedules nothing.
CELERY_BEAT_SCHEDULER = "config.beat:SingleBeatScheduler"
BEAT_LOCK_KEY = env.str("BEAT_LOCK_KEY", default="cbo:beat:leader")
# The leader renews the lock on every tick (a few seconds apart); a dead leader's lock expires after this.
BEAT_LOCK_TTL_SECONDS = env.int("BEAT_LOCK_TTL_SECONDS", default=30)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Product settings (SPEC)
# The privacy erase replaces a customer's id by HMAC-SHA256(salt, brand + id) (customers/privacy.py).
# Keep it secret and stable: the same id always maps to the same pseudonym, so the audit adds up.
CUSTOMER_ERASURE_SALT = env.str("CUSTOMER_ERASURE_SALT", default=SECRET_KEY)
LATE_PURCHASE_GRACE = timedelta(hours=env.int("LATE_PURCHASE_GRACE_HOURS", default=48))
ARCHIVE_AFTER_DAYS = env.int("ARCHIVE_AFTER_DAYS", default=30)
ARCHIVE_URL = env.str("ARCHIVE_URL", default=str(BASE_DIR / "archive-data"))
PURCHASE_RETENTION_DAYS = env.int("PURCHASE_RETENTION_DAYS", default=90)
# When the daily archive job runs (crontab "minute hour day_of_month month day_of_week", UTC).
ARCHIVE_CRONTAB = env.str("ARCHIVE_CRONTAB", default="30 3 * * *")
# Recorded in each manifest when `git describe` is not available (container images have no .git).
ARCHIVE_CODE_VERSION = env.str("ARCHIVE_CODE_VERSION", default="unknown")
# Partner URLs resolving to private/loopback/link-local addresses are refused unless this is on.
PARTNER_URL_ALLOW_PRIVATE = env.bool("PARTNER_URL_ALLOW_PRIVATE", default=DEBUG)
NOTIFICATION_PROVIDER = env.str("NOTIFICATION_PROVIDER", default="console")

# --- Observability
# When set, /metrics needs `Authorization: Bearer <token>`.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# --- Partner dispatch (dispatches/, docs/adr/0006-partner-dispatch.md)
# Requests in flight at once within one batch (partner latency dominates; one libcurl multi handle).
DISPATCH_SEND_CONCURRENCY = env.int("DISPATCH_SEND_CONCURRENCY", default=16)
# Dispatches claimed (leased) together; each chunk is claimed just before it is sent. 128: the
# per-chunk statements and commits amortised over more sends (ADR 0006 "Performance": 32 → 128
# took the pipeline bench from ~3,000 to ~3,300 purchases/s); the lease grows with it.
DISPATCH_CLAIM_CHUNK = env.int("DISPATCH_CLAIM_CHUNK", default=128)
# Back-off: full jitter in [1 s, min(max, base * 2^(attempt-1))]; Retry-After raises it.
DISPATCH_RETRY_BASE_SECONDS = env.float("DISPATCH_RETRY_BASE_SECONDS", default=10.0)
DISPATCH_RETRY_MAX_SECONDS = env.float("DISPATCH_RETRY_MAX_SECONDS", default=3600.0)

# --- Logging: one JSON object per line, with the tenant schema and request id when known.
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "core.logging.ContextFilter"},
        # Beat's sends and the worker's lines of the frequent ticks at DEBUG: quiet idle logs.
        "periodic_ticks": {"()": "core.logging.PeriodicTickFilter", "show": LOG_LEVEL == "DEBUG"},
    },
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["context", "periodic_ticks"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "pgserver": {"level": "WARNING"},
        "celery": {"level": LOG_LEVEL},
    },
}

# --- Partner loop: participation tokens, award webhook, push notifications (docs/adr/0005-partner-loop.md)
PARTICIPATION_TOKEN_TTL_SECONDS = env.int("PARTICIPATION_TOKEN_TTL_SECONDS", default=15 * 60)
# Per partner slug and client IP; the webhook has no API key, so it has its own budget.
AWARD_WEBHOOK_THROTTLE_RATE = env.str("AWARD_WEBHOOK_THROTTLE_RATE", default="6000/min")
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["award_webhook"] = AWARD_WEBHOOK_THROTTLE_RATE
NOTIFICATION_MAX_ATTEMPTS = env.int("NOTIFICATION_MAX_ATTEMPTS", default=8)
NOTIFICATION_TIMEOUT_SECONDS = env.float("NOTIFICATION_TIMEOUT_SECONDS", default=10.0)
# Back-off: base * 2^(attempt-1), capped, with full jitter; longer waits are swept by beat.
NOTIFICATION_RETRY_BASE_SECONDS = env.float("NOTIFICATION_RETRY_BASE_SECONDS", default=5.0)
NOTIFICATION_RETRY_MAX_SECONDS = env.float("NOTIFICATION_RETRY_MAX_SECONDS", default=3600.0)
PUSH_GATEWAY_URL = env.str("PUSH_GATEWAY_URL", default="")
PUSH_GATEWAY_SECRET = env.str("PUSH_GATEWAY_SECRET", default="")
FCM_CREDENTIALS_FILE = env.str("FCM_CREDENTIALS_FILE", default="")
FCM_BASE_URL = env.str("FCM_BASE_URL", default="https://fcm.googleapis.com")
# PUSH_GATEWAY_URL and FCM_BASE_URL may resolve to private/loopback addresses only if this is on
# (a gateway on the brand's internal network need not open partner URLs to private addresses).
NOTIFICATION_URL_ALLOW_PRIVATE = env.bool("NOTIFICATION_URL_ALLOW_PRIVATE", default=PARTNER_URL_ALLOW_PRIVATE)

# --- Outgoing webhooks (webhooks/, docs/adr/0022-outgoing-webhooks.md)
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
WEBHOOK_SEND_CONCURRENCY = env.int("WEBHOOK_SEND_CONCURRENCY", default=16)
# Endpoint URLs may resolve to private/loopback addresses only if this is on (dev and tests).
WEBHOOK_URL_ALLOW_PRIVATE = env.bool("WEBHOOK_URL_ALLOW_PRIVATE", default=PARTNER_URL_ALLOW_PRIVATE)
# Settled deliveries (sent, dead) and their events are kept this long, then purged (hourly).
WEBHOOK_HISTORY_DAYS = env.int("WEBHOOK_HISTORY_DAYS", default=30)
# --- Messages on every channel (SPEC §14, notifications/, docs/adr/0021-messages.md)
# Customers' email: Django's mail API; SMTP by default, any django-anymail ESP backend by setting
# (e.g. anymail.backends.postmark.EmailBackend with ANYMAIL = {"POSTMARK_SERVER_TOKEN": …}).
MESSAGE_EMAIL_BACKEND = env.str(
    "MESSAGE_EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend"
)
MESSAGE_FROM_EMAIL = env.str("MESSAGE_FROM_EMAIL", default="messages@localhost")
ANYMAIL = {"WEBHOOK_SECRET": env.str("ANYMAIL_WEBHOOK_SECRET", default="")}
# The brand host's scheme in unsubscribe and tracking links.
MESSAGE_PUBLIC_SCHEME = env.str("MESSAGE_PUBLIC_SCHEME", default="https")
SMS_PROVIDER = env.str("SMS_PROVIDER", default="console")  # console | webhook | twilio
SMS_FROM = env.str("SMS_FROM", default="")
SMS_WEBHOOK_URL = env.str("SMS_WEBHOOK_URL", default="")
SMS_WEBHOOK_SECRET = env.str("SMS_WEBHOOK_SECRET", default="")
SMS_TWILIO_BASE_URL = env.str("SMS_TWILIO_BASE_URL", default="https://api.twilio.com")
SMS_TWILIO_ACCOUNT_SID = env.str("SMS_TWILIO_ACCOUNT_SID", default="")
SMS_TWILIO_AUTH_TOKEN = env.str("SMS_TWILIO_AUTH_TOKEN", default="")
MESSAGE_MAX_ATTEMPTS = env.int("MESSAGE_MAX_ATTEMPTS", default=8)
# Journeys (SPEC §19): how often the members of a dynamic entry segment are re-read for new entries.
JOURNEY_SEGMENT_CHECK_SECONDS = env.int("JOURNEY_SEGMENT_CHECK_SECONDS", default=900)
# A broadcast batch's email goes over this many SMTP/ESP connections at once.
MESSAGE_EMAIL_CONNECTIONS = env.int("MESSAGE_EMAIL_CONNECTIONS", default=4)
# Broadcast pace per channel (messages a second) unless the campaign message sets its own.
MESSAGE_RATE_PER_SECOND = {
    "email": env.int("MESSAGE_RATE_EMAIL", default=200),
    "sms": env.int("MESSAGE_RATE_SMS", default=50),
    "push": env.int("MESSAGE_RATE_PUSH", default=500),
    "in_app": env.int("MESSAGE_RATE_IN_APP", default=2000),
}

# --- Generated content (content/, SPEC §17, docs/adr/0026-generated-content-guard-rails.md)
# An OpenAI-compatible chat completions server; unset: the offline provider writes every draft.
CONTENT_LLM_BASE_URL = env.str("CONTENT_LLM_BASE_URL", default="")
CONTENT_LLM_MODEL = env.str("CONTENT_LLM_MODEL", default="gpt-4o-mini")
CONTENT_LLM_API_KEY = env.str("CONTENT_LLM_API_KEY", default="")
CONTENT_LLM_TIMEOUT_SECONDS = env.float("CONTENT_LLM_TIMEOUT_SECONDS", default=10.0)
# Retries of a 429 or 5xx answer only (never of a timeout), after CONTENT_LLM_RETRY_BASE_SECONDS·2^n.
CONTENT_LLM_MAX_RETRIES = env.int("CONTENT_LLM_MAX_RETRIES", default=2)
CONTENT_LLM_RETRY_BASE_SECONDS = env.float("CONTENT_LLM_RETRY_BASE_SECONDS", default=0.5)
CONTENT_LLM_RETRY_MAX_SECONDS = env.float("CONTENT_LLM_RETRY_MAX_SECONDS", default=4.0)
# Hosts every brand's drafts may link to (with their subdomains), besides the brand's own list.
CONTENT_ALLOWED_LINK_HOSTS = env.list("CONTENT_ALLOWED_LINK_HOSTS", default=[])
CONTENT_MAX_VARIANTS = env.int("CONTENT_MAX_VARIANTS", default=10)

# --- Dashboards and alarms (monitoring/, docs/adr/0008-operations-dashboards-alarms.md)
# One message per brand per period runs the frequent periodic jobs (tenants/schedules.py, in_tick).
MAINTENANCE_TICK_SECONDS = env.int("MAINTENANCE_TICK_SECONDS", default=10)
# The work-due index (tenants/work_due.py): a claimed brand whose tick never reported is claimed
# again after WORK_DUE_CLAIM_SECONDS; a brand with recent activity ticks every minute for
# WORK_DUE_SETTLE_SECONDS (dashboards, alarms); an idle brand is still looked at every
# WORK_DUE_IDLE_RECHECK_SECONDS, a backstop for a due time that was never written.
WORK_DUE_CLAIM_SECONDS = env.int("WORK_DUE_CLAIM_SECONDS", default=300)
WORK_DUE_SETTLE_SECONDS = env.int("WORK_DUE_SETTLE_SECONDS", default=180)
WORK_DUE_IDLE_RECHECK_SECONDS = env.int("WORK_DUE_IDLE_RECHECK_SECONDS", default=6 * 3600)
# The rollup tick recomputes this many past hours (plus the current one) from the raw rows.
MONITORING_ROLLUP_HOURS = env.int("MONITORING_ROLLUP_HOURS", default=2)
# Analytics (ADR 0024): the hourly job re-reads this many hours of new purchases, events and dispatches.
ANALYTICS_REFRESH_HOURS = env.int("ANALYTICS_REFRESH_HOURS", default=3)
# Consecutive partner failures are counted among the attempts of this look-back window.
ALARM_PARTNER_LOOKBACK_MINUTES = env.int("ALARM_PARTNER_LOOKBACK_MINUTES", default=60)
ALARM_EMAIL_TO = env.list("ALARM_EMAIL_TO", default=[])
ALARM_WEBHOOK_URL = env.str("ALARM_WEBHOOK_URL", default="")
ALARM_WEBHOOK_SECRET = env.str("ALARM_WEBHOOK_SECRET", default="")  # whsec_… (Standard Webhooks)
ALARM_WEBHOOK_TIMEOUT_SECONDS = env.float("ALARM_WEBHOOK_TIMEOUT_SECONDS", default=10.0)
# ALARM_WEBHOOK_URL may resolve to a private/loopback address (an internal alert relay) only if this is on.
ALARM_WEBHOOK_ALLOW_PRIVATE = env.bool("ALARM_WEBHOOK_ALLOW_PRIVATE", default=PARTNER_URL_ALLOW_PRIVATE)
# Operators' mail: EMAIL_URL (smtp+tls://user:pass@host:587 STARTTLS, smtp+ssl://…:465, smtp://…:25) or EMAIL_HOST….
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
    EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
    EMAIL_PORT = env.int("EMAIL_PORT", default=25)
    EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
    EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
    EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
    EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="alarms@localhost")

# Fairness between brands (ADR 0017): evaluation and dispatch messages run through per-brand lanes.
# At most FAIR_LANES_PER_BRAND lane tasks of one brand are in flight (queued or running); each run
# takes FAIR_LANE_BATCH_MESSAGES outbox messages, then goes back to the tail of the queue.
FAIR_LANES_PER_BRAND = env.int("FAIR_LANES_PER_BRAND", default=2)
FAIR_LANE_BATCH_MESSAGES = env.int("FAIR_LANE_BATCH_MESSAGES", default=2)
# A lane flag (and a message's lease) outlives a lost lane task by this long; the brand's next
# outbox sweep then starts a new lane.
FAIR_LANE_LEASE_SECONDS = env.int("FAIR_LANE_LEASE_SECONDS", default=60)
