from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    """Tenant app: notification rows, providers (console, webhook, fcm), device tokens."""

    name = "notifications"

    def ready(self) -> None:
        from awards.services import on_award_received
        from customers.hooks import register_erasure_listener
        from notifications.services import customer_erasure_scrub, notification_create_for_award

        on_award_received(notification_create_for_award)
        register_erasure_listener(customer_erasure_scrub)

        from notifications.signals import connect

        connect()
