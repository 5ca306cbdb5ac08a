from django.apps import AppConfig


class OutboxConfig(AppConfig):
    """Tenant app: the transactional outbox between database commits and the Celery broker."""

    name = "outbox"
