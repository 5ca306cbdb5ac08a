"""The CRM groups and customers: editors manage segments and may erase a customer (privacy); both see
customers, their stats and events, and segments."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

EDITOR = "CRM editor"
VIEWER = "CRM viewer"
VIEW = [
    ("customers", "view_customer"),
    ("customers", "view_customerstats"),
    ("customers", "view_event"),
    ("customers", "view_segment"),
    ("customers", "view_segmentmember"),
    ("customers", "view_segmentsize"),
]
EDIT = [
    ("customers", "add_segment"),
    ("customers", "change_segment"),
    ("customers", "delete_segment"),
    ("customers", "delete_customer"),
]


def grant(apps, schema_editor):
    app_config = apps.get_app_config("customers")
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
        group.permissions.remove(*Permission.objects.filter(content_type__app_label="customers"))


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0002_customer_erased_at"),
        ("campaigns", "0003_crm_groups_view_audit_events"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
