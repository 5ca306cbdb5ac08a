"""The catalogue, purchases and brand shared by bench/pipeline.py and bench/pipeline_steps.py.

The brand `bench_pipeline` (host `bench-pipeline.localhost`): 10 active campaigns, each with 1,000
blacklisted and 1,000 whitelisted SKUs, and one partner. `prepare_brand()` migrates and (re)creates
it; `make_purchase()` draws purchases whose expected eligibility is known.
"""

from __future__ import annotations

import random
import time
from datetime import timedelta

SCHEMA = "bench_pipeline"
DOMAIN = "bench-pipeline.localhost"
CAMPAIGNS = 10
SKUS_PER_FAMILY = 100
WHITELIST_PROMO = 950  # whitelisted SKUs never sold here: the rule tables are full size
MIN_VALUE = "30.00"
EXCLUDED_FAMILY = "X"  # blacklisted by every campaign (gift cards, tobacco…)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- the catalogue and the purchases


def family_sku(family: int | str, n: int) -> str:
    return f"F{family}-{n:03d}"


def make_purchase(rng: random.Random, external_id: str, purchased_at: str) -> tuple[dict, int | None]:
    """A purchase and the campaign index it must be eligible for (None: eligible for none).

    Campaign k blacklists every family but its own (and X), so a purchase of
    family-k goods counts for k only: 20 % are family-k purchases over the
    minimum (eligible for k), 40 % family-k purchases under it (below_minimum
    for k), 40 % X goods only (no_eligible_items everywhere).
    """
    kind = rng.random()
    k = rng.randrange(CAMPAIGNS)
    lines: list[dict] = []
    expected: int | None = None
    if kind < 0.2:
        expected = k
        lines.append(
            {
                "sku": family_sku(k, rng.randrange(SKUS_PER_FAMILY)),
                "category": f"cat-{k}",
                "quantity": rng.randint(1, 3),
                "unit_price": f"{rng.randint(30, 90)}.{rng.randrange(100):02d}",
            }
        )
        for _ in range(rng.randint(0, 9)):
            family = k if rng.random() < 0.5 else EXCLUDED_FAMILY
            lines.append(
                {
                    "sku": family_sku(family, rng.randrange(SKUS_PER_FAMILY)),
                    "category": f"cat-{family}",
                    "quantity": rng.randint(1, 4),
                    "unit_price": f"{rng.randint(1, 40)}.{rng.randrange(100):02d}",
                }
            )
    elif kind < 0.6:
        # Non-whitelisted family-k goods (n ≥ 50) worth at most 5 × 5.00 < 30.00.
        for _ in range(rng.randint(1, 5)):
            lines.append(
                {
                    "sku": family_sku(k, rng.randrange(50, SKUS_PER_FAMILY)),
                    "category": f"cat-{k}",
                    "quantity": 1,
                    "unit_price": f"{rng.randint(0, 4)}.{rng.randrange(100):02d}",
                }
            )
    else:
        for _ in range(rng.randint(1, 10)):
            lines.append(
                {
                    "sku": family_sku(EXCLUDED_FAMILY, rng.randrange(SKUS_PER_FAMILY)),
                    "quantity": rng.randint(1, 5),
                    "unit_price": f"{rng.randint(1, 200)}.{rng.randrange(100):02d}",
                }
            )
    purchase = {
        "external_id": external_id,
        "customer_id": f"cust-{rng.randrange(100_000)}",
        "channel": "in_store" if rng.random() < 0.6 else "ecommerce",
        "purchased_at": purchased_at,
        "currency": "EUR",
        "store_id": f"store-{rng.randrange(200)}",
        "items": lines,
    }
    return purchase, expected


# --- setup


def prepare_brand(partner_port: int) -> None:
    """Migrate, create or reuse the brand, and replace its data: one partner on `partner_port`."""
    from _app import TABLES, partner_create
    from _brand import brand_ready
    from django.db import connection
    from django.utils import timezone
    from django_tenants.utils import schema_context

    from campaigns.models import Campaign, ItemRule

    log("migrating and preparing the bench brand")
    brand_ready(SCHEMA, "Pipeline bench", DOMAIN)
    with schema_context(SCHEMA):
        with connection.cursor() as cursor:
            tables = [
                "purchases_evaluation",
                TABLES.attempt,
                TABLES.dispatch,
                "purchases_purchase",
                "outbox_outboxmessage",
                "campaigns_itemrule",
                "campaigns_campaigntransition",
                "campaigns_campaign",
                TABLES.partner,
            ]
            cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        partner = partner_create(base_url=f"http://127.0.0.1:{partner_port}")
        now = timezone.now()
        rules: list[ItemRule] = []
        for k in range(CAMPAIGNS):
            campaign = Campaign.objects.create(
                name=f"Bench campaign {k}",
                kind="custom",
                status="active",
                starts_at=now - timedelta(days=1),
                ends_at=now + timedelta(days=30),
                purchase_channels=["in_store", "ecommerce"],
                currency="EUR",
                min_purchase_value=MIN_VALUE,
                partner=partner,
            )
            blacklisted = [
                family_sku(f, n)
                for f in [*(f for f in range(CAMPAIGNS) if f != k), EXCLUDED_FAMILY]
                for n in range(SKUS_PER_FAMILY)
            ]
            whitelisted = [family_sku(k, n) for n in range(50)] + [
                f"W{k}-{n:03d}" for n in range(WHITELIST_PROMO)
            ]
            rules += [
                ItemRule(campaign=campaign, kind="blacklist", match="sku", value=v) for v in blacklisted
            ]
            rules += [
                ItemRule(
                    campaign=campaign,
                    kind="whitelist",
                    match="sku",
                    value=v,
                    multiplier="1.5",
                    bonus_per_unit="0.25",
                )
                for v in whitelisted
            ]
        ItemRule.objects.bulk_create(rules, batch_size=5000)
        counts = {kind: ItemRule.objects.filter(kind=kind).count() for kind in ("blacklist", "whitelist")}
    log(
        f"{CAMPAIGNS} active campaigns, {counts['blacklist']} blacklist"
        f" + {counts['whitelist']} whitelist rules"
    )
