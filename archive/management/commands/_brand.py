from django.core.management.base import CommandError
from django_tenants.utils import get_public_schema_name

from tenants.models import Brand


def require_brand(schema: str) -> None:
    if schema == get_public_schema_name() or not Brand.objects.filter(schema_name=schema).exists():
        raise CommandError(f"No brand with schema {schema!r}.")
