from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from core.exceptions import ApplicationError
from tenants.services import brand_create


class Command(BaseCommand):
    help = "Create a brand: its PostgreSQL schema (migrated) and its host name. Safe to re-run."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--schema", required=True, help="schema name, e.g. brand_a")
        parser.add_argument("--name", required=True, help='display name, e.g. "Brand A"')
        parser.add_argument("--domain", required=True, help="host name, e.g. brand-a.localhost")

    def handle(self, *args, schema: str, name: str, domain: str, **options) -> None:
        try:
            result = brand_create(schema_name=schema, name=name, domain=domain)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        except ValidationError as exc:
            raise CommandError(
                "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.message_dict.items())
            ) from exc
        verb = "created" if result.created else "already exists, unchanged"
        self.stdout.write(f"brand {result.brand.name!r} {verb}")
        self.stdout.write(f"schema: {result.brand.schema_name}")
        self.stdout.write(f"host: {result.domain.domain}")
