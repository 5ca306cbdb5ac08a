"""Archive of a campaign: round trip, verify before purge, crash at every step, tenant isolation."""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pytest
from django_tenants.utils import tenant_context

from archive import copy_stream, parquet, services
from archive.models import ArchiveRun
from archive.services import archive_campaign, campaign_folder, read_manifest
from archive.storage import TEMP_MARKER, ArchiveStorage
from archive.tables import campaign_tables
from campaigns.models import Campaign, CampaignTransition
from core.exceptions import ConflictError
from dispatches.models import Dispatch, DispatchAttempt
from purchases.models import Evaluation
from tests.archive.conftest import make_completed_campaign_with_data
from tests.archive.helpers import archived_campaign_rows, campaign_database_rows


class InjectedCrash(Exception):
    """Stands for the process dying at that point."""


def _campaign_row_counts(campaign_id: int) -> dict[str, int]:
    return {table.name: table.campaign_rows(campaign_id).count() for table in campaign_tables()}


# After the purge only the completed → archived transition, written after it, is left.
PURGED = {
    "awards": 0,
    "dispatch_attempts": 0,
    "retraction_attempts": 0,
    "retractions": 0,
    "dispatches": 0,
    "evaluations": 0,
    "notifications": 0,
    "transitions": 1,
}


def test_archive_round_trips_every_table_exactly(campaign_data, archive_url):
    campaign = campaign_data.campaign
    before = campaign_database_rows(campaign.pk)
    assert all(
        before[name]
        for name in (
            "evaluations",
            "dispatches",
            "dispatch_attempts",
            "retraction_attempts",
            "retractions",
            "awards",
            "notifications",
            "transitions",
        )
    )

    run = archive_campaign(campaign_id=campaign.pk)

    storage = ArchiveStorage(archive_url)
    after = archived_campaign_rows(storage, campaign.pk)
    assert after == before  # every column of every row, decimals and timestamps included
    # Decimals are exact (decimal128 with the column's scale), not floats.
    values = [row["eligible_value"] for row in after["evaluations"]]
    assert all(isinstance(value, Decimal) for value in values)
    assert [str(v) for v in values] == [str(row["eligible_value"]) for row in before["evaluations"]]
    schema = parquet.read_table(storage, f"{campaign_folder(campaign.pk)}/evaluations/part-0.parquet").schema
    assert schema.field("eligible_value").type == pa.decimal128(18, 4)
    assert schema.field("evaluated_at").type == pa.timestamp("us", tz="UTC")

    # Purged from the database, campaign archived by "system", the run recorded.
    assert _campaign_row_counts(campaign.pk) == PURGED
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.ARCHIVED
    transition = CampaignTransition.objects.get(campaign=campaign)
    assert (transition.from_status, transition.to_status, transition.actor) == (
        "completed",
        "archived",
        "system",
    )
    assert run.status == ArchiveRun.Status.COMPLETED and run.step == ArchiveRun.Step.DONE
    assert run.row_counts == {name: len(rows) for name, rows in before.items()}
    assert run.rows_exported == run.rows_purged == sum(len(rows) for rows in before.values())
    assert run.location == f"{archive_url}/tenant=brand_a/campaign={campaign.pk}"
    assert run.duration_seconds > 0 and run.finished_at is not None and run.attempts == 1
    # Purchases are shared between campaigns: kept (the retention sweep handles them).
    assert all(type(p).objects.filter(pk=p.pk).exists() for p in campaign_data.purchases)


def test_manifest_lists_files_checksums_snapshot_and_version(campaign_data, archive_url):
    campaign = campaign_data.campaign
    counts = _campaign_row_counts(campaign.pk)
    archive_campaign(campaign_id=campaign.pk)

    storage = ArchiveStorage(archive_url)
    folder = campaign_folder(campaign.pk)
    manifest = read_manifest(storage, folder)
    assert manifest["tenant"] == "brand_a" and manifest["campaign_id"] == campaign.pk
    assert {name: table["rows"] for name, table in manifest["tables"].items()} == counts
    for table in manifest["tables"].values():
        for entry in table["files"]:
            assert storage.sha256(f"{folder}/{entry['path']}") == entry["sha256"]
            assert entry["path"].endswith(".parquet") and "/part-" in f"/{entry['path']}"
    assert manifest["compression"] == "zstd"
    snapshot = manifest["snapshot"]
    assert snapshot["name"] == campaign.name and snapshot["min_purchase_value"] == "50.0000"
    assert snapshot["partner_slug"] == campaign.partner.slug
    assert {(rule["kind"], rule["value"], rule["multiplier"]) for rule in snapshot["item_rules"]} == {
        ("whitelist", "toys", "1.5000"),
        ("blacklist", "SKU-9", "1.0000"),
    }
    assert manifest["time_range"]["min"] < manifest["time_range"]["max"]
    assert manifest["code_version"]
    # Nothing half-written is left behind.
    assert not [path for path in storage.list_files(folder) if TEMP_MARKER in path]


def test_only_a_completed_and_settled_campaign_is_archived(brand_a, archive_url):
    data = make_completed_campaign_with_data(purchases=3)
    Campaign.objects.filter(pk=data.campaign.pk).update(status=Campaign.Status.ACTIVE)
    with pytest.raises(ConflictError, match="active, not completed"):
        archive_campaign(campaign_id=data.campaign.pk)

    Campaign.objects.filter(pk=data.campaign.pk).update(status=Campaign.Status.COMPLETED)
    Dispatch.objects.filter(campaign=data.campaign).update(status=Dispatch.Status.RETRYING)
    with pytest.raises(ConflictError, match="pending or retrying"):
        archive_campaign(campaign_id=data.campaign.pk)
    assert not ArchiveRun.objects.exists()
    assert not ArchiveStorage(archive_url).list_files("")

    Dispatch.objects.filter(campaign=data.campaign).update(status=Dispatch.Status.SENT)
    archive_campaign(campaign_id=data.campaign.pk)
    with pytest.raises(ConflictError, match="already archived"):
        archive_campaign(campaign_id=data.campaign.pk)


def test_a_campaign_in_its_late_purchase_grace_period_waits(brand_a, archive_url):
    data = make_completed_campaign_with_data(purchases=2, completed_days_ago=1)
    with pytest.raises(ConflictError, match="late purchases"):
        archive_campaign(campaign_id=data.campaign.pk)


def test_many_parts_and_batches(campaign_data, archive_url, monkeypatch):
    """Small chunks, parts and purge batches: the same result, split over several files."""
    monkeypatch.setattr(copy_stream, "BLOCK_BYTES", 256)  # a few rows per batch
    monkeypatch.setattr(services, "PURGE_BATCH_ROWS", 4)
    monkeypatch.setattr(parquet, "ROW_GROUP_ROWS", 2)
    original_init = parquet.TableWriter.__init__

    def small_parts(self, *args, **kwargs):
        kwargs["rows_per_part"] = 5
        original_init(self, *args, **kwargs)

    monkeypatch.setattr(parquet.TableWriter, "__init__", small_parts)
    campaign = campaign_data.campaign
    before = campaign_database_rows(campaign.pk)
    archive_campaign(campaign_id=campaign.pk)
    storage = ArchiveStorage(archive_url)
    manifest = read_manifest(storage, campaign_folder(campaign.pk))
    assert len(manifest["tables"]["evaluations"]["files"]) >= 2  # 12 rows, about 5 per part
    assert archived_campaign_rows(storage, campaign.pk) == before


# --- crash at every step, then a rerun: every row exactly once in the archive, none in the database


def _crash_during_export(monkeypatch):
    """The process dies after the first part is written, while a second file is half-written."""
    original = ArchiveStorage.write_atomic
    calls = {"n": 0}

    def write_atomic(self, relative, data):
        calls["n"] += 1
        if calls["n"] == 2:
            # a temporary file exists, the rename never happens
            self._ensure_parent(relative)
            with self.filesystem.open_output_stream(self._full(f"{relative}{TEMP_MARKER}dead")) as stream:
                stream.write(bytes(data)[:10])
            raise InjectedCrash("killed while writing a part")
        return original(self, relative, data)

    monkeypatch.setattr(ArchiveStorage, "write_atomic", write_atomic)


def _crash_before_verify(monkeypatch):
    original = services._verify

    def verify(run, **kwargs):
        if not kwargs["purge_started"]:
            raise InjectedCrash("killed after the export, before the verification")
        return original(run, **kwargs)

    monkeypatch.setattr(services, "_verify", verify)


def _crash_during_purge(monkeypatch):
    monkeypatch.setattr(services, "PURGE_BATCH_ROWS", 3)
    original = services._delete_batch
    calls = {"n": 0}

    def delete_batch(run, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:  # after some attempts and some dispatches are gone
            raise InjectedCrash("killed in the middle of the purge")
        return original(run, **kwargs)

    monkeypatch.setattr(services, "_delete_batch", delete_batch)


@pytest.mark.parametrize(
    ("inject", "step_after_crash"),
    [
        (_crash_during_export, ArchiveRun.Step.EXPORT),
        (_crash_before_verify, ArchiveRun.Step.VERIFY),
        (_crash_during_purge, ArchiveRun.Step.PURGE),
    ],
    ids=["during-export", "between-export-and-verify", "during-purge"],
)
def test_a_crash_at_any_step_then_a_rerun_loses_and_duplicates_nothing(
    campaign_data, archive_url, monkeypatch, inject, step_after_crash
):
    campaign = campaign_data.campaign
    before = campaign_database_rows(campaign.pk)
    storage = ArchiveStorage(archive_url)

    with monkeypatch.context() as crash:
        inject(crash)
        with pytest.raises(InjectedCrash):
            archive_campaign(campaign_id=campaign.pk)

    run = ArchiveRun.objects.get(campaign=campaign)
    assert run.status == ArchiveRun.Status.FAILED and run.step == step_after_crash
    assert "InjectedCrash" in run.last_error
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    if step_after_crash == ArchiveRun.Step.PURGE:
        # Part of the rows are gone from the database: they exist only in the archive now.
        remaining = _campaign_row_counts(campaign.pk)
        assert 0 < sum(remaining.values()) < sum(len(rows) for rows in before.values())
    else:
        assert _campaign_row_counts(campaign.pk) == {name: len(rows) for name, rows in before.items()}

    run = archive_campaign(campaign_id=campaign.pk)  # the rerun (beat's next day, or the operator)

    assert run.status == ArchiveRun.Status.COMPLETED and run.attempts == 2 and run.last_error == ""
    assert archived_campaign_rows(storage, campaign.pk) == before  # each row once, none missing
    assert _campaign_row_counts(campaign.pk) == PURGED
    folder = campaign_folder(campaign.pk)
    files = storage.list_files(folder)
    manifest = read_manifest(storage, folder)
    listed = {
        f"{folder}/{entry['path']}" for table in manifest["tables"].values() for entry in table["files"]
    }
    assert set(files) == listed | {f"{folder}/manifest.json"}  # no stray part, no temporary file
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.ARCHIVED
    assert CampaignTransition.objects.filter(campaign=campaign, to_status="archived").count() == 1


def test_rows_added_after_the_export_are_archived_too(campaign_data, archive_url, monkeypatch):
    """A stale export (the database changed before the verification) is exported again, never purged."""
    campaign = campaign_data.campaign
    original = services._verify
    added = {}

    def verify_after_a_late_attempt(run, **kwargs):
        if not added:
            dispatch = Dispatch.objects.filter(campaign=campaign).first()
            added["attempt"] = DispatchAttempt.objects.create(
                dispatch=dispatch, number=3, attempted_at=dispatch.created_at, latency_ms=5, outcome="sent"
            )
        return original(run, **kwargs)

    monkeypatch.setattr(services, "_verify", verify_after_a_late_attempt)
    archive_campaign(campaign_id=campaign.pk)
    attempts = archived_campaign_rows(ArchiveStorage(archive_url), campaign.pk)["dispatch_attempts"]
    assert added["attempt"].pk in {row["id"] for row in attempts}
    assert not DispatchAttempt.objects.filter(dispatch__campaign=campaign).exists()


def test_a_tampered_file_stops_the_purge(campaign_data, archive_url, monkeypatch):
    campaign = campaign_data.campaign
    counts = _campaign_row_counts(campaign.pk)
    storage = ArchiveStorage(archive_url)
    original = services._verify

    def tamper_then_verify(run, **kwargs):
        path = f"{campaign_folder(campaign.pk)}/evaluations/part-0.parquet"
        data = bytearray(storage.read_bytes(path))
        data[-20] ^= 0xFF
        storage.write_atomic(path, bytes(data))
        return original(run, **kwargs)

    monkeypatch.setattr(services, "_verify", tamper_then_verify)
    with pytest.raises(services.ArchiveVerificationError, match="sha256"):
        archive_campaign(campaign_id=campaign.pk)
    assert _campaign_row_counts(campaign.pk) == counts  # nothing purged
    assert ArchiveRun.objects.get(campaign=campaign).status == ArchiveRun.Status.FAILED


def test_brand_b_is_untouched_by_brand_a_archive(brands, brand_a, archive_url):
    with tenant_context(brands["brand_b"]):
        data_b = make_completed_campaign_with_data(purchases=4, name="Same name in B")
        counts_b = _campaign_row_counts(data_b.campaign.pk)
    data_a = make_completed_campaign_with_data(purchases=4, name="Same name in B")

    run = archive_campaign(campaign_id=data_a.campaign.pk)

    assert run.location.endswith(f"tenant=brand_a/campaign={data_a.campaign.pk}")
    storage = ArchiveStorage(archive_url)
    assert not storage.list_files("tenant=brand_b")
    with tenant_context(brands["brand_b"]):
        assert _campaign_row_counts(data_b.campaign.pk) == counts_b
        data_b.campaign.refresh_from_db()
        assert data_b.campaign.status == Campaign.Status.COMPLETED
        assert not ArchiveRun.objects.exists()
    assert Evaluation.objects.filter(campaign=data_a.campaign).count() == 0


def test_a_run_in_progress_elsewhere_is_not_started_twice(campaign_data, archive_url):
    from django.db import connections

    other = connections.create_connection("default")
    try:
        other.set_schema("brand_a")
        with other.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_lock(hashtextextended(%s, 0))",
                [f"archive:brand_a:campaign {campaign_data.campaign.pk}"],
            )
        with pytest.raises(ConflictError, match="already running"):
            archive_campaign(campaign_id=campaign_data.campaign.pk)
    finally:
        other.close()


def test_a_crash_right_after_the_manifest_is_written_keeps_the_export(
    campaign_data, archive_url, monkeypatch
):
    """The manifest is the proof of a finished export: the rerun verifies it instead of exporting again."""
    campaign = campaign_data.campaign
    before = campaign_database_rows(campaign.pk)
    with monkeypatch.context() as crash:
        crash.setattr(
            services, "_record_export", lambda run, **kwargs: (_ for _ in ()).throw(InjectedCrash())
        )
        with pytest.raises(InjectedCrash):
            archive_campaign(campaign_id=campaign.pk)
    exports = []
    original_export = services._export
    monkeypatch.setattr(
        services, "_export", lambda run, **kw: exports.append(1) or original_export(run, **kw)
    )

    run = archive_campaign(campaign_id=campaign.pk)

    assert exports == []
    assert run.row_counts == {name: len(rows) for name, rows in before.items()}
    assert archived_campaign_rows(ArchiveStorage(archive_url), campaign.pk) == before


def test_awkward_text_survives_the_csv_stream(campaign_data, archive_url):
    """Empty vs NULL, the words NULL and N/A, newlines, quotes, commas and non-ASCII text all round-trip."""
    awkward = ["", "NULL", "N/A", "nan", "line one\nline two\r\n", 'a "quoted", comma', "ünïcode ✓ 🎁", "\\N"]
    dispatch = Dispatch.objects.filter(campaign=campaign_data.campaign).first()
    for number, text in enumerate(awkward, start=10):
        DispatchAttempt.objects.create(
            dispatch=dispatch,
            number=number,
            attempted_at=dispatch.created_at,
            latency_ms=1,
            outcome="dead",
            error=text,
        )
    Dispatch.objects.filter(pk=dispatch.pk).update(last_error="NULL", last_status_code=None)
    before = campaign_database_rows(campaign_data.campaign.pk)

    archive_campaign(campaign_id=campaign_data.campaign.pk)

    after = archived_campaign_rows(ArchiveStorage(archive_url), campaign_data.campaign.pk)
    assert after == before
    assert {row["error"] for row in after["dispatch_attempts"]} >= set(awkward)
    archived_dispatch = next(row for row in after["dispatches"] if row["id"] == str(dispatch.pk))
    assert archived_dispatch["last_error"] == "NULL" and archived_dispatch["last_status_code"] is None


def test_a_crash_while_exporting_a_stale_export_again(campaign_data, archive_url, monkeypatch):
    campaign = campaign_data.campaign
    before = campaign_database_rows(campaign.pk)
    with monkeypatch.context() as crash:
        crash.setattr(
            services, "_verify", lambda run, **kw: (_ for _ in ()).throw(services.StaleExportError("x"))
        )
        original_export = services._export
        exports = []

        def export_then_die_the_second_time(run, **kwargs):
            exports.append(1)
            if len(exports) == 2:
                raise InjectedCrash("killed during the second export")
            return original_export(run, **kwargs)

        crash.setattr(services, "_export", export_then_die_the_second_time)
        with pytest.raises(InjectedCrash):
            archive_campaign(campaign_id=campaign.pk)
    assert ArchiveRun.objects.get(campaign=campaign).step == ArchiveRun.Step.VERIFY

    archive_campaign(campaign_id=campaign.pk)

    assert archived_campaign_rows(ArchiveStorage(archive_url), campaign.pk) == before
    assert _campaign_row_counts(campaign.pk) == PURGED
