"""Redemptions racing (SPEC §12): 64 threads, each on its own connection, released by one barrier.

The limits are held by one conditional UPDATE per counter and their CheckConstraints: however the
threads interleave, a code is never used more than `max_redemptions` times, nor by one customer more
than `per_customer_limit` times; every loser gets the §12 reason as a 409.
"""

from __future__ import annotations

import threading
from collections import Counter
from decimal import Decimal

from django.db import connections
from django_tenants.utils import schema_context

from campaigns.models import Campaign
from core.exceptions import ConflictError
from promotions.models import CustomerCodeUsage, PromoCode, Redemption
from promotions.services import redemption_create
from promotions.validation import parse_redemption_request
from tests.campaigns.factories import CampaignFactory
from tests.promotions.conftest import redemption_body
from tests.support.committed import in_committed_connection

THREADS = 64
CAMPAIGN_NAME = "Promo race campaign"


def _make_code(**fields) -> str:
    def create() -> str:
        campaign = CampaignFactory(
            name=CAMPAIGN_NAME, kind="promotion", status="active", min_purchase_value=Decimal(0)
        )
        return PromoCode.objects.create(
            campaign=campaign, code=f"RACE{campaign.pk}", benefit={"type": "percent", "value": "10"}, **fields
        ).code

    return in_committed_connection(create, schema="brand_a")


def _race(code: str, customers: list[str], mode: str = "commit") -> list[str]:
    """Every thread redeems once at the barrier; each outcome is 'ok' or the 409's code."""
    outcomes: list[str] = ["" for _ in customers]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(customers))

    def redeem(index: int) -> None:
        try:
            with schema_context("brand_a"):
                request = parse_redemption_request(
                    redemption_body(code, customer_id=customers[index], order_ref=f"race-{index}", mode=mode)
                )
                barrier.wait(timeout=60)
                try:
                    redemption_create(actor="system", idempotency_key=f"race-{code}-{index}", request=request)
                    outcomes[index] = "ok"
                except ConflictError as error:
                    outcomes[index] = error.code
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=redeem, args=(i,)) for i in range(len(customers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return outcomes


def _stored(code: str) -> tuple[PromoCode, list[tuple[str, str]], list[CustomerCodeUsage]]:
    def read():
        promo = PromoCode.objects.get(code=code)
        redemptions = list(Redemption.objects.filter(code=promo).values_list("customer_id", "status"))
        return promo, redemptions, list(CustomerCodeUsage.objects.filter(code=promo))

    return in_committed_connection(read, schema="brand_a")


def _clean_up() -> None:
    def clean():
        Redemption.objects.filter(code__campaign__name=CAMPAIGN_NAME).delete()
        for campaign in Campaign.objects.filter(name=CAMPAIGN_NAME):
            partner = campaign.partner
            campaign.delete()
            if partner is not None:
                partner.delete()

    in_committed_connection(clean, schema="brand_a")


def test_a_single_use_code_is_used_exactly_once(brands, db):
    try:
        code = _make_code(max_redemptions=1)
        outcomes = _race(code, [f"cust-{i}" for i in range(THREADS)])
        assert Counter(outcomes) == {"ok": 1, "code_exhausted": THREADS - 1}
        promo, redemptions, _ = _stored(code)
        assert (promo.redeemed_count, promo.reserved_count) == (1, 0)
        assert [status for _, status in redemptions] == ["committed"]
    finally:
        _clean_up()


def test_per_customer_limit_holds_while_others_share_the_rest(brands, db):
    """32 threads of one customer and 32 distinct customers on a 10-use code limited to 1 per customer."""
    try:
        code = _make_code(max_redemptions=10, per_customer_limit=1)
        customers = ["shared"] * 32 + [f"solo-{i}" for i in range(32)]
        outcomes = _race(code, customers, mode="reserve")
        promo, redemptions, usages = _stored(code)
        by_customer = Counter(customer for customer, _ in redemptions)
        assert by_customer["shared"] == 1
        assert len(redemptions) == outcomes.count("ok") <= 10
        # Losers wait on the code row and see the winners' counts: the ten uses all go, no more.
        assert len(redemptions) == 10
        assert promo.reserved_count == len(redemptions) and promo.redeemed_count == 0
        assert set(outcomes) <= {"ok", "code_exhausted", "customer_limit_reached"}
        # The shared customer's 31 losers are refused by one limit or the other, never let through.
        assert outcomes[:32].count("ok") == 1
        counters = {usage.customer_id: usage.reserved_count for usage in usages}
        assert {c: n for c, n in counters.items() if n} == dict(by_customer)
    finally:
        _clean_up()
