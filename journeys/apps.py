from django.apps import AppConfig


class JourneysConfig(AppConfig):
    """Tenant app: journeys (multi-step campaigns), their steps, enrollments and the executor (SPEC §19)."""

    name = "journeys"

    def ready(self) -> None:
        # customers sits below journeys (ADR 0011): it tells registered listeners about new events
        # and computed segments instead of importing us.
        from customers import hooks
        from journeys import entry

        hooks.register_events_listener(entry.on_events_ingested)
        hooks.register_segment_computed_listener(entry.on_segment_computed)
