"""Abuse limits: body and batch size, page size cap, per-key throttling, mass assignment,
write-only secrets, the partner-URL SSRF guard, secrets kept out of logs, hashed API keys."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from accounts.models import ApiKey
from accounts.services import api_key_create
from campaigns.models import Campaign
from core.throttling import ApiKeyRateThrottle
from dispatches.services import dispatch_send_batch
from partners.models import Partner
from tests.campaigns.factories import CampaignFactory
from tests.dispatches.factories import make_dispatch
from tests.notifications.helpers import award_body, post_award
from tests.partners.factories import PartnerFactory, make_whsec


def purchase(n: int) -> dict:
    return {
        "external_id": f"abuse-{n}",
        "customer_id": "c-1",
        "channel": "in_store",
        "purchased_at": (timezone.now() - timedelta(hours=1)).isoformat(),
        "currency": "EUR",
        "items": [{"sku": "S", "quantity": 1, "unit_price": "1.00"}],
    }


def test_body_over_the_limit_is_413_before_parsing(ingest_client, settings, reliability):
    settings.MAX_REQUEST_BODY_BYTES = 2_000
    raw = json.dumps({"purchases": [purchase(n) for n in range(20)]})
    assert len(raw) > 2_000
    response = ingest_client.post("/api/v1/purchases/batch/", raw, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    from purchases.models import Purchase

    assert not Purchase.objects.exists()
    reliability.record("abuse: body over MAX_REQUEST_BODY_BYTES → 413", lost=0, five_xx=0)


def test_batch_over_1000_is_413_and_stores_nothing(ingest_client, reliability):
    from purchases.models import Purchase

    response = ingest_client.post(
        "/api/v1/purchases/batch/", {"purchases": [purchase(n) for n in range(1001)]}, format="json"
    )
    assert response.status_code == 413, response.content[:300]
    assert set(response.json()["error"]) == {"code", "message", "fields"}
    assert not Purchase.objects.exists()
    reliability.record("abuse: batch of 1001 → 413, nothing stored", five_xx=0)


def test_page_size_is_capped(crm_client, settings, reliability):
    partner = PartnerFactory()
    now = timezone.now()
    Campaign.objects.bulk_create(
        CampaignFactory.build(
            name=f"bulk {n}", partner=partner, starts_at=now, ends_at=now + timedelta(days=1)
        )
        for n in range(settings.MAX_PAGE_SIZE + 5)
    )
    response = crm_client.get("/api/v1/campaigns/", {"page_size": 1_000_000})
    assert response.status_code == 200
    body = response.json()
    assert len(body["results"]) == settings.MAX_PAGE_SIZE
    assert body["count"] == settings.MAX_PAGE_SIZE + 5
    for bad in ("-1", "abc", "0"):
        assert crm_client.get("/api/v1/campaigns/", {"page_size": bad}).status_code < 500
    reliability.record(
        f"abuse: page_size=1000000 capped at MAX_PAGE_SIZE ({settings.MAX_PAGE_SIZE})", five_xx=0
    )


def test_throttling_is_per_key_with_retry_after(make_api_client, brand_a, monkeypatch, reliability):
    from django.core.cache import cache

    monkeypatch.setattr(
        ApiKeyRateThrottle, "THROTTLE_RATES", {**ApiKeyRateThrottle.THROTTLE_RATES, "api_key": "3/min"}
    )
    first, second = make_api_client("brand_a", "crm"), make_api_client("brand_a", "crm")
    statuses = [first.get("/api/v1/me/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    throttled = first.get("/api/v1/me/")
    assert throttled.status_code == 429
    assert int(throttled["Retry-After"]) > 0
    assert throttled.json()["error"]["code"] == "throttled"
    # Another key of the same brand, and a key of the other brand, have their own budgets.
    assert second.get("/api/v1/me/").status_code == 200
    other_brand = make_api_client("brand_b", "crm")
    assert other_brand.get("/api/v1/me/").status_code == 200
    connection.set_schema_to_public()
    cache.clear()
    reliability.record("abuse: per-key throttle 429 + Retry-After, other keys unaffected", five_xx=0, leaks=0)


def test_mass_assignment_of_id_status_version_is_ignored(crm_client, campaign_payload, reliability):
    body = campaign_payload | {
        "id": 999_999,
        "status": "active",
        "version": 42,
        "created_at": "2000-01-01T00:00:00Z",
    }
    created = crm_client.post("/api/v1/campaigns/", body, format="json")
    assert created.status_code == 201, created.json()
    data = created.json()
    assert (data["status"], data["version"]) == ("draft", 1)
    assert data["id"] != 999_999
    url = f"/api/v1/campaigns/{data['id']}/"
    patched = crm_client.patch(
        url, {"id": 5, "status": "completed", "version": 99, "name": "Renamed"}, format="json"
    )
    assert patched.status_code == 200
    assert (patched.json()["id"], patched.json()["status"], patched.json()["version"]) == (
        data["id"],
        "draft",
        2,
    )
    stored = Campaign.objects.get()
    assert (stored.pk, stored.status, stored.version) == (data["id"], "draft", 2)

    rule = crm_client.post(
        f"{url}item-rules/", {"id": 777, "kind": "blacklist", "match": "sku", "value": "X"}, format="json"
    )
    assert rule.status_code == 201 and rule.json()["id"] != 777
    reliability.record("abuse: mass assignment of id/status/version ignored", leaks=0)


def test_partner_secret_is_write_only(crm_client, brand_a, reliability):
    given = make_whsec()
    base = {"name": "Acme", "submission_url": "http://127.0.0.1:9/s", "auth_url": "http://127.0.0.1:9/a"}
    created = crm_client.post("/api/v1/partners/", base | {"slug": "acme", "secret": given}, format="json")
    assert created.status_code == 201
    generated = crm_client.post("/api/v1/partners/", base | {"slug": "gen"}, format="json")
    assert generated.status_code == 201
    generated_secret = generated.json()["secret"]  # returned once, because the platform made it
    assert generated_secret == Partner.objects.get(slug="gen").secret
    secrets = [given, generated_secret]
    leaks = 0
    for response in (
        created,
        crm_client.get("/api/v1/partners/"),
        crm_client.get("/api/v1/partners/acme/"),
        crm_client.get("/api/v1/partners/gen/"),
        crm_client.patch("/api/v1/partners/acme/", {"name": "Acme 2", "secret": make_whsec()}, format="json"),
        crm_client.get("/api/v1/partners/?page_size=500"),
    ):
        text = response.content.decode()
        leaks += sum(secret in text for secret in secrets) + ("whsec_" in text)
    reliability.record("secret write-only: not in any partner response after creation", leaks=leaks)
    assert leaks == 0


SSRF_URLS = [
    "http://127.0.0.1/x",
    "http://127.1/x",
    "http://2130706433/x",  # decimal 127.0.0.1
    "http://0177.0.0.1/x",  # octal
    "http://0x7f000001/x",  # hex
    "http://017700000001/x",  # octal, one number
    "http://localhost/x",
    "http://10.0.0.1/x",
    "http://172.31.255.1/x",
    "http://192.168.1.1/x",
    "http://169.254.169.254/latest/meta-data/",
    "http://2852039166/x",  # decimal 169.254.169.254
    "http://[::1]/x",
    "http://[fd00::1]/x",  # IPv6 ULA
    "http://[fe80::1]/x",
    "http://[::ffff:169.254.169.254]/x",
    "http://[::ffff:7f00:1]/x",
    "http://0.0.0.0/x",
    "http://0/x",
    "http://100.64.0.1/x",
    "http://224.0.0.1/x",
    "ftp://example.com/x",
    "file:///etc/passwd",
    "http://user:pw@93.184.215.14/x",
]


@override_settings(PARTNER_URL_ALLOW_PRIVATE=False)
def test_ssrf_guard_refuses_internal_addresses_in_every_spelling(crm_client, brand_a, reliability):
    accepted = []
    for n, url in enumerate(SSRF_URLS):
        body = {"slug": f"p{n}", "name": f"P{n}", "submission_url": url, "auth_url": "http://93.184.215.14/a"}
        response = crm_client.post("/api/v1/partners/", body, format="json")
        assert response.status_code < 500, (url, response.content[:200])
        if response.status_code != 400:
            accepted.append((url, response.status_code))
        existing = PartnerFactory(slug=f"q{n}", submission_url="http://93.184.215.14/s")
        patched = crm_client.patch(f"/api/v1/partners/{existing.slug}/", {"auth_url": url}, format="json")
        if patched.status_code != 400:
            accepted.append((url, "patch", patched.status_code))
    reliability.record(
        f"SSRF guard: {len(SSRF_URLS)} internal/odd URL spellings on create and patch",
        cases=2 * len(SSRF_URLS),
        leaks=len(accepted),
    )
    assert not accepted


@override_settings(PARTNER_URL_ALLOW_PRIVATE=True)
def test_ssrf_guard_can_be_opened_for_local_partners(crm_client, brand_a):
    body = {
        "slug": "local",
        "name": "Local",
        "submission_url": "http://127.0.0.1:9100/s",
        "auth_url": "http://127.0.0.1:9100/a",
    }
    assert crm_client.post("/api/v1/partners/", body, format="json").status_code == 201


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def all_logs():
    """Every log record of every logger at DEBUG (independent of pytest's logging plugin)."""
    root = logging.getLogger()
    handler, level = _Collect(), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


def test_secrets_and_keys_never_reach_the_logs(crm_client, brand_a, httpserver, all_logs, reliability):
    """Partner create, dispatch and the award webhook with every logger at DEBUG: no secret in any line."""
    secret = make_whsec()
    raw_key = crm_client.api_key
    httpserver.expect_request("/submissions").respond_with_json({"ok": True})
    created = crm_client.post(
        "/api/v1/partners/",
        {
            "slug": "logged",
            "name": "Logged",
            "submission_url": httpserver.url_for("/submissions"),
            "auth_url": httpserver.url_for("/a"),
            "secret": secret,
        },
        format="json",
    )
    assert created.status_code == 201
    connection.set_tenant(brand_a)
    partner = Partner.objects.get(slug="logged")
    campaign = CampaignFactory(partner=partner, status=Campaign.Status.ACTIVE)
    dispatch = make_dispatch(partner=partner, campaign=campaign)
    assert dispatch_send_batch(dispatch_ids=[dispatch.id]).sent == 1
    # A bad signature and a good one: both paths log.
    tampered = post_award(crm_client, "logged", make_whsec(), award_body(campaign.pk))
    assert tampered.status_code == 401
    awarded = post_award(crm_client, "logged", secret, award_body(campaign.pk))
    assert awarded.status_code == 201, awarded.content
    crm_client.patch("/api/v1/partners/logged/", {"secret": make_whsec()}, format="json")
    connection.set_tenant(brand_a)

    needles = [secret, secret.removeprefix("whsec_"), raw_key]
    lines = [f"{record.getMessage()} {record.__dict__}" for record in all_logs.records]
    assert len(lines) > 3  # the actions did log something
    found = [line[:300] for line in lines if any(needle in line for needle in needles)]
    reliability.record("secrets/API keys in logs (partner create, dispatch, award webhook)", leaks=len(found))
    assert not found


def test_api_keys_are_stored_hashed(brand_a, reliability):
    _, key = api_key_create(name="hash probe", role="ingest")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {ApiKey._meta.db_table}")
        rows = cursor.fetchall()
    secret_part = key.split(".", 1)[-1]
    leaked = [row for row in rows if any(secret_part in str(value) for value in row)]
    stored = ApiKey.objects.get(name="hash probe")
    assert stored.hashed_key.startswith("sha512$$")
    assert ApiKey.objects.is_valid(key)
    assert not ApiKey.objects.is_valid(key[:-1] + ("A" if key[-1] != "A" else "B"))
    from rest_framework_api_key import crypto

    assert "constant_time_compare" in crypto.Sha512ApiKeyHasher.verify.__code__.co_names
    reliability.record("API keys stored hashed (SHA-512), constant-time compare", leaks=len(leaked))
    assert not leaked


def test_nul_characters_anywhere_are_4xx_never_500(
    crm_client, make_api_client, campaign_payload, reliability
):
    """PostgreSQL cannot store or compare NUL; found by the fuzzer on the campaign's partner slug."""
    ingest = make_api_client("brand_a", "ingest")
    nul = "X\x00Y"
    campaign = crm_client.post("/api/v1/campaigns/", campaign_payload, format="json").json()
    probes = [
        crm_client.post("/api/v1/campaigns/", campaign_payload | {"partner": nul}, format="json"),
        crm_client.post("/api/v1/campaigns/", campaign_payload | {"name": nul}, format="json"),
        crm_client.get("/api/v1/campaigns/", {"partner": nul, "status": nul}),
        crm_client.get("/api/v1/dispatches/", {"status": nul, "campaign": nul}),
        crm_client.patch(
            f"/api/v1/campaigns/{campaign['id']}/",
            {"reward": {"type": "voucher", "value": "1", "description": nul}},
            format="json",
        ),
        crm_client.post(
            f"/api/v1/campaigns/{campaign['id']}/item-rules/",
            {"kind": "blacklist", "match": "sku", "value": nul},
            format="json",
        ),
        crm_client.post(
            "/api/v1/partners/",
            {
                "slug": "nul",
                "name": nul,
                "submission_url": "http://127.0.0.1/\x00",
                "auth_url": "http://127.0.0.1/",
            },
            format="json",
        ),
        crm_client.get("/api/v1/partners/a%00b/"),
        ingest.get("/api/v1/purchases/a%00b/"),
        ingest.get("/api/v1/customers/a%00b/awards/"),
        ingest.post("/api/v1/purchases/", purchase(1) | {"external_id": nul}, format="json"),
        ingest.post(
            "/api/v1/purchases/",
            purchase(2) | {"items": [{"sku": nul, "category": nul, "quantity": 1, "unit_price": "1"}]},
            format="json",
        ),
        ingest.post(
            "/api/v1/purchases/batch/", {"purchases": [purchase(3) | {"customer_id": nul}]}, format="json"
        ),
        ingest.post(
            f"/api/v1/campaigns/{campaign['id']}/participation-url/", {"customer_id": nul}, format="json"
        ),
        ingest.post(
            "/api/v1/customers/c1/device-tokens/", {"token": nul, "platform": "android"}, format="json"
        ),
    ]
    statuses = [response.status_code for response in probes]
    five_xx = sum(status >= 500 for status in statuses)
    reliability.record("NUL characters in bodies, queries and paths", cases=len(probes), five_xx=five_xx)
    assert five_xx == 0, statuses
