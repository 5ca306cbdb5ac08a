from django.apps import AppConfig


class AlarmsConfig(AppConfig):
    """Platform (shared app, public schema): alarm rules and the alarms they raised, for operators."""

    name = "monitoring.alarms"
    label = "alarms"
    verbose_name = "Alarms"
    default_auto_field = "django.db.models.BigAutoField"
