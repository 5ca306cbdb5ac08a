"""Participation URLs (SPEC §6): a JWT the partner verifies with the bytes of its whsec_ secret."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from django_tenants.utils import tenant_context

from partners.models import ParticipationToken
from tests.campaigns.factories import CampaignFactory
from tests.partners.factories import PartnerFactory


def _url(campaign_id) -> str:
    return f"/api/v1/campaigns/{campaign_id}/participation-url/"


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


def test_token_verifies_with_the_decoded_partner_secret_and_carries_the_claims(ingest_client):
    partner = PartnerFactory(slug="acme-rewards", auth_url="https://acme.example/participate")
    campaign = CampaignFactory(partner=partner, status="active")

    response = ingest_client.post(_url(campaign.pk), {"customer_id": "cust-42"}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"url", "token", "expires_at"}
    claims = jwt.decode(body["token"], _key(partner.secret), algorithms=["HS256"], audience="acme-rewards")
    assert set(claims) == {"iss", "aud", "sub", "cid", "iat", "exp", "jti"}
    assert claims["iss"] == "brand_a"
    assert claims["aud"] == "acme-rewards"
    assert claims["sub"] == "cust-42"
    assert claims["cid"] == campaign.pk
    assert claims["exp"] - claims["iat"] == 15 * 60
    assert len(claims["jti"]) == 32
    assert jwt.get_unverified_header(body["token"])["alg"] == "HS256"

    parts = urlsplit(body["url"])
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://acme.example/participate"
    assert parse_qs(parts.query) == {"token": [body["token"]]}

    record = ParticipationToken.objects.get(jti=claims["jti"])
    assert record.customer_id == "cust-42"
    assert record.campaign == campaign
    assert record.partner == partner
    assert int(record.expires_at.timestamp()) == claims["exp"]
    assert body["expires_at"].startswith(record.expires_at.strftime("%Y-%m-%dT%H:%M:%S"))


def test_a_token_does_not_verify_with_another_partners_secret(ingest_client):
    campaign = CampaignFactory(status="active")
    other = PartnerFactory()
    token = ingest_client.post(_url(campaign.pk), {"customer_id": "c"}, format="json").json()["token"]
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, _key(other.secret), algorithms=["HS256"], audience=campaign.partner.slug)


def test_the_token_is_appended_to_an_auth_url_that_has_a_query(ingest_client):
    partner = PartnerFactory(auth_url="https://acme.example/p?lang=pt#start")
    campaign = CampaignFactory(partner=partner, status="active")
    url = ingest_client.post(_url(campaign.pk), {"customer_id": "c"}, format="json").json()["url"]
    parts = urlsplit(url)
    assert parse_qs(parts.query)["lang"] == ["pt"]
    assert "token" in parse_qs(parts.query)
    assert parts.fragment == "start"


def test_the_ttl_is_a_setting(ingest_client, settings):
    settings.PARTICIPATION_TOKEN_TTL_SECONDS = 60
    campaign = CampaignFactory(status="active")
    token = ingest_client.post(_url(campaign.pk), {"customer_id": "c"}, format="json").json()["token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 60


def test_every_token_is_a_new_audit_row(ingest_client):
    campaign = CampaignFactory(status="active")
    for _ in range(3):
        assert ingest_client.post(_url(campaign.pk), {"customer_id": "c"}, format="json").status_code == 200
    assert ParticipationToken.objects.filter(campaign=campaign).values("jti").distinct().count() == 3


@pytest.mark.parametrize("status", ["draft", "paused", "completed", "cancelled"])
def test_only_active_campaigns_get_a_url(ingest_client, status):
    campaign = CampaignFactory(status=status)
    response = ingest_client.post(_url(campaign.pk), {"customer_id": "c"}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "campaign_not_active"
    assert not ParticipationToken.objects.exists()


@pytest.mark.parametrize("payload", [{}, {"customer_id": ""}, {"customer_id": "   "}, {"customer_id": None}])
def test_a_missing_or_blank_customer_id_is_400(ingest_client, payload):
    campaign = CampaignFactory(status="active")
    response = ingest_client.post(_url(campaign.pk), payload, format="json")
    assert response.status_code == 400
    assert "customer_id" in response.json()["error"]["fields"]
    assert not ParticipationToken.objects.exists()


def test_an_unknown_campaign_is_404(ingest_client):
    assert ingest_client.post(_url(999999), {"customer_id": "c"}, format="json").status_code == 404


def test_the_ingest_role_is_needed(crm_client, tenant_client):
    campaign = CampaignFactory(status="active")
    assert crm_client.post(_url(campaign.pk), {"customer_id": "c"}, format="json").status_code == 403
    assert tenant_client.post(_url(campaign.pk), {"customer_id": "c"}, format="json").status_code == 401


def test_another_brands_campaign_is_not_found(brand_b, ingest_client, brand_a):
    with tenant_context(brand_b):
        foreign = CampaignFactory(status="active")
        foreign_id = foreign.pk
    # Make sure brand_a has no campaign with that id.
    from campaigns.models import Campaign

    Campaign.objects.filter(pk=foreign_id).delete()
    response = ingest_client.post(_url(foreign_id), {"customer_id": "c"}, format="json")
    assert response.status_code == 404
    assert "token" not in response.json()
