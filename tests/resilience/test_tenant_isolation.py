"""Tenant isolation matrix: every tenant endpoint, the other brand's identifiers, every role.

The endpoints come from the served OpenAPI document (drf-spectacular walks the
tenant URLconf), so a new endpoint joins the matrix without touching this file.
For each (direction, operation, role) the path parameters are filled with the
*other* brand's ids, external ids, slugs, customer ids and tokens, and the
request goes to the *target* brand's host. The answer must be 401/403/404 (or
an empty/own-data answer for endpoints keyed by a customer id, which is not a
secret), and no body may contain any marker of the other brand.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone
from django_tenants.utils import tenant_context
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from accounts.services import api_key_create
from analytics.services import AllocationRequest, budget_allocation_create
from awards.models import Award
from campaigns.budgets import budget_reserve, budget_set
from campaigns.models import Campaign
from content.models import ContentSettings
from content.services import drafts_generate
from customers.models import Customer, CustomerStats, Segment, SegmentMember
from experiments.services import VariantSpec, experiment_create
from journeys.services import journey_activate, journey_create, journey_enroll
from notifications.models import (
    CampaignMessage,
    DeviceToken,
    Message,
    Notification,
    Preference,
    Suppression,
)
from outbox.models import DomainEvent
from promotions.models import CodeBatch, CustomerCodeUsage, Job, PromoCode, Redemption
from tests.campaigns.factories import CampaignFactory, ItemRuleFactory
from tests.dispatches.factories import make_dispatch
from tests.partners.factories import PartnerFactory, make_whsec
from webhooks.models import WebhookDelivery, WebhookEndpoint

HOSTS = {"brand_a": "brand-a.localhost", "brand_b": "brand-b.localhost"}
ROLES = ("crm", "ingest", "none", "other_brand_key")
# A customer id is the sender's reference, not a secret of a brand: the target brand may
# answer 200 with ITS OWN (here: no) awards; it must never answer with the other brand's.
CUSTOMER_KEYED = re.compile(r"^/api/v1/customers/")


def tenant_operations() -> list[tuple[str, str]]:
    schema = SchemaGenerator(urlconf="config.urls_tenant").get_schema(request=None, public=True)
    return [
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        if path.startswith("/api/v1/")
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    ]


OPERATIONS = tenant_operations()


def seed_brand(brand, tag: str) -> dict[str, str]:
    """Rows of every kind in `brand`, each carrying a unique marker; returns path values + markers."""
    with tenant_context(brand):
        partner = PartnerFactory(
            slug=f"partner-{tag}",
            name=f"Partner {tag}",
        )
        campaign = CampaignFactory(name=f"Campaign {tag}", partner=partner, status=Campaign.Status.ACTIVE)
        rule = ItemRuleFactory(campaign=campaign, value=f"SKU-{tag}")
        budget_set(campaign_id=campaign.pk, actor="user:seed", kind="count", limit=Decimal(1000))
        budget_reserve(campaign_id=campaign.pk, amount=Decimal(1), ref=f"ledger-{tag}")
        dispatch = make_dispatch(partner=partner, campaign=campaign)
        purchase = dispatch.purchase
        purchase.external_id = f"order-{tag}"
        purchase.customer_id = f"customer-{tag}"
        purchase.save(update_fields=["external_id", "customer_id"])
        award = Award.objects.create(
            partner=partner,
            award_id=f"award-{tag}",
            campaign=campaign,
            customer_id=f"customer-{tag}",
            reward_type="voucher",
            voucher_code=f"VOUCHER-{tag}",
            webhook_id=f"msg-{tag}",
        )
        notification = Notification.objects.create(
            customer_id=f"customer-{tag}", campaign=campaign, award=award, provider="console", title=tag
        )
        DeviceToken.objects.create(customer_id=f"customer-{tag}", token=f"device-{tag}")
        customer = Customer.objects.create(customer_id=f"customer-{tag}", email=f"{tag}@example.test")
        CustomerStats.objects.create(customer=customer)
        segment = Segment.objects.create(name=f"Segment {tag}", kind="static")
        SegmentMember.objects.create(segment=segment, customer=customer)
        endpoint = WebhookEndpoint.objects.create(
            url=f"https://hooks.example/{tag}", event_types=["award.created"], secret=make_whsec()
        )
        event = DomainEvent.objects.create(
            event_type="award.created", data={"tag": tag}, occurred_at=timezone.now()
        )
        delivery = WebhookDelivery.objects.create(endpoint=endpoint, event=event, event_type="award.created")
        # Messages (SPEC §14): an inbox message, a suppression (an explicit id per brand, so the other
        # brand's id never names the target's own row), a preference.
        inbox = Message.objects.create(
            customer_id=f"customer-{tag}", channel="in_app", status="delivered", subject=f"Inbox {tag}"
        )
        suppression = Suppression.objects.create(
            id=900_001 if "x9q" in tag else 900_002, channel="email", address=f"suppressed-{tag}@example.test"
        )
        broadcast = CampaignMessage.objects.create(
            campaign=campaign, name=f"Broadcast {tag}", first_channel="in_app", in_app_body=f"Body {tag}"
        )
        Preference.objects.create(
            customer_id=f"customer-{tag}", channel="email", topic=f"topic-{tag}", opted_in=True
        )
        # A budget allocation (SPEC §17) over a campaign with a spend budget of its own.
        allocated = CampaignFactory(name=f"Allocated {tag}", partner=partner, status=Campaign.Status.ACTIVE)
        budget_set(campaign_id=allocated.pk, actor="user:seed", kind="spend", limit=Decimal(300))
        experiment = experiment_create(
            campaign=campaign, actor="system", name=f"Experiment {tag}",
            variants=[VariantSpec(f"A-{tag}"), VariantSpec(f"B-{tag}")],
        )  # fmt: skip
        allocation = budget_allocation_create(
            actor="user:seed", total=Decimal(700), campaigns=[AllocationRequest(allocated.pk)]
        )
        # Promo codes (SPEC §12): a code, a reservation of it, a generation job.
        promo_code = PromoCode.objects.create(
            campaign=campaign, code=f"PROMO-{tag}", max_redemptions=5, reserved_count=1,
            benefit={"type": "percent", "value": "10"},
        )  # fmt: skip
        redemption = Redemption.objects.create(
            code=promo_code, customer_id=f"customer-{tag}", order_ref=f"promo-order-{tag}", status="reserved",
            currency="EUR", idempotency_key=f"idem-{tag}", body_hash="0" * 64,
            expires_at=timezone.now() + timedelta(minutes=15),
        )  # fmt: skip
        CustomerCodeUsage.objects.create(
            code=promo_code, customer_id=f"customer-{tag}", reserved_count=1, usage_limit=5
        )
        job = Job.objects.create(kind=Job.Kind.GENERATE_CODES, total=10, error=f"job-{tag}")
        CodeBatch.objects.create(
            campaign=campaign,
            count=1,
            pattern=f"PROMO-{tag}",
            benefit={"type": "percent", "value": "10"},
            job=job,
        )
        ContentSettings.objects.get_or_create(singleton=True, defaults={"blocked_terms": f"blocked-{tag}"})
        draft = drafts_generate(
            channel="push", brief=f"Brief {tag}", facts={"product": f"Product {tag}"}, actor="system"
        ).drafts.get()
        journey = journey_create(
            data={
                "name": f"Journey {tag}",
                "entry": {"event": f"signup-{tag}"},
                "steps": [
                    {"key": "hello", "kind": "send", "channel": "in_app", "body_text": f"Journey body {tag}"}
                ],
            },
            actor="system",
        )
        journey_activate(journey_id=journey.pk, actor="system")
        journey_enroll(journey_id=journey.pk, customer_id=f"customer-{tag}", actor="system")
        _, crm_key = api_key_create(name=f"crm {tag}", role="crm")
        values = {
            "campaign_id": str(campaign.pk),
            "rule_id": str(rule.pk),
            "slug": partner.slug,
            "external_id": purchase.external_id,
            "customer_id": purchase.customer_id,
            "dispatch_id": str(dispatch.pk),
            "notification_id": str(notification.pk),
            "token": f"device-{tag}",
            "segment_id": str(segment.pk),
            "endpoint_id": str(endpoint.pk),
            "delivery_id": str(delivery.pk),
            "message_id": str(inbox.pk),
            "suppression_id": str(suppression.pk),
            "mid": str(broadcast.pk),
            "experiment_id": str(experiment.pk),
            "allocation_id": str(allocation.pk),
            "job_id": str(job.pk),
            "redemption_id": str(redemption.pk),
            "draft_id": str(draft.pk),
            "journey_id": str(journey.pk),
        }
        markers = [
            f"Campaign {tag}",
            f"Partner {tag}",
            f"SKU-{tag}",
            f"order-{tag}",
            f"VOUCHER-{tag}",
            f"award-{tag}",
            f"Segment {tag}",
            f"Inbox {tag}",
            f"Body {tag}",
            f"suppressed-{tag}@example.test",
            f"topic-{tag}",
            f"ledger-{tag}",
            f"Experiment {tag}",
            f"Allocated {tag}",
            f"Journey {tag}",
            f"Journey body {tag}",
            f"signup-{tag}",
            f"A-{tag}",
            f"Product {tag}",
            draft.prompt_hash,
            f"{tag}@example.test",
            f"PROMO-{tag}",
            f"promo-order-{tag}",
            f"job-{tag}",
            str(dispatch.pk),
            str(notification.pk),
            partner.secret,
            endpoint.url,
            endpoint.secret,
            str(delivery.pk),
            crm_key,
        ]
    return {"values": values, "markers": markers, "crm_key": crm_key}


def _sequences_apart(brand) -> None:
    """Move every id sequence of `brand` past 100,000: on a fresh test database both brands would
    otherwise hand out the same ids, and the target's own row would answer for the other's id."""
    with tenant_context(brand), connection.cursor() as cursor:
        cursor.execute(
            "SELECT setval(c.oid, GREATEST(100000, (SELECT last_value FROM pg_sequences s WHERE"
            " s.schemaname = n.nspname AND s.sequencename = c.relname) + 1)) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'S' AND n.nspname = %s",
            [brand.schema_name],
        )


def client_for(target, role: str, other_key: str) -> APIClient:
    client = APIClient(HTTP_HOST=HOSTS[target.schema_name])
    key = None
    if role in {"crm", "ingest"}:
        with tenant_context(target):
            _, key = api_key_create(name=f"probe {role}", role=role)
    elif role == "other_brand_key":
        key = other_key
    if key:
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


PROBE_BODIES = {
    "POST": {"customer_id": "x", "purchases": [], "token": "t", "platform": "android"},
    "PUT": {"name": "probe"},
    "PATCH": {"name": "probe"},
}


@pytest.mark.parametrize(("target_schema", "other_schema"), [("brand_a", "brand_b"), ("brand_b", "brand_a")])
def test_no_endpoint_answers_with_the_other_brands_data(brands, db, target_schema, other_schema, reliability):
    target, other = brands[target_schema], brands[other_schema]
    seeded = seed_brand(other, tag=f"{other_schema}-x9q")
    _sequences_apart(target)  # the target's own ids must not equal the other brand's by coincidence
    seed_brand(target, tag=f"{target_schema}-own")  # the target has rows too
    clients = {role: client_for(target, role, seeded["crm_key"]) for role in ROLES}
    leaks, five_xx, cases, wrong = [], 0, 0, []
    for method, path in OPERATIONS:
        concrete = re.sub(r"\{(\w+)\}", lambda m: seeded["values"][m.group(1)], path)
        has_ids = concrete != path
        for role, client in clients.items():
            body = PROBE_BODIES.get(method)
            response = getattr(client, method.lower())(concrete, body, format="json")
            connection.set_schema_to_public()
            cases += 1
            text = response.content.decode(errors="replace")
            # Echoing what the client itself sent (a 404 naming the id asked for) is not a leak.
            found = [m for m in seeded["markers"] if m and m in text and m not in concrete]
            if found:
                leaks.append((method, concrete, role, response.status_code, found))
            if response.status_code >= 500:
                five_xx += 1
            signed_webhook = path.endswith("/awards/") and path.startswith("/api/v1/partners/")
            if role in {"none", "other_brand_key"} and not signed_webhook:
                expected = {401}
            elif has_ids and not CUSTOMER_KEYED.match(path):
                expected = {401, 403, 404}
            else:
                expected = None  # list/create on the target's own data: any non-5xx answer, no leak
            if expected and response.status_code not in expected:
                wrong.append((method, concrete, role, response.status_code, text[:200]))
    reliability.record(
        f"tenant isolation {other_schema} ids/keys on {target_schema} host "
        f"({len(OPERATIONS)} operations × {len(ROLES)} roles)",
        cases=cases,
        five_xx=five_xx,
        leaks=len(leaks),
    )
    assert not leaks, json.dumps(leaks, indent=1, default=str)
    assert five_xx == 0
    assert not wrong, json.dumps(wrong, indent=1, default=str)
    assert cases >= 30 * len(ROLES)


def test_matrix_covers_every_tenant_api_route():
    """Every DRF route under /api/v1/ of the URLconf is in the schema the matrix walks."""
    from django.urls import URLPattern, URLResolver, get_resolver

    def walk(patterns, prefix=""):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                yield from walk(entry.url_patterns, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern):
                yield prefix + str(entry.pattern)

    routes = {r for r in walk(get_resolver("config.urls_tenant").url_patterns) if r.startswith("api/v1/")}
    documented = {re.sub(r"\{\w+\}", "X", path.lstrip("/")) for _, path in OPERATIONS}
    normalised = {re.sub(r"<(?:\w+:)?\w+>", "X", route) for route in routes}
    assert normalised <= documented, normalised - documented


def test_outbox_relay_and_beat_fan_out_send_in_the_right_schema(brands, db, monkeypatch, reliability):
    """A row enqueued in brand_b is relayed from brand_b's schema; the beat dispatcher sends per brand.

    tenant-schemas-celery tags a message with the schema of the connection that sends it,
    so the schema at `send_task` time is the schema the task will run in.
    """
    from config.celery import app
    from outbox.services import outbox_enqueue, outbox_relay
    from tenants.tasks import for_each_tenant

    sent: list[tuple[str, str]] = []
    monkeypatch.setattr(app, "send_task", lambda name, *a, **k: sent.append((name, connection.schema_name)))
    for schema in ("brand_b", "brand_a"):
        with tenant_context(brands[schema]):
            outbox_enqueue(task_name="tenants.schema_probe", args=[])
            outbox_relay()
    assert sent == [("tenants.schema_probe", "brand_b"), ("tenants.schema_probe", "brand_a")]

    sent.clear()
    connection.set_schema_to_public()
    assert for_each_tenant("tenants.schema_probe") == len(brands)
    assert sorted(schema for _, schema in sent) == sorted(brands)
    wrong = [s for _, s in sent if s == "public"]
    reliability.record("outbox relay and beat fan-out send in the brand's schema", leaks=len(wrong))
    assert not wrong


def test_cache_keys_are_tenant_prefixed_and_throttle_is_per_key(brands, db, settings, reliability):
    from django.core.cache import cache

    assert settings.CACHES["default"].get("KEY_FUNCTION") == "django_tenants.cache.make_key"
    with tenant_context(brands["brand_a"]):
        cache.set("probe-key", "a", 30)
    with tenant_context(brands["brand_b"]):
        assert cache.get("probe-key") is None
        cache.set("probe-key", "b", 30)
    with tenant_context(brands["brand_a"]):
        assert cache.get("probe-key") == "a"
        cache.delete("probe-key")
    with tenant_context(brands["brand_b"]):
        cache.delete("probe-key")
    reliability.record("cache keys tenant-prefixed (same key, two brands)", leaks=0)
