import secrets
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.utils import timezone
from django_tenants.utils import schema_context

from tenants.services import brand_create

DEMO_SCHEMA = "brand_a"
DEMO_NAME = "Brand A"
DEMO_DOMAIN = "brand-a.localhost"
DEMO_USER = "admin"
DEMO_PARTNER_SLUG = "demo-partner"
DEMO_PARTNER_URL = "http://127.0.0.1:9100"
DEMO_CAMPAIGN = "Demo Christmas campaign"


def _seed_demo_campaign() -> dict[str, str]:
    """A partner at the local fake partner and one active campaign with item rules (idempotent)."""
    import base64

    from campaigns.models import Campaign, CampaignTransition, ItemRule
    from partners.models import Partner

    partner, _ = Partner.objects.get_or_create(
        slug=DEMO_PARTNER_SLUG,
        defaults={
            "name": "Demo partner (local fake_partner)",
            "submission_url": f"{DEMO_PARTNER_URL}/submissions",
            "auth_url": f"{DEMO_PARTNER_URL}/participate",
            "secret": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
            "timeout_seconds": 5,
        },
    )
    now = timezone.now()
    campaign, created = Campaign.objects.get_or_create(
        name=DEMO_CAMPAIGN,
        defaults={
            "kind": Campaign.Kind.CHRISTMAS,
            "status": Campaign.Status.ACTIVE,
            "starts_at": now - timedelta(days=1),
            "ends_at": now + timedelta(days=60),
            "purchase_channels": ["in_store", "ecommerce"],
            "currency": "EUR",
            "min_purchase_value": Decimal("30.00"),
            "partner": partner,
            "reward": {"type": "voucher", "value": "10.00", "description": "10 EUR off your next purchase"},
            "notification": {
                "title": "You won a voucher!",
                "body": "{{ award.value }} {{ award.currency }} off, thanks to {{ campaign.name }}.",
            },
        },
    )
    if created:
        CampaignTransition.objects.create(
            campaign=campaign, from_status="draft", to_status="active", actor="system", note="demo seed"
        )
        ItemRule.objects.bulk_create(
            [
                ItemRule(campaign=campaign, kind="blacklist", match="category", value="gift-cards"),
                ItemRule(campaign=campaign, kind="blacklist", match="sku", value="SKU-00013"),
                ItemRule(
                    campaign=campaign, kind="whitelist", match="category", value="toys", multiplier=Decimal(2)
                ),
                ItemRule(
                    campaign=campaign,
                    kind="whitelist",
                    match="sku",
                    value="SKU-00042",
                    multiplier=Decimal("1.5"),
                    bonus_per_unit=Decimal("1.00"),
                ),
            ]
        )
    elif campaign.ends_at <= now:
        # A demo database reused weeks later: keep the demo campaign running.
        Campaign.objects.filter(pk=campaign.pk).update(
            ends_at=now + timedelta(days=60), status=Campaign.Status.ACTIVE, version=campaign.version + 1
        )
    return {"campaign": campaign.name, "partner": partner.slug}


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
            seeded = _seed_demo_campaign()
        base = f"http://{result.domain.domain}:{port}"
        self.stdout.write(self.style.SUCCESS("Demo brand ready"))
        self.stdout.write(f"  admin:    {base}/admin/   user {DEMO_USER!r}  password {password!r}")
        self.stdout.write(f"  API docs: {base}/api/docs/")
        self.stdout.write(
            f"  API key:  python manage.py create_api_key --schema {DEMO_SCHEMA} --role crm --name demo"
        )
        self.stdout.write(
            f"  demo:     campaign {seeded['campaign']!r} (active) sends eligible purchases to partner"
            f" {seeded['partner']!r} at {DEMO_PARTNER_URL}"
        )
        self.stdout.write(
            "  See purchases flow end to end (make run already starts the fake partner on :9100):"
        )
        self.stdout.write(
            "            python manage.py fake_partner --port 9100   # if make run is not running it"
        )
        self.stdout.write(
            f"            python manage.py simulate_purchases --schema {DEMO_SCHEMA} --count 200 --rate 20"
            f" --url http://127.0.0.1:{port}"
        )
