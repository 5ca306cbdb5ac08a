"""The demo brand of `make run`: brand-a.localhost, its admin user, a partner at the local fake partner
and one active campaign. Re-running it is harmless; each run sets a fresh admin password, written to
`.data/demo-admin.txt` (mode 0600) — `scripts/run_stack.sh` prints that file last, once the web
server answers /readyz, so the password does not scroll away in the logs."""

import os
import secrets
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django_tenants.utils import schema_context

from core.exceptions import ValidationFailed
from tenants.services import brand_create

DEMO_SCHEMA = "brand_a"
DEMO_NAME = "Brand A"
DEMO_DOMAIN = "brand-a.localhost"
DEMO_USER = "admin"
DEMO_PARTNER_SLUG = "demo-partner"
DEMO_PARTNER_PORT = 9100
DEMO_CAMPAIGN = "Demo Christmas campaign"
# What README.md and the startup banner both suggest.
SIMULATE_COMMAND = "python manage.py simulate_purchases --schema brand_a --count 500 --rate 50"


def demo_admin_file() -> Path:
    return Path(settings.BASE_DIR) / ".data" / "demo-admin.txt"


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(text)
    os.chmod(path, 0o600)


def _seed_demo_campaign(partner_url: str) -> dict[str, str]:
    """A partner at the local fake partner and one active campaign with item rules (idempotent)."""
    import base64

    from campaigns.models import Campaign, CampaignTransition, ItemRule
    from partners.models import Partner
    from partners.services import partner_update

    partner, _ = Partner.objects.get_or_create(
        slug=DEMO_PARTNER_SLUG,
        defaults={
            "name": "Demo partner (local fake_partner)",
            "submission_url": f"{partner_url}/submissions",
            "auth_url": f"{partner_url}/participate",
            "secret": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
            "timeout_seconds": 5,
        },
    )
    if partner.submission_url != f"{partner_url}/submissions":  # the fake partner moved (FAKE_PARTNER_PORT)
        try:
            partner = partner_update(
                partner_id=partner.pk,
                actor="system",
                data={
                    "submission_url": f"{partner_url}/submissions",
                    "auth_url": f"{partner_url}/participate",
                },
            )
        except ValidationFailed as exc:
            raise CommandError(
                f"Cannot point the demo partner at {partner_url}: {exc}. "
                "Loopback partner URLs need PARTNER_URL_ALLOW_PRIVATE=true (make run sets it)."
            ) from exc
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
        parser.add_argument("--port", type=int, default=8000, help="the web server's port")
        parser.add_argument(
            "--partner-port", type=int, default=DEMO_PARTNER_PORT, help="the fake partner's port"
        )

    def handle(self, *args, port: int, partner_port: int, **options) -> None:
        partner_url = f"http://127.0.0.1:{partner_port}"
        result = brand_create(schema_name=DEMO_SCHEMA, name=DEMO_NAME, domain=DEMO_DOMAIN)
        password = secrets.token_urlsafe(12)
        with schema_context(DEMO_SCHEMA):
            user, _ = get_user_model().objects.get_or_create(
                username=DEMO_USER, defaults={"email": "admin@brand-a.localhost"}
            )
            user.is_staff = user.is_superuser = True
            user.set_password(password)
            user.save()
            seeded = _seed_demo_campaign(partner_url)
        base = f"http://{result.domain.domain}:{port}"
        url_option = "" if port == 8000 else f" --url http://127.0.0.1:{port}"
        credentials = demo_admin_file()
        _write_private(
            credentials,
            f"admin:    {base}/admin/\nuser:     {DEMO_USER}\npassword: {password}\n",
        )
        self.stdout.write(self.style.SUCCESS("Demo brand ready"))
        self.stdout.write(f"  API docs: {base}/api/docs/")
        self.stdout.write(
            f"  demo:     campaign {seeded['campaign']!r} (active) sends eligible purchases to partner"
            f" {seeded['partner']!r} at {partner_url}, which sends awards back for half of them"
        )
        self.stdout.write(f"  purchases: {SIMULATE_COMMAND}{url_option}")
        self.stdout.write(f"  admin:    {base}/admin/   user {DEMO_USER!r}  password in {credentials}")
