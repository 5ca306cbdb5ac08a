"""docs/integration.md's signing examples, run as written against the real award webhook."""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from django.db import connection
from django_tenants.utils import schema_context
from rest_framework.test import APIClient

from awards.models import Award
from campaigns.models import Campaign
from core.http.signing import signed_headers
from notifications.models import Notification
from outbox.models import OutboxMessage
from partners.models import Partner
from tests.campaigns.factories import CampaignFactory
from tests.partners.factories import PartnerFactory, make_whsec
from tests.purchases.conftest import in_own_connection
from tests.support.live_wsgi import live_wsgi_server

DOC = Path(__file__).resolve().parents[2] / "docs" / "integration.md"


def doc_block(name: str) -> str:
    """The fenced code block right after `<!-- integration-doc: name -->`."""
    match = re.search(rf"<!-- integration-doc: {name} -->\n```\w+\n(.*?)```", DOC.read_text(), re.S)
    assert match, f"docs/integration.md has no block marked {name!r}"
    return match.group(1)


def test_the_python_signing_example_is_accepted_by_the_award_webhook(brand_a):
    namespace: dict = {}
    exec(doc_block("python-signing"), namespace)
    signed_award_request = namespace["signed_award_request"]
    secret = make_whsec()
    partner = PartnerFactory(slug="doc-partner", secret=secret)
    campaign = CampaignFactory(partner=partner, status="active")
    award = {
        "award_id": "award-doc-1",
        "customer_id": "customer-981",
        "campaign_id": campaign.id,
        "reward_type": "voucher",
        "value": "10.00",
        "currency": "EUR",
        "voucher_code": "XMAS-7K2Q9",
        "expires_at": "2027-01-31T23:59:59Z",
        "message": "10 € off your next purchase",
    }
    body, headers = signed_award_request(secret, "award-doc-1", award)

    # The example signs exactly as the platform itself does (core/http/signing.py).
    ours = signed_headers(secret=secret, msg_id="award-doc-1", body=body)
    if ours["webhook-timestamp"] == headers["webhook-timestamp"]:
        assert ours["webhook-signature"] == headers["webhook-signature"]

    client = APIClient(HTTP_HOST="brand-a.localhost")
    url = f"/api/v1/partners/{partner.slug}/awards/"
    extra = {f"HTTP_{key.upper().replace('-', '_')}": value for key, value in headers.items()}
    extra.pop("HTTP_CONTENT_TYPE")
    created = client.post(url, data=body, content_type="application/json", **extra)
    assert created.status_code == 201, created.content
    assert created.json()["award_id"] == "award-doc-1" and created.json()["value"] == "10.00"
    replayed = client.post(url, data=body, content_type="application/json", **extra)
    assert replayed.status_code == 200
    assert Award.objects.filter(award_id="award-doc-1").count() == 1

    # The same call signed with another secret is refused.
    _, forged = signed_award_request(make_whsec(), "award-doc-2", award)
    forged_extra = {f"HTTP_{key.upper().replace('-', '_')}": value for key, value in forged.items()}
    forged_extra.pop("HTTP_CONTENT_TYPE")
    refused = client.post(url, data=body, content_type="application/json", **forged_extra)
    assert refused.status_code == 401


@pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("bash", "curl", "openssl", "xxd", "base64")),
    reason="needs bash, curl, openssl, xxd and base64",
)
def test_the_curl_and_openssl_example_is_accepted_by_the_award_webhook(brands, db):
    """The shell example as written: its campaign id 12 is swapped for a real one; a bad signature
    would be 401, the good one reaches the award (201)."""
    test_database = connection.settings_dict["NAME"]
    secret = make_whsec()
    slug = f"doc-shell-{uuid.uuid4().hex[:8]}"

    def seed() -> tuple[int, int]:
        with schema_context("brand_a"):
            last = OutboxMessage.objects.order_by("-id").values_list("id", flat=True).first() or 0
            return CampaignFactory(partner=PartnerFactory(slug=slug, secret=secret), status="active").pk, last

    campaign_id, last_outbox_id = in_own_connection(test_database, seed)
    script = doc_block("shell-signing").replace('"campaign_id":12', f'"campaign_id":{campaign_id}')
    assert f'"campaign_id":{campaign_id}' in script
    try:
        with live_wsgi_server(test_database) as base_url:
            host = base_url.replace("127.0.0.1", "brand-a.localhost")  # curl resolves *.localhost itself
            results = []
            for key in (secret, make_whsec()):
                run = subprocess.run(
                    ["bash", "-c", script.rstrip() + ' -o /dev/null -w "%{http_code}"'],
                    env={"SECRET": key, "SLUG": slug, "HOST": host, "PATH": "/usr/bin:/bin"},
                    capture_output=True,
                    text=True,
                    timeout=30,
                )
                results.append(run.stdout.strip()[-3:] or run.stderr)

        def stored() -> list[str]:
            with schema_context("brand_a"):
                return list(Award.objects.filter(campaign_id=campaign_id).values_list("award_id", flat=True))

        awards = in_own_connection(test_database, stored)
    finally:

        def clean() -> None:
            with schema_context("brand_a"):
                OutboxMessage.objects.filter(id__gt=last_outbox_id).delete()
                Notification.objects.filter(campaign_id=campaign_id).delete()
                Award.objects.filter(campaign_id=campaign_id).delete()
                Campaign.objects.filter(pk=campaign_id).delete()
                Partner.objects.filter(slug=slug).delete()

        in_own_connection(test_database, clean)

    assert results == ["201", "401"], results
    assert awards == ["award-5f0c"]
