"""CRM editors deactivate and reactivate promo codes (admin actions on codes and batches)."""

from django.db import migrations

from core.group_permissions import EDITOR, grant_to_groups


class Migration(migrations.Migration):
    dependencies = [("promotions", "0003_crm_groups_promotions")]

    operations = [grant_to_groups("promotions", {EDITOR: ["change_promocode"]})]
