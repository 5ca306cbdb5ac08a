from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from accounts.models import ApiKey
from accounts.services import api_key_create
from tenants.models import Brand


class Command(BaseCommand):
    help = (
        "Create an API key for a brand. The key is printed once, alone on the last line; "
        "only its hash is kept."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--schema", required=True)
        parser.add_argument("--role", required=True, choices=[choice.value for choice in ApiKey.Role])
        parser.add_argument("--name", required=True)

    def handle(self, *args, schema: str, role: str, name: str, **options) -> None:
        if not Brand.objects.filter(schema_name=schema).exclude(schema_name="public").exists():
            raise CommandError(f"No brand with schema {schema!r}.")
        with schema_context(schema):
            api_key, key = api_key_create(name=name, role=role)
        self.stdout.write(f"API key {api_key.name!r} (role {role}, prefix {api_key.prefix}) for {schema}:")
        self.stdout.write(key)
