from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    """Tenant app: the brand's outgoing webhook endpoints and their deliveries (SPEC §15)."""

    name = "webhooks"

    def ready(self) -> None:
        from outbox.events import register_subscription_lookup
        from webhooks.selectors import subscribed_event_types

        register_subscription_lookup(subscribed_event_types)
