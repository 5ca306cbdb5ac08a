"""A brand schema migrated before the split of `partners` migrates forward with every row intact.

Dispatch, DispatchAttempt and Award moved from `partners` to `dispatches` and
`awards` by state-only migrations (ADR 0011): their tables, rows, constraints
and the permissions granted on them must come through untouched.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from tests.support.committed import in_committed_connection

SCHEMA = "migration_probe"
# The last migration of each app that changed on the way (the state of the previous main).
BEFORE_SPLIT = {"partners": "0007_perf_indexes", "notifications": "0001_notifications_initial"}
# Apps that did not exist before the split (content's first migration needs notifications' messages).
NEW_APPS = {"dispatches", "awards", "content"}


def _targets_before_split(executor: MigrationExecutor) -> list[tuple[str, str]]:
    targets = []
    for app_label, name in executor.loader.graph.leaf_nodes():
        if app_label in NEW_APPS:
            continue
        targets.append((app_label, BEFORE_SPLIT.get(app_label, name)))
    return targets


def _seed_old_schema(apps) -> dict[str, object]:
    """One row in every moved table (and what they point at), through the models of the old state."""
    now = timezone.now()
    Partner = apps.get_model("partners", "Partner")
    Campaign = apps.get_model("campaigns", "Campaign")
    Purchase = apps.get_model("purchases", "Purchase")
    Dispatch = apps.get_model("partners", "Dispatch")
    DispatchAttempt = apps.get_model("partners", "DispatchAttempt")
    Award = apps.get_model("partners", "Award")
    Notification = apps.get_model("notifications", "Notification")
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ContentType = apps.get_model("contenttypes", "ContentType")

    partner = Partner.objects.create(
        slug="old-partner",
        name="Old partner",
        submission_url="https://partner.example/submit",
        auth_url="https://partner.example/auth",
        secret="whsec_" + "A" * 32,
    )
    campaign = Campaign.objects.create(
        name="Old campaign",
        kind="christmas",
        status="active",
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=30),
        purchase_channels=["ecommerce"],
        currency="EUR",
        min_purchase_value=Decimal("10.00"),
        partner=partner,
        reward={"type": "voucher", "value": "5.00", "description": "5 off"},
        notification={"title": "Won", "body": "{{ campaign.name }}"},
    )
    purchase = Purchase.objects.create(
        external_id="old-order",
        customer_id="old-customer",
        channel="ecommerce",
        purchased_at=now,
        currency="EUR",
        items=[{"sku": "A", "quantity": 1, "unit_price": "20.00"}],
        total=Decimal("20.00"),
        body_hash="0" * 64,
    )
    dispatch = Dispatch.objects.create(
        id=uuid.uuid4(), purchase=purchase, campaign=campaign, partner=partner, status="dead", attempts=2
    )
    DispatchAttempt.objects.create(
        dispatch=dispatch, number=1, attempted_at=now, status_code=500, latency_ms=12, outcome="retry"
    )
    DispatchAttempt.objects.create(
        dispatch=dispatch, number=2, attempted_at=now, status_code=400, latency_ms=9, outcome="dead"
    )
    award = Award.objects.create(
        partner=partner,
        award_id="old-award",
        campaign=campaign,
        customer_id="old-customer",
        reward_type="voucher",
        value=Decimal("5.0000"),
        currency="EUR",
        webhook_id="msg-old",
    )
    Notification.objects.create(customer_id="old-customer", campaign=campaign, award=award, title="Won")
    # A brand's own group holding a permission on a moved model (content types exist per schema).
    content_type, _ = ContentType.objects.get_or_create(app_label="partners", model="dispatch")
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type, codename="view_dispatch", defaults={"name": "Can view dispatch"}
    )
    Group.objects.create(name="Dead-letter desk").permissions.add(permission)
    return {"dispatch_id": dispatch.id, "award_pk": award.pk}


def _migrate_and_read() -> dict[str, object]:
    connection.set_schema(SCHEMA, include_public=True)
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA "{SCHEMA}"')
    executor = MigrationExecutor(connection)
    targets = _targets_before_split(executor)
    executor.migrate(targets)
    executor.loader.build_graph()
    seeded = _seed_old_schema(executor.loader.project_state(targets).apps)

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    from django.contrib.auth.models import Group

    from awards.models import Award
    from dispatches.models import Dispatch, DispatchAttempt
    from notifications.models import Notification

    dispatch = Dispatch.objects.get(pk=seeded["dispatch_id"])
    award = Award.objects.get(pk=seeded["award_pk"])
    return {
        "dispatch": (
            dispatch.status,
            dispatch.attempts,
            dispatch.partner.slug,
            dispatch.purchase.external_id,
        ),
        "attempts": list(
            DispatchAttempt.objects.filter(dispatch=dispatch)
            .order_by("number")
            .values_list("number", "status_code", "outcome")
        ),
        "award": (award.award_id, award.value, award.partner.slug, award.notification.title),
        "notifications": Notification.objects.count(),
        "group_permissions": sorted(
            Group.objects.get(name="Dead-letter desk").permissions.values_list(
                "content_type__app_label", "codename"
            )
        ),
    }


def _drop_schema() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')


def test_a_schema_of_the_previous_main_migrates_forward_with_every_row_intact(brands, db):
    in_committed_connection(_drop_schema)
    try:
        found = in_committed_connection(_migrate_and_read, timeout=300)
    finally:
        in_committed_connection(_drop_schema)
    assert found["dispatch"] == ("dead", 2, "old-partner", "old-order")
    assert found["attempts"] == [(1, 500, "retry"), (2, 400, "dead")]
    assert found["award"] == ("old-award", Decimal("5.0000"), "old-partner", "Won")
    assert found["notifications"] == 1
    # The group still holds its permission, now on the model's new app.
    assert found["group_permissions"] == [("dispatches", "view_dispatch")]
