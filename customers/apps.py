from django.apps import AppConfig


class CustomersConfig(AppConfig):
    """Tenant app: customers, their stats and events, segments, the segment DSL, privacy export/erase."""

    name = "customers"
