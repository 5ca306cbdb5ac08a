"""Partner endpoints (SPEC §2): write-only secret shown once, SSRF guard, slug identity, roles."""

from __future__ import annotations

import base64

import pytest
from django.test import override_settings

from core.http.url_guard import UnsafeUrlError, assert_url_allowed
from partners.models import Partner
from partners.services import partner_secret_generate
from tests.partners.factories import PartnerFactory, make_whsec

URL = "/api/v1/partners/"
PUBLIC_IP_URL = "https://93.184.215.14/submit"  # a literal public address: no DNS needed


def body(**overrides):
    return {
        "slug": "acme",
        "name": "Acme Rewards",
        "submission_url": "http://127.0.0.1:8081/submissions",
        "auth_url": "http://127.0.0.1:8081/participate",
        **overrides,
    }


def test_create_generates_a_secret_and_shows_it_once(crm_client, brand_a):
    response = crm_client.post(URL, body(), format="json")
    assert response.status_code == 201, response.json()
    created = response.json()
    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert Partner.objects.get(slug="acme").secret == secret
    assert created["max_attempts"] == 8
    assert created["is_active"] is True

    assert "secret" not in crm_client.get(f"{URL}acme/").json()
    assert all("secret" not in p for p in crm_client.get(URL).json()["results"])
    patched = crm_client.patch(f"{URL}acme/", {"name": "Acme"}, format="json").json()
    assert "secret" not in patched


def test_a_secret_given_by_the_caller_is_never_returned(crm_client, brand_a):
    secret = make_whsec()
    response = crm_client.post(URL, body(secret=secret), format="json")
    assert response.status_code == 201
    assert "secret" not in response.json()
    assert Partner.objects.get(slug="acme").secret == secret


@pytest.mark.parametrize(
    "secret",
    ["plain-password", "whsec_not*base64", "whsec_" + base64.b64encode(b"short").decode()],
)
def test_bad_secret_is_a_400(crm_client, brand_a, secret):
    response = crm_client.post(URL, body(secret=secret), format="json")
    assert response.status_code == 400
    assert "secret" in response.json()["error"]["fields"]


def test_patch_rotates_the_secret_keeping_the_previous_one(crm_client, brand_a):
    partner = PartnerFactory(slug="acme")
    old = partner.secret
    new = make_whsec()
    response = crm_client.patch(f"{URL}acme/", {"secret": new, "max_attempts": 3}, format="json")
    assert response.status_code == 200
    assert "secret" not in response.json()
    assert response.json()["max_attempts"] == 3
    partner.refresh_from_db()
    assert partner.secret == new
    assert partner.previous_secret == old
    assert partner.previous_secret_valid_until is not None


def test_slug_is_unique_and_cannot_change(crm_client, brand_a):
    PartnerFactory(slug="acme")
    again = crm_client.post(URL, body(), format="json")
    assert again.status_code == 400
    assert "slug" in again.json()["error"]["fields"]
    renamed = crm_client.patch(f"{URL}acme/", {"slug": "other"}, format="json")
    assert renamed.status_code == 400
    assert "slug" in renamed.json()["error"]["fields"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"slug": "Not a slug!"}, "slug"),
        ({"name": ""}, "name"),
        ({"submission_url": "ftp://example.org/x"}, "submission_url"),
        ({"auth_url": "not a url"}, "auth_url"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
        ({"timeout_seconds": 121}, "timeout_seconds"),
        ({"max_attempts": 0}, "max_attempts"),
    ],
)
def test_invalid_partner_field_is_a_400(crm_client, brand_a, change, field):
    response = crm_client.post(URL, body(**change), format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


@override_settings(PARTNER_URL_ALLOW_PRIVATE=False)
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/x",
        "http://localhost/x",
        "http://10.1.2.3/x",
        "http://192.168.0.10/x",
        "http://172.16.5.4/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/x",
        "http://[fe80::1]/x",
        "http://[::ffff:127.0.0.1]/x",
        "http://0.0.0.0/x",
        "http://100.64.0.1/x",
        "http://no-such-host.invalid/x",
    ],
)
def test_private_and_unresolvable_urls_are_rejected(crm_client, brand_a, url):
    response = crm_client.post(URL, body(submission_url=url, auth_url=PUBLIC_IP_URL), format="json")
    assert response.status_code == 400, url
    assert "submission_url" in response.json()["error"]["fields"]
    assert not Partner.objects.exists()


@override_settings(PARTNER_URL_ALLOW_PRIVATE=False)
def test_public_url_is_accepted_and_patch_is_guarded_too(crm_client, brand_a):
    response = crm_client.post(URL, body(submission_url=PUBLIC_IP_URL, auth_url=PUBLIC_IP_URL), format="json")
    assert response.status_code == 201, response.json()
    patched = crm_client.patch(f"{URL}acme/", {"auth_url": "http://169.254.169.254/"}, format="json")
    assert patched.status_code == 400
    assert "auth_url" in patched.json()["error"]["fields"]


def test_guard_checks_every_address_a_name_resolves_to(monkeypatch):
    import socket

    def fake_getaddrinfo(host, port, type=0):
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(UnsafeUrlError, match="private"):
        assert_url_allowed("https://mixed.example/x", allow_private=False)
    assert_url_allowed("https://mixed.example/x", allow_private=True)  # dev/test switch


def test_guard_refuses_credentials_and_other_schemes():
    for url in ("file:///etc/passwd", "gopher://x/", "http://user:pw@93.184.215.14/"):
        with pytest.raises(UnsafeUrlError):
            assert_url_allowed(url, allow_private=True)


def test_roles_and_404(make_api_client, tenant_client, brand_a):
    ingest = make_api_client("brand_a", "ingest")
    assert ingest.get(URL).status_code == 403
    assert ingest.post(URL, body(), format="json").status_code == 403
    assert tenant_client.get(URL).status_code == 401
    crm = make_api_client("brand_a", "crm")
    assert crm.get(f"{URL}nobody/").status_code == 404


def test_partners_are_per_brand(make_api_client, brand_a):
    PartnerFactory(slug="acme")
    client_b = make_api_client("brand_b", "crm")
    assert client_b.get(f"{URL}acme/").status_code == 404
    assert client_b.post(URL, body(), format="json").status_code == 201


def test_generated_secrets_differ():
    assert partner_secret_generate() != partner_secret_generate()


def test_openapi_documents_the_secret_as_write_only(crm_client):
    schemas = crm_client.get("/api/schema/", {"format": "json"}).json()["components"]["schemas"]
    assert "secret" in schemas["PartnerRequest"]["properties"]
    assert "secret" not in schemas["Partner"]["properties"]
    assert "secret" in schemas["PartnerCreated"]["properties"]
