from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Cross-cutting plumbing: errors, API auth, pagination, throttling, health, logging."""

    name = "core"
    verbose_name = "Core"
