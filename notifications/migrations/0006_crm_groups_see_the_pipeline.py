"""The CRM groups see what the pipeline did; the editor may replay its dead letters (ADR 0015).

Both groups ("CRM editor", "CRM viewer", created by campaigns 0002) get the view
permissions of purchases, evaluations, dispatches, their attempts, awards and
notifications; the editor also gets `replay_dispatch` and `replay_notification`.
Here, in the highest of the apps whose permissions it grants, so that every one of
them is migrated first. Runs in every brand schema, so a new brand has it too.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

EDITOR = "CRM editor"
VIEWER = "CRM viewer"

VIEW_PERMISSIONS = [
    ("purchases", "view_purchase"),
    ("purchases", "view_evaluation"),
    ("dispatches", "view_dispatch"),
    ("dispatches", "view_dispatchattempt"),
    ("awards", "view_award"),
    ("notifications", "view_notification"),
]
REPLAY_PERMISSIONS = [
    ("dispatches", "replay_dispatch"),
    ("notifications", "replay_notification"),
]
GRANTS = {EDITOR: VIEW_PERMISSIONS + REPLAY_PERMISSIONS, VIEWER: VIEW_PERMISSIONS}


def _permission(Permission, app_label, codename):
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def grant(apps, schema_editor):
    for app_label in {app_label for app_label, _ in VIEW_PERMISSIONS + REPLAY_PERMISSIONS}:
        app_config = apps.get_app_config(app_label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, wanted in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*(_permission(Permission, *pair) for pair in wanted))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, wanted in GRANTS.items():
        for group in Group.objects.filter(name=name):
            for app_label, codename in wanted:
                group.permissions.remove(
                    *Permission.objects.filter(content_type__app_label=app_label, codename=codename)
                )


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0003_crm_groups_view_audit_events"),
        ("purchases", "0004_drop_unused_purchased_at_index"),
        ("dispatches", "0004_replay_permission"),
        ("awards", "0001_moved_from_partners"),
        ("notifications", "0005_replay_permission"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
