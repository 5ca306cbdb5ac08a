from django.apps import AppConfig


class TenantsConfig(AppConfig):
    """Shared app (public schema): brands, their host names, onboarding commands, fan-out."""

    name = "tenants"
    verbose_name = "Brands"
