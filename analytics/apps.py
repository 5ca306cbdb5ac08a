from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    """Tenant app: attribution, the hourly campaign rollup, metrics, reports, cohorts (SPEC §16)."""

    name = "analytics"
