"""Backfill: every brand that exists gets the default alarm rules new brands get (ADR 0012).

Same idempotent rule as `alarm_rules_ensure_defaults`: a rule of the same name is left alone.
Runs in the public schema only (alarms is a shared app).
"""

from django.db import migrations

from monitoring.alarms.defaults import DEFAULT_RULES, default_rule_name


def add_default_rules(apps, schema_editor):
    Brand = apps.get_model("tenants", "Brand")
    AlarmRule = apps.get_model("alarms", "AlarmRule")
    for brand in Brand.objects.exclude(schema_name="public"):
        for default in DEFAULT_RULES:
            AlarmRule.objects.get_or_create(
                name=default_rule_name(default, brand.schema_name),
                defaults={
                    "kind": default.kind,
                    "threshold": default.threshold,
                    "window_minutes": default.window_minutes,
                    "min_attempts": default.min_attempts,
                    "brand": brand,
                },
            )


class Migration(migrations.Migration):
    dependencies = [
        ("alarms", "0001_alarm_rules"),
        ("tenants", "0002_public_tenant"),
    ]

    operations = [migrations.RunPython(add_default_rules, migrations.RunPython.noop)]
