from django.apps import AppConfig
from django.contrib.admin import apps as django_admin_apps


class CoreConfig(AppConfig):
    """Cross-cutting plumbing: errors, API auth, pagination, throttling, health, logging."""

    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from core import celery_signals  # noqa: F401  (connects the request-id signal handlers)


class AdminConfig(django_admin_apps.AdminConfig):
    """Django's admin, then the split of its registrations into the brand and platform sites."""

    default = False  # "core" alone means CoreConfig

    def ready(self) -> None:
        super().ready()  # autodiscover: every app's admin.py registers on the default site
        from core.admin_sites import split_default_site

        split_default_site()
