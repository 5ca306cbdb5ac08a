"""The CRM groups' permissions, granted by data migrations.

Each app's migration names the permissions its CRM editors and viewers get:

    operations = [grant_to_groups("promotions", {"CRM editor": ["change_promocode"]})]

The permissions are created first (a fresh database has not run `post_migrate` yet), and the
reverse migration takes the same permissions back.
"""

from __future__ import annotations

from django.contrib.auth.management import create_permissions
from django.db import migrations

EDITOR = "CRM editor"
VIEWER = "CRM viewer"


def grant_to_groups(app_label: str, grants: dict[str, list[str]]) -> migrations.RunPython:
    """A RunPython that gives each group (by name) these codenames of `app_label`'s permissions."""

    def grant(apps, schema_editor) -> None:
        app_config = apps.get_app_config(app_label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
        Group = apps.get_model("auth", "Group")
        Permission = apps.get_model("auth", "Permission")
        for name, codenames in grants.items():
            group, _ = Group.objects.get_or_create(name=name)
            wanted = Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)
            missing = set(codenames) - set(wanted.values_list("codename", flat=True))
            if missing:
                raise LookupError(f"{app_label} has no permissions {sorted(missing)}")
            group.permissions.add(*wanted)

    def revoke(apps, schema_editor) -> None:
        Group = apps.get_model("auth", "Group")
        Permission = apps.get_model("auth", "Permission")
        for name, codenames in grants.items():
            for group in Group.objects.filter(name=name):
                group.permissions.remove(
                    *Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)
                )

    return migrations.RunPython(grant, revoke)
