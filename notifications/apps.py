from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    """Tenant app: notification rows, providers (console, webhook, fcm), device tokens."""

    name = "notifications"

    def ready(self) -> None:
        from awards.services import on_award_received
        from notifications.services import notification_create_for_award

        on_award_received(notification_create_for_award)

        from notifications.signals import connect

        connect()
