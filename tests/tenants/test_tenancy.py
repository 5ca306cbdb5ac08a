"""Schema-per-brand isolation, host routing and onboarding."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django_tenants.utils import tenant_context

from accounts.models import ApiKey
from accounts.services import api_key_create
from tenants.models import Brand, Domain


def test_a_row_created_in_brand_a_is_invisible_from_brand_b(brand_a, brand_b):
    api_key, _ = api_key_create(name="only-in-a", role="crm")
    assert ApiKey.objects.filter(pk=api_key.pk).exists()
    with tenant_context(brand_b):
        assert not ApiKey.objects.filter(name="only-in-a").exists()
        assert connection.schema_name == "brand_b"
    assert ApiKey.objects.filter(name="only-in-a").count() == 1


def test_api_answers_with_the_brand_of_the_host(make_api_client):
    client_a = make_api_client("brand_a", "crm")
    client_b = make_api_client("brand_b", "ingest")
    assert client_a.get("/api/v1/me/").json() == {"tenant": "brand_a", "role": "crm", "name": "test crm"}
    assert client_b.get("/api/v1/me/").json() == {
        "tenant": "brand_b",
        "role": "ingest",
        "name": "test ingest",
    }


def test_a_key_of_brand_b_on_brand_a_host_is_401(make_api_client):
    key_of_b = make_api_client("brand_b", "crm").api_key
    client = make_api_client("brand_a", "crm")
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_of_b}")
    response = client.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"
    assert "brand_b" not in response.content.decode()


def test_missing_and_malformed_keys_are_401_in_the_error_shape(tenant_client):
    response = tenant_client.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Api-Key"
    tenant_client.credentials(HTTP_AUTHORIZATION="Api-Key not-a-key")
    assert tenant_client.get("/api/v1/me/").status_code == 401


def test_a_revoked_key_is_401(brand_a, make_api_client):
    client = make_api_client("brand_a", "crm")
    ApiKey.objects.filter(name="test crm").update(revoked=True)
    assert client.get("/api/v1/me/").status_code == 401


def test_unknown_host_is_json_404(brands, db, client):
    response = client.get("/api/v1/me/", HTTP_HOST="brand-zz.localhost")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_host"


def test_public_host_serves_the_platform_admin_not_the_api(brands, db, client):
    assert client.get("/api/v1/me/", HTTP_HOST="localhost").status_code == 404
    response = client.get("/admin/login/", HTTP_HOST="localhost")
    assert response.status_code == 200


def test_tenant_host_serves_brand_admin_and_api_docs(brand_a, client):
    assert client.get("/admin/login/", HTTP_HOST="brand-a.localhost").status_code == 200
    docs = client.get("/api/docs/", HTTP_HOST="brand-a.localhost")
    assert docs.status_code == 200
    schema = client.get("/api/schema/", HTTP_HOST="brand-a.localhost", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    assert "/api/v1/me/" in schema.json()["paths"]


def test_create_brand_twice_is_harmless(brands, db, capsys):
    args = ["--schema", "brand_a", "--name", "Brand A", "--domain", "brand-a.localhost"]
    call_command("create_brand", *args)
    call_command("create_brand", *args)
    assert "already exists, unchanged" in capsys.readouterr().out
    assert Brand.objects.filter(schema_name="brand_a").count() == 1
    assert Domain.objects.filter(domain="brand-a.localhost").count() == 1


@pytest.mark.parametrize(
    "args",
    [
        ["--schema", "brand_a", "--name", "Another name", "--domain", "brand-a.localhost"],
        ["--schema", "brand_zz", "--name", "Brand ZZ", "--domain", "brand-b.localhost"],
        ["--schema", "brand_a", "--name", "Brand A", "--domain", "other.localhost"],
        ["--schema", "public", "--name", "Platform", "--domain", "x.localhost"],
    ],
)
def test_create_brand_clash_is_a_clear_error(brands, db, args):
    with pytest.raises(CommandError):
        call_command("create_brand", *args)
    assert not Brand.objects.filter(schema_name="brand_zz").exists()


def test_create_api_key_prints_the_key_alone_on_the_last_line(brands, db, capsys):
    call_command("create_api_key", "--schema", "brand_a", "--role", "ingest", "--name", "mobile")
    key = capsys.readouterr().out.strip().splitlines()[-1]
    with tenant_context(brands["brand_a"]):
        stored = ApiKey.objects.get(name="mobile")
        assert stored.role == "ingest"
        assert key not in (stored.hashed_key, stored.id)  # only the hash is kept
        assert ApiKey.objects.get_from_key(key) == stored


def test_create_api_key_for_unknown_schema_fails(brands, db):
    with pytest.raises(CommandError):
        call_command("create_api_key", "--schema", "nope", "--role", "crm", "--name", "x")
