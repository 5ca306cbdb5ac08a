"""The CRM groups and budget allocations: editors propose and apply them (applying also needs
campaigns.change_campaign, which editors have); both groups read them and their lines."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

EDITOR = "CRM editor"
VIEWER = "CRM viewer"
VIEW = [("analytics", "view_budgetallocation"), ("analytics", "view_budgetallocationline")]
EDIT = [("analytics", "add_budgetallocation"), ("analytics", "change_budgetallocation")]


def grant(apps, schema_editor):
    app_config = apps.get_app_config("analytics")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, wanted in ((EDITOR, VIEW + EDIT), (VIEWER, VIEW)):
        group, _ = Group.objects.get_or_create(name=name)
        for app_label, codename in wanted:
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    codenames = [codename for _app, codename in VIEW + EDIT]
    for group in apps.get_model("auth", "Group").objects.filter(name__in=[EDITOR, VIEWER]):
        group.permissions.remove(
            *Permission.objects.filter(content_type__app_label="analytics", codename__in=codenames)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0003_budget_allocations"),
        ("campaigns", "0003_crm_groups_view_audit_events"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
