"""The CRM groups and budgets (SPEC §13): both see a campaign's budget and ledger; editors set budgets."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

EDITOR = "CRM editor"
VIEWER = "CRM viewer"
VIEW = [("campaigns", "view_budget"), ("campaigns", "view_budgetledger")]
EDIT = [("campaigns", "add_budget"), ("campaigns", "change_budget")]


def grant(apps, schema_editor):
    app_config = apps.get_app_config("campaigns")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, wanted in ((EDITOR, VIEW + EDIT), (VIEWER, VIEW)):
        group, _ = Group.objects.get_or_create(name=name)
        for app_label, codename in wanted:
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    codenames = [codename for _, codename in VIEW + EDIT]
    for group in apps.get_model("auth", "Group").objects.filter(name__in=[EDITOR, VIEWER]):
        group.permissions.remove(*Permission.objects.filter(content_type__app_label="campaigns", codename__in=codenames))


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0007_budgets_approval")]

    operations = [migrations.RunPython(grant, revoke)]
