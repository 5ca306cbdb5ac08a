"""The brand's CRM groups: "CRM editor" changes campaigns and partners, "CRM viewer" only looks.

Runs in every brand schema (campaigns is a tenant app), so each brand has its
own groups. Permissions are normally created after all migrations (post_migrate);
they are created here first so the groups can hold them on a fresh schema.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

EDITOR = "CRM editor"
VIEWER = "CRM viewer"

EDITOR_PERMISSIONS = [
    ("campaigns", "add_campaign"),
    ("campaigns", "change_campaign"),
    ("campaigns", "delete_campaign"),
    ("campaigns", "view_campaign"),
    ("campaigns", "add_itemrule"),
    ("campaigns", "change_itemrule"),
    ("campaigns", "delete_itemrule"),
    ("campaigns", "view_itemrule"),
    ("campaigns", "view_campaigntransition"),
    ("partners", "add_partner"),
    ("partners", "change_partner"),
    ("partners", "view_partner"),
]
VIEWER_PERMISSIONS = [
    ("campaigns", "view_campaign"),
    ("campaigns", "view_itemrule"),
    ("campaigns", "view_campaigntransition"),
    ("partners", "view_partner"),
]


def create_groups(apps, schema_editor):
    for app_label in ("campaigns", "partners"):
        app_config = apps.get_app_config(app_label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, wanted in ((EDITOR, EDITOR_PERMISSIONS), (VIEWER, VIEWER_PERMISSIONS)):
        group, _ = Group.objects.get_or_create(name=name)
        for app_label, codename in wanted:
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=[EDITOR, VIEWER]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("campaigns", "0001_initial"),
        ("partners", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
