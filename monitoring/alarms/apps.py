from django.apps import AppConfig


class AlarmsConfig(AppConfig):
    """Platform (shared app, public schema): alarm rules and the alarms they raised, for operators."""

    name = "monitoring.alarms"
    label = "alarms"
    verbose_name = "Alarms"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tenants.signals import brand_created

        brand_created.connect(_give_brand_default_rules, dispatch_uid="alarms.default_rules")


def _give_brand_default_rules(sender, *, brand, created: bool, **kwargs) -> None:
    from monitoring.alarms.services import alarm_rules_ensure_defaults

    alarm_rules_ensure_defaults(brand=brand)
