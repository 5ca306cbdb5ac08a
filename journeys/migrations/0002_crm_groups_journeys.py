"""The CRM groups and journeys: editors create, edit, activate and pause journeys; both see them,
their enrollments and the step runs."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

EDITOR = "CRM editor"
VIEWER = "CRM viewer"
VIEW = [
    ("journeys", "view_journey"),
    ("journeys", "view_journeystep"),
    ("journeys", "view_enrollment"),
    ("journeys", "view_steprun"),
]
EDIT = [("journeys", "add_journey"), ("journeys", "change_journey")]


def grant(apps, schema_editor):
    app_config = apps.get_app_config("journeys")
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
    for group in apps.get_model("auth", "Group").objects.filter(name__in=[EDITOR, VIEWER]):
        group.permissions.remove(*Permission.objects.filter(content_type__app_label="journeys"))


class Migration(migrations.Migration):
    dependencies = [
        ("journeys", "0001_initial"),
        ("campaigns", "0003_crm_groups_view_audit_events"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
