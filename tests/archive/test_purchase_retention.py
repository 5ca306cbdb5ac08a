"""Purchases past PURCHASE_RETENTION_DAYS that no unarchived campaign refers to: archived, then purged."""

from __future__ import annotations

import pytest

from archive import services
from archive.models import ArchiveRun
from archive.services import archive_campaign, archive_expired_purchases, purchases_folder
from archive.storage import ArchiveStorage
from purchases.models import Purchase
from tests.archive.conftest import make_completed_campaign_with_data, make_purchase
from tests.archive.helpers import archived_rows
from tests.archive.test_archive import InjectedCrash


def _purchase_row(purchase: Purchase) -> dict:
    row = Purchase.objects.filter(pk=purchase.pk).values(
        *[f.attname for f in Purchase._meta.concrete_fields]
    )[0]
    return row


def test_old_unreferenced_purchases_are_archived_and_purged(brand_a, archive_url, settings):
    settings.PURCHASE_RETENTION_DAYS = 90
    old = [make_purchase(received_days_ago=100 + i) for i in range(3)]
    recent = make_purchase(received_days_ago=10)
    never_evaluated = make_purchase(received_days_ago=120, evaluated=False)
    referenced = make_completed_campaign_with_data(purchases=2, completed_days_ago=95)  # not archived yet
    Purchase.objects.filter(pk__in=[p.pk for p in referenced.purchases]).update(
        received_at=old[0].received_at
    )
    expected = sorted((_purchase_row(p) for p in old), key=lambda row: row["id"])

    run = archive_expired_purchases()

    assert run.kind == ArchiveRun.Kind.PURCHASES and run.status == ArchiveRun.Status.COMPLETED
    assert run.row_counts == {"purchase_refunds": 0, "purchases": 3} and run.rows_purged == 3
    rows = archived_rows(ArchiveStorage(archive_url), purchases_folder(run.pk))["purchases"]
    assert rows == expected  # `items` (JSON text in the archive) parsed back by archived_rows
    assert not Purchase.objects.filter(pk__in=[p.pk for p in old]).exists()
    kept = {recent.pk, never_evaluated.pk, *[p.pk for p in referenced.purchases]}
    assert set(Purchase.objects.values_list("pk", flat=True)) == kept
    assert archive_expired_purchases() is None  # nothing left to do

    # Once their campaign is archived, its purchases are no longer referenced: the next sweep takes them.
    archive_campaign(campaign_id=referenced.campaign.pk)
    second = archive_expired_purchases()
    assert second.row_counts == {"purchase_refunds": 0, "purchases": 2}
    assert set(Purchase.objects.values_list("pk", flat=True)) == {recent.pk, never_evaluated.pk}


def test_a_crash_in_the_purchase_purge_is_finished_by_the_next_sweep(brand_a, archive_url, monkeypatch):
    old = [make_purchase(received_days_ago=200) for _ in range(7)]
    monkeypatch.setattr(services, "PURGE_BATCH_ROWS", 2)
    original = services._delete_batch
    calls = {"n": 0}

    def delete_batch(run, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise InjectedCrash("killed in the purge")
        return original(run, **kwargs)

    monkeypatch.setattr(services, "_delete_batch", delete_batch)
    with pytest.raises(InjectedCrash):
        archive_expired_purchases()
    assert Purchase.objects.count() == 5
    # Meanwhile another old purchase became eligible: the resumed run keeps its own frozen set.
    late = make_purchase(received_days_ago=300)

    run = archive_expired_purchases()
    assert run.attempts == 2 and run.row_counts == {"purchase_refunds": 0, "purchases": 7}
    ids = [
        row["id"] for row in archived_rows(ArchiveStorage(archive_url), purchases_folder(run.pk))["purchases"]
    ]
    assert sorted(ids) == sorted(p.pk for p in old)
    assert list(Purchase.objects.values_list("pk", flat=True)) == [late.pk]
    assert archive_expired_purchases().row_counts == {"purchase_refunds": 0, "purchases": 1}


def test_a_refunded_purchase_is_archived_with_its_refunds_first(brand_a, archive_url, settings):
    from django.utils import timezone

    from purchases.models import PurchaseRefund

    settings.PURCHASE_RETENTION_DAYS = 90
    purchase = make_purchase(received_days_ago=100)
    PurchaseRefund.objects.create(
        purchase=purchase,
        items=[{"line": 0, "sku": "S", "category": None, "quantity": 1, "unit_price": "1.00"}],
        whole=True,
        complete=True,
        request_hash="0" * 64,
        outcome={"refund_id": 0},
        actor="system",
        created_at=timezone.now(),
    )

    run = archive_expired_purchases()

    assert run.row_counts == {"purchase_refunds": 1, "purchases": 1}
    rows = archived_rows(ArchiveStorage(archive_url), purchases_folder(run.pk))
    assert [row["purchase_id"] for row in rows["purchase_refunds"]] == [purchase.pk]
    assert not Purchase.objects.filter(pk=purchase.pk).exists()
    assert not PurchaseRefund.objects.exists()
