from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    """Tenant app: push templates, notification rows, providers (console, webhook, fcm)."""

    name = "notifications"
