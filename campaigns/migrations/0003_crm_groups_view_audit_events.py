"""Both CRM groups may read the audit trail (core.view_auditevent): the admin's global list, each
campaign's and partner's "History" page, and `GET /api/v1/audit-events/` for staff sessions."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUPS = ("CRM editor", "CRM viewer")


def grant(apps, schema_editor):
    app_config = apps.get_app_config("core")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permission = Permission.objects.get(content_type__app_label="core", codename="view_auditevent")
    for name in GROUPS:
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(permission)


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    permission = Permission.objects.filter(content_type__app_label="core", codename="view_auditevent").first()
    if permission is not None:
        for group in apps.get_model("auth", "Group").objects.filter(name__in=GROUPS):
            group.permissions.remove(permission)


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0002_campaigns_crm_groups"),
        ("core", "0001_audit_event"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
