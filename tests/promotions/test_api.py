"""The promo code API (SPEC §12): validate, reserve / commit / rollback, idempotency, reasons in order."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from core.models import AuditEvent
from promotions.models import CustomerCodeUsage, PromoCode, Redemption
from promotions.services import redemptions_expire
from tests.campaigns.factories import ItemRuleFactory
from tests.promotions.conftest import DEFAULT_ORDER, new_key, order, redemption_body
from tests.promotions.factories import PromoCodeFactory

pytestmark = pytest.mark.django_db


def validate(client, code: str, customer_id: str = "cust-1", body_order=None):
    return client.post(
        "/api/v1/codes/validate/",
        {"code": code, "customer_id": customer_id, "order": body_order or DEFAULT_ORDER},
        format="json",
    )


def redeem(client, body, key=None):
    return client.post("/api/v1/redemptions/", body, format="json", HTTP_IDEMPOTENCY_KEY=key or new_key())


def test_validate_gives_the_discount_without_side_effect(ingest_client):
    code = PromoCodeFactory(code="Summer10")
    response = validate(ingest_client, "summer10")
    assert response.status_code == 200, response.content
    assert response.json() == {"valid": True, "discount": "6.00"}
    code.refresh_from_db()
    assert (code.redeemed_count, code.reserved_count) == (0, 0)
    assert not Redemption.objects.exists()


def test_unknown_code(ingest_client):
    assert validate(ingest_client, "NOPE").json() == {
        "valid": False,
        "reason": "code_not_found",
        "discount": "0.00",
    }


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"active": False}, "code_inactive"),
        ({"valid_until": timedelta(days=-1)}, "code_expired"),
        ({"valid_from": timedelta(days=1)}, "code_not_started"),
        ({"redeemed_count": 1}, "code_exhausted"),
        ({"min_order_value": Decimal("100")}, "below_minimum"),
    ],
)
def test_reasons(ingest_client, fields, reason):
    # Times are offsets from the test's own now: the parameters are built at collection time.
    fields = {k: timezone.now() + v if isinstance(v, timedelta) else v for k, v in fields.items()}
    code = PromoCodeFactory(**fields)
    assert validate(ingest_client, code.code).json()["reason"] == reason


def test_reasons_come_in_the_spec_order(ingest_client):
    # inactive AND expired AND exhausted: the first of the list wins.
    code = PromoCodeFactory(active=False, valid_until=timezone.now() - timedelta(days=1), redeemed_count=1)
    assert validate(ingest_client, code.code).json()["reason"] == "code_inactive"
    PromoCode.objects.filter(pk=code.pk).update(active=True)
    assert validate(ingest_client, code.code).json()["reason"] == "code_expired"
    # below the minimum and campaign paused: below_minimum comes first.
    other = PromoCodeFactory(min_order_value=Decimal("1000"), campaign__status="paused")
    assert validate(ingest_client, other.code).json()["reason"] == "below_minimum"
    PromoCode.objects.filter(pk=other.pk).update(min_order_value=None)
    assert validate(ingest_client, other.code).json()["reason"] == "campaign_not_active"


def test_customer_limit_and_eligibility(ingest_client):
    code = PromoCodeFactory(max_redemptions=None, per_customer_limit=1)
    assert redeem(ingest_client, redemption_body(code.code, mode="commit")).status_code == 201
    assert validate(ingest_client, code.code).json()["reason"] == "customer_limit_reached"
    assert validate(ingest_client, code.code, customer_id="cust-2").json()["valid"] is True
    targeted = PromoCodeFactory(campaign__eligibility={"attr": "country", "op": "eq", "value": "PT"})
    assert validate(ingest_client, targeted.code).json()["reason"] == "customer_not_eligible"


def test_blacklisted_lines_get_no_discount(ingest_client):
    code = PromoCodeFactory(benefit={"type": "percent", "value": "50"})
    ItemRuleFactory(campaign=code.campaign, kind="blacklist", match="category", value="toys")
    assert validate(ingest_client, code.code).json()["discount"] == "10.00"  # only SKU-B (20.00) counts
    only_toys = order(("SKU-A", "toys", 1, "20.00"))
    assert validate(ingest_client, code.code, body_order=only_toys).json()["reason"] == "below_minimum"


def test_fixed_free_item_and_max_discount(ingest_client):
    fixed = PromoCodeFactory(benefit={"type": "fixed", "value": "100", "max_discount": "15"})
    assert validate(ingest_client, fixed.code).json()["discount"] == "15.00"
    free = PromoCodeFactory(benefit={"type": "free_item", "sku": "SKU-B"})
    assert validate(ingest_client, free.code).json()["discount"] == "20.00"
    percent = PromoCodeFactory(benefit={"type": "percent", "value": "12.5"})
    # 60.00 × 12.5 % = 7.50; 0.125 rounds half up
    assert (
        validate(ingest_client, percent.code, body_order=order(("X", None, 1, "1.00"))).json()["discount"]
        == "0.13"
    )
    assert validate(ingest_client, percent.code).json()["discount"] == "7.50"


def test_currency_mismatch_is_400(ingest_client):
    code = PromoCodeFactory()
    response = validate(ingest_client, code.code, body_order=order(("A", None, 1, "5"), currency="USD"))
    assert response.status_code == 400
    assert "order" in response.json()["error"]["fields"]


def test_bad_bodies_are_400(ingest_client):
    for body in ({}, [], {"code": "X", "customer_id": "c", "order": {"currency": "EUR", "items": []}}):
        assert ingest_client.post("/api/v1/codes/validate/", body, format="json").status_code == 400


def test_reserve_commit_and_rollback(ingest_client):
    code = PromoCodeFactory(max_redemptions=2, per_customer_limit=2)
    response = redeem(ingest_client, redemption_body(code.code))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "reserved" and body["discount"] == "6.00" and body["expires_at"]
    code.refresh_from_db()
    assert (code.redeemed_count, code.reserved_count) == (0, 1)
    committed = ingest_client.post(f"/api/v1/redemptions/{body['id']}/commit/")
    assert committed.status_code == 200 and committed.json()["status"] == "committed"
    code.refresh_from_db()
    assert (code.redeemed_count, code.reserved_count) == (1, 0)
    rolled = ingest_client.post(
        f"/api/v1/redemptions/{body['id']}/rollback/", {"reason": "refund"}, format="json"
    )
    assert rolled.status_code == 200 and rolled.json()["status"] == "rolled_back"
    code.refresh_from_db()
    assert (code.redeemed_count, code.reserved_count) == (0, 0)
    usage = CustomerCodeUsage.objects.get(code=code)
    assert (usage.redeemed_count, usage.reserved_count) == (0, 0)
    again = ingest_client.post(f"/api/v1/redemptions/{body['id']}/rollback/", {}, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "redemption_settled"
    actions = list(
        AuditEvent.objects.filter(action__startswith="redemption.", object_id=str(body["id"])).values_list(
            "action", flat=True
        )
    )
    assert sorted(actions) == ["redemption.committed", "redemption.reserved", "redemption.rolled_back"]


def test_exhausted_code_is_409_with_the_reason(ingest_client):
    code = PromoCodeFactory()
    assert redeem(ingest_client, redemption_body(code.code, mode="commit")).status_code == 201
    response = redeem(ingest_client, redemption_body(code.code, customer_id="other"))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "code_exhausted"


def test_idempotency_key(ingest_client):
    code = PromoCodeFactory(max_redemptions=5)
    missing = ingest_client.post("/api/v1/redemptions/", redemption_body(code.code), format="json")
    assert missing.status_code == 400
    key = new_key()
    first = redeem(ingest_client, redemption_body(code.code), key)
    second = redeem(ingest_client, redemption_body(code.code), key)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    code.refresh_from_db()
    assert code.reserved_count == 1
    other = redeem(ingest_client, redemption_body(code.code, order_ref="another"), key)
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_conflict"


def test_ttl_bounds(ingest_client):
    code = PromoCodeFactory(max_redemptions=5)
    assert redeem(ingest_client, redemption_body(code.code, ttl_seconds=3601)).status_code == 400
    assert redeem(ingest_client, redemption_body(code.code, ttl_seconds=0)).status_code == 400
    ok = redeem(ingest_client, redemption_body(code.code, ttl_seconds=60)).json()
    redemption = Redemption.objects.get(pk=ok["id"])
    assert timedelta(seconds=55) < redemption.expires_at - redemption.created_at <= timedelta(seconds=61)


def test_expired_reservations_are_released_and_cannot_commit(ingest_client):
    code = PromoCodeFactory(per_customer_limit=1)
    body = redeem(ingest_client, redemption_body(code.code, ttl_seconds=1)).json()
    assert redemptions_expire(now=timezone.now() + timedelta(seconds=5)) == 1
    code.refresh_from_db()
    assert code.reserved_count == 0
    assert CustomerCodeUsage.objects.get(code=code).reserved_count == 0
    assert Redemption.objects.get(pk=body["id"]).status == "expired"
    response = ingest_client.post(f"/api/v1/redemptions/{body['id']}/commit/")
    assert response.status_code == 409 and response.json()["error"]["code"] == "reservation_expired"
    # The use is back: someone else may take it.
    assert redeem(ingest_client, redemption_body(code.code, customer_id="c2")).status_code == 201


def test_roles(crm_client, ingest_client):
    code = PromoCodeFactory()
    assert validate(crm_client, code.code).status_code == 403
    assert ingest_client.get("/api/v1/codes/").status_code == 403
