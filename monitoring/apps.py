from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    """Per brand (tenant app): hourly rollups and the health snapshot behind the CRM dashboard."""

    name = "monitoring"
    verbose_name = "Dashboards"
    default_auto_field = "django.db.models.BigAutoField"
