import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django_tenants.utils import schema_context

from tenants.services import brand_create

DEMO_SCHEMA = "brand_a"
DEMO_NAME = "Brand A"
DEMO_DOMAIN = "brand-a.localhost"
DEMO_USER = "admin"


class Command(BaseCommand):
    help = "Create the demo brand (brand-a.localhost) and its admin user; prints a fresh password."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, port: int, **options) -> None:
        result = brand_create(schema_name=DEMO_SCHEMA, name=DEMO_NAME, domain=DEMO_DOMAIN)
        password = secrets.token_urlsafe(12)
        with schema_context(DEMO_SCHEMA):
            user, _ = get_user_model().objects.get_or_create(
                username=DEMO_USER, defaults={"email": "admin@brand-a.localhost"}
            )
            user.is_staff = user.is_superuser = True
            user.set_password(password)
            user.save()
        base = f"http://{result.domain.domain}:{port}"
        self.stdout.write(self.style.SUCCESS("Demo brand ready"))
        self.stdout.write(f"  admin:    {base}/admin/   user {DEMO_USER!r}  password {password!r}")
        self.stdout.write(f"  API docs: {base}/api/docs/")
        self.stdout.write(
            f"  API key:  python manage.py create_api_key --schema {DEMO_SCHEMA} --role crm --name demo"
        )
