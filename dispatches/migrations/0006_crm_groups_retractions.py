"""The CRM groups see refunds and retractions (ADR 0025); editors replay dead retractions with the right
they already hold for dead dispatches (`replay_dispatch`)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

EDITOR = "CRM editor"
VIEWER = "CRM viewer"
VIEW = [
    ("purchases", "view_purchaserefund"),
    ("dispatches", "view_retraction"),
    ("dispatches", "view_retractionattempt"),
]


def grant(apps, schema_editor):
    for app_label in ("purchases", "dispatches"):
        app_config = apps.get_app_config(app_label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name in (EDITOR, VIEWER):
        group, _ = Group.objects.get_or_create(name=name)
        for app_label, codename in VIEW:
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    for group in apps.get_model("auth", "Group").objects.filter(name__in=[EDITOR, VIEWER]):
        for app_label, codename in VIEW:
            group.permissions.remove(
                *Permission.objects.filter(content_type__app_label=app_label, codename=codename)
            )


class Migration(migrations.Migration):
    dependencies = [
        ("dispatches", "0005_retractions"),
        ("purchases", "0006_purchase_refunds"),
        ("campaigns", "0002_campaigns_crm_groups"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
