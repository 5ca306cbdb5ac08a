"""The platform's own tenant row: the public schema served at `localhost`.

django-tenants routes a host to PUBLIC_SCHEMA_URLCONF only if the public tenant
has a Domain row (django-tenants #175). Historical models are used, so saving
does not try to create the (already existing) public schema.
"""

from django.db import migrations


def create_public_tenant(apps, schema_editor):
    Brand = apps.get_model("tenants", "Brand")
    Domain = apps.get_model("tenants", "Domain")
    public, _ = Brand.objects.get_or_create(schema_name="public", defaults={"name": "Platform"})
    Domain.objects.get_or_create(domain="localhost", defaults={"tenant": public, "is_primary": True})


class Migration(migrations.Migration):
    dependencies = [("tenants", "0001_initial")]
    operations = [migrations.RunPython(create_public_tenant, migrations.RunPython.noop)]
