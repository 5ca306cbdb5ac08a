from django.apps import AppConfig


class TenantsConfig(AppConfig):
    """Shared app (public schema): brands, their host names, onboarding commands, fan-out."""

    name = "tenants"
    verbose_name = "Brands"

    def ready(self) -> None:
        # Registers `migrate_schemas --executor=parallel` (django-tenants finds executors by subclass).
        from tenants import migration_executor  # noqa: F401
