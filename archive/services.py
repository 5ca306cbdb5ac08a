"""Archive a completed campaign (and old purchases) to Parquet: export, verify, purge, mark archived.

A run goes through steps recorded on its `ArchiveRun` row, each one safe to
repeat, so a rerun after a crash anywhere finishes the work:

* **export** — stream each table's rows (`COPY … TO STDOUT`, parsed by Arrow
  block by block: never the whole table in memory) into zstd Parquet parts
  under `<ARCHIVE_URL>/tenant=<schema>/campaign=<id>/`, then write
  `manifest.json` last. No manifest means the export did not finish:
  the folder is wiped and written again (nothing was purged yet).
* **verify** — read every file back: sha256 and row counts against the
  manifest, primary keys unique, and the set of primary keys equal to what the
  database holds for the campaign. Only then may rows be deleted.
* **purge** — delete, in batches of primary keys *read from the archive files*,
  so nothing that is not in the archive can be deleted; repeating a batch is a
  no-op. Foreign keys (deferred) reject a delete that would orphan a row.
* **mark** — the campaign becomes `archived` with a `system` transition, in the
  same transaction that completes the run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from itertools import islice
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from archive import copy_stream, parquet
from archive.models import ArchiveRun
from archive.storage import ArchiveStorage, archive_storage
from archive.tables import PURCHASE_REFUNDS_TABLE, PURCHASES_TABLE, ArchivedTable, campaign_tables
from campaigns.models import Campaign
from campaigns.services import campaign_mark_archived
from core.delivery import OPEN_STATUSES
from core.exceptions import ApplicationError, ConflictError, NotFoundError
from notifications.models import Notification

logger = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
CURSOR_CHUNK_ROWS = 20_000
PURGE_BATCH_ROWS = 20_000
SYSTEM_ACTOR = "system"

# progress(phase, rows): phase is "export", "verify" or "purge".
Progress = Callable[[str, int], None]


class ArchiveVerificationError(ApplicationError):
    """The archive read back does not match the manifest or the database: nothing is purged."""

    default_code = "archive_verification_failed"


class StaleExportError(ArchiveVerificationError):
    """The database changed after the export (rows added or removed): export again before purging."""


@dataclass
class _Target:
    """What one run archives: the tables and their row selections, and how strictly to compare them."""

    folder: str
    tables: list[tuple[ArchivedTable, models.QuerySet]]
    # "exact": the database holds exactly the archived rows (a finished campaign);
    # "subset": every archived row still exists (a retention sweep whose candidates may grow).
    database_match: str
    snapshot: dict[str, Any] = field(default_factory=dict)


def _noop_progress(phase: str, rows: int) -> None:
    return None


@lru_cache(maxsize=1)
def code_version() -> str:
    """`git describe` of the running code, else the ARCHIVE_CODE_VERSION setting (images have no .git)."""
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"],  # noqa: S607 - git from PATH
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        if described:
            return described
    except (OSError, subprocess.SubprocessError):
        pass
    return settings.ARCHIVE_CODE_VERSION


def campaign_folder(campaign_id: int) -> str:
    return f"tenant={connection.schema_name}/campaign={campaign_id}"


def purchases_folder(run_id: int) -> str:
    return f"tenant={connection.schema_name}/purchases/run={run_id}"


# --- locking: one run of a given target at a time, whatever process starts it


@contextmanager
def _advisory_lock(name: str) -> Iterator[None]:
    """A session-level Postgres advisory lock: released at the end, or when the process dies."""
    key = f"archive:{connection.schema_name}:{name}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [key])
        if not cursor.fetchone()[0]:
            raise ConflictError(f"an archive of {name} is already running", code="archive_running")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [key])


# --- campaigns


def _campaign_snapshot(campaign: Campaign) -> dict[str, Any]:
    """The campaign's configuration and item rules as JSON-ready values (decimals as strings)."""
    values = {f.attname: getattr(campaign, f.attname) for f in Campaign._meta.concrete_fields}
    values["partner_slug"] = campaign.partner.slug if campaign.partner_id else None
    values["item_rules"] = [
        {f.attname: getattr(rule, f.attname) for f in rule._meta.concrete_fields}
        for rule in campaign.item_rules.order_by("id")
    ]
    return json.loads(json.dumps(values, cls=DjangoJSONEncoder))


def _campaign_target(campaign: Campaign) -> _Target:
    return _Target(
        folder=campaign_folder(campaign.pk),
        tables=[(table, table.campaign_rows(campaign.pk)) for table in campaign_tables()],
        database_match="exact",
        snapshot=_campaign_snapshot(campaign),
    )


def campaign_archive_blockers(*, campaign: Campaign, now: datetime | None = None) -> list[str]:
    """Why a campaign's data may still change (then it is not archived yet); empty when it may be."""
    from dispatches.models import Dispatch

    now = now or timezone.now()
    blockers = []
    if campaign.status != Campaign.Status.COMPLETED:
        blockers.append(f"the campaign is {campaign.status}, not completed")
    elif campaign.completed_at and campaign.completed_at + settings.LATE_PURCHASE_GRACE > now:
        blockers.append(
            "late purchases are still evaluated until "
            f"{campaign.completed_at + settings.LATE_PURCHASE_GRACE:%Y-%m-%d %H:%M} UTC"
        )
    in_flight = Dispatch.objects.filter(
        campaign_id=campaign.pk, status__in=[Dispatch.Status.PENDING, Dispatch.Status.RETRYING]
    ).count()
    if in_flight:
        blockers.append(f"{in_flight} dispatch(es) are still pending or retrying")
    notifications = _notifications_in_flight(campaign.pk)
    if notifications:
        blockers.append(f"{notifications} notification(s) are still queued, being sent or retrying")
    return blockers


def _notifications_in_flight(campaign_id: int) -> int:
    """Notifications of the campaign not yet final (queued, being sent, failed and due to retry, deferred)."""
    return Notification.objects.filter(campaign_id=campaign_id, status__in=OPEN_STATUSES).count()


def _mark_campaign_archived(campaign_id: int, *, location: str) -> Campaign:
    """completed → archived through the campaigns service (one lifecycle, one audit row)."""
    return campaign_mark_archived(campaign_id=campaign_id, actor=SYSTEM_ACTOR, note=f"archived to {location}")


@dataclass(frozen=True)
class ArchivePlan:
    """What an archive would write (the dry run): where, and how many rows per table."""

    location: str
    row_counts: dict[str, int]
    blockers: list[str]

    @property
    def rows_total(self) -> int:
        return sum(self.row_counts.values())


def _get_campaign(campaign_id: int) -> Campaign:
    try:
        return Campaign.objects.select_related("partner").get(pk=campaign_id)
    except Campaign.DoesNotExist:
        raise NotFoundError(f"campaign {campaign_id} does not exist") from None


def archive_campaign_plan(*, campaign_id: int, storage: ArchiveStorage | None = None) -> ArchivePlan:
    """The dry run: counts and location, nothing written or deleted."""
    campaign = _get_campaign(campaign_id)
    storage = storage or archive_storage()
    run = ArchiveRun.objects.filter(campaign_id=campaign_id).first()
    blockers = [] if run else campaign_archive_blockers(campaign=campaign)
    if run and run.status == ArchiveRun.Status.COMPLETED:
        blockers = [f"already archived to {run.location}"]
    return ArchivePlan(
        location=storage.location(campaign_folder(campaign_id)),
        row_counts={table.name: rows.count() for table, rows in _campaign_target(campaign).tables},
        blockers=blockers,
    )


def archive_campaign(
    *, campaign_id: int, progress: Progress | None = None, storage: ArchiveStorage | None = None
) -> ArchiveRun:
    """Archive one completed campaign now (or finish its interrupted run). Returns the completed run."""
    storage = storage or archive_storage()
    with _advisory_lock(f"campaign {campaign_id}"):
        campaign = _get_campaign(campaign_id)
        run = ArchiveRun.objects.filter(campaign_id=campaign_id).first()
        if run is None:
            blockers = campaign_archive_blockers(campaign=campaign)
            if blockers:
                raise ConflictError(
                    f"campaign {campaign_id} cannot be archived yet: {'; '.join(blockers)}",
                    code="archive_not_ready",
                )
            run = ArchiveRun.objects.create(
                kind=ArchiveRun.Kind.CAMPAIGN,
                campaign=campaign,
                location=storage.location(campaign_folder(campaign_id)),
            )
        elif run.status == ArchiveRun.Status.COMPLETED:
            raise ConflictError(
                f"campaign {campaign_id} is already archived to {run.location}", code="archived"
            )
        return _execute(
            run,
            target=_campaign_target(campaign),
            storage=storage,
            progress=progress or _noop_progress,
            finish=lambda: _mark_campaign_archived(campaign_id, location=run.location),
        )


def campaigns_due_for_archive(*, now: datetime | None = None) -> list[int]:
    """Completed more than ARCHIVE_AFTER_DAYS ago, or with an interrupted run to finish."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.ARCHIVE_AFTER_DAYS)
    unfinished = ArchiveRun.objects.filter(campaign=OuterRef("pk")).exclude(
        status=ArchiveRun.Status.COMPLETED
    )
    return list(
        Campaign.objects.filter(status=Campaign.Status.COMPLETED)
        .filter(Q(completed_at__lt=cutoff) | Exists(unfinished))
        .order_by("completed_at", "id")
        .values_list("id", flat=True)
    )


# --- purchases past retention


def purchases_past_retention(*, cutoff: datetime) -> models.QuerySet:
    """Evaluated purchases received before `cutoff` that no (unarchived) campaign's rows refer to.

    Archiving a campaign purges its evaluations and dispatches, so "no evaluation
    and no dispatch refers to it" is "no unarchived campaign refers to it".
    Never-evaluated purchases stay: the pipeline's sweep may still evaluate them.
    """
    from dispatches.models import Dispatch
    from purchases.models import Evaluation, Purchase

    return Purchase.objects.filter(received_at__lt=cutoff, evaluated_at__isnull=False).filter(
        ~Exists(Evaluation.objects.filter(purchase=OuterRef("pk"))),
        ~Exists(Dispatch.objects.filter(purchase=OuterRef("pk"))),
    )


def refunds_of(purchases: models.QuerySet) -> models.QuerySet:
    """The refunds of `purchases` (archived and purged with them, before them: they point at them)."""
    from purchases.models import PurchaseRefund

    return PurchaseRefund.objects.filter(purchase__in=purchases.values("pk"))


def archive_expired_purchases(
    *, progress: Progress | None = None, storage: ArchiveStorage | None = None, now: datetime | None = None
) -> ArchiveRun | None:
    """Archive and purge purchases past PURCHASE_RETENTION_DAYS (or finish the interrupted sweep).

    Returns None when there is nothing to do.
    """
    storage = storage or archive_storage()
    with _advisory_lock("purchases"):
        run = (
            ArchiveRun.objects.filter(kind=ArchiveRun.Kind.PURCHASES)
            .exclude(status=ArchiveRun.Status.COMPLETED)
            .first()
        )
        if run is None:
            cutoff = (now or timezone.now()) - timedelta(days=settings.PURCHASE_RETENTION_DAYS)
            if not purchases_past_retention(cutoff=cutoff).exists():
                return None
            with transaction.atomic():
                run = ArchiveRun.objects.create(kind=ArchiveRun.Kind.PURCHASES, cutoff=cutoff, location="")
                run.location = storage.location(purchases_folder(run.pk))
                run.save(update_fields=["location"])
        target = _Target(
            folder=purchases_folder(run.pk),
            tables=[
                (PURCHASE_REFUNDS_TABLE, refunds_of(purchases_past_retention(cutoff=run.cutoff))),
                (PURCHASES_TABLE, purchases_past_retention(cutoff=run.cutoff)),
            ],
            database_match="subset",
            snapshot={"cutoff": run.cutoff.isoformat(), "retention_days": settings.PURCHASE_RETENTION_DAYS},
        )
        return _execute(run, target=target, storage=storage, progress=progress or _noop_progress, finish=None)


# --- the steps


def _save(run: ArchiveRun, **changes: Any) -> None:
    for name, value in changes.items():
        setattr(run, name, value)
    run.save(update_fields=[*changes, "updated_at"])


def _execute(
    run: ArchiveRun,
    *,
    target: _Target,
    storage: ArchiveStorage,
    progress: Progress,
    finish: Callable[[], Any] | None,
) -> ArchiveRun:
    started = time.monotonic()
    _save(run, status=ArchiveRun.Status.RUNNING, attempts=run.attempts + 1, last_error="")
    try:
        manifest_path = f"{target.folder}/{MANIFEST_NAME}"
        if run.step == ArchiveRun.Step.EXPORT:
            if not storage.exists(manifest_path):  # the manifest is written last: no manifest, no export
                _export(run, target=target, storage=storage, progress=progress)
            _record_export(run, storage=storage, folder=target.folder)
            _save(run, step=ArchiveRun.Step.VERIFY)
        if run.step == ArchiveRun.Step.VERIFY:
            if not storage.exists(manifest_path):  # a crash while exporting a stale export again
                _export(run, target=target, storage=storage, progress=progress)
                _record_export(run, storage=storage, folder=target.folder)
            try:
                _verify(run, target=target, storage=storage, purge_started=False, progress=progress)
            except StaleExportError as stale:
                # Rows changed since the export and nothing is purged yet: export again, once.
                logger.warning("archive export is stale, exporting again", extra={"reason": str(stale)})
                storage.delete_folder(target.folder)
                _export(run, target=target, storage=storage, progress=progress)
                _record_export(run, storage=storage, folder=target.folder)
                _verify(run, target=target, storage=storage, purge_started=False, progress=progress)
            _save(run, step=ArchiveRun.Step.PURGE)
        if run.step == ArchiveRun.Step.PURGE:
            if run.rows_purged:  # resuming a purge: the files must still be intact
                _verify(run, target=target, storage=storage, purge_started=True, progress=progress)
            _purge(run, target=target, storage=storage, progress=progress)
            _save(run, step=ArchiveRun.Step.MARK)
        if run.step == ArchiveRun.Step.MARK:
            with transaction.atomic():
                if finish is not None:
                    finish()
                _save(
                    run,
                    step=ArchiveRun.Step.DONE,
                    status=ArchiveRun.Status.COMPLETED,
                    finished_at=timezone.now(),
                    duration_seconds=run.duration_seconds + (time.monotonic() - started),
                )
    except BaseException as exc:
        # Recorded for the admin and the next run; then raised (a task/command shows it, nothing swallowed).
        ArchiveRun.objects.filter(pk=run.pk).update(
            status=ArchiveRun.Status.FAILED,
            last_error=f"{type(exc).__name__}: {exc}"[:2000],
            duration_seconds=F("duration_seconds") + (time.monotonic() - started),
            updated_at=timezone.now(),
        )
        run.refresh_from_db()
        raise
    logger.info(
        "archive run completed",
        extra={"archive_run": run.pk, "campaign": run.campaign_id, "rows": run.rows_exported},
    )
    return run


def _export(run: ArchiveRun, *, target: _Target, storage: ArchiveStorage, progress: Progress) -> None:
    """Write every table's parts, then the manifest (last). Whatever an earlier attempt left is discarded."""
    storage.delete_folder(target.folder)
    tables: dict[str, Any] = {}
    time_min = time_max = None
    for table, rows in target.tables:
        writer = parquet.TableWriter(
            storage,
            f"{target.folder}/{table.name}",
            table.arrow_schema,
            time_column=table.resolved_time_field,
        )
        selection = rows.order_by(table.pk_column).values_list(*table.columns)
        for batch in copy_stream.stream_batches(selection, table.arrow_schema):
            writer.write_batch(batch)
            progress("export", batch.num_rows)
        parts = writer.close()
        tables[table.name] = {
            "model": table.model_label,
            "db_table": table.model._meta.db_table,
            "primary_key": table.pk_column,
            "rows": writer.rows,
            "time_column": table.resolved_time_field,
            "time_range": _time_range(writer.time_min, writer.time_max),
            "columns": [{"name": f.name, "type": str(f.type)} for f in table.arrow_schema],
            "files": [part.as_manifest(target.folder) for part in parts],
        }
        if writer.time_min is not None:
            time_min = writer.time_min if time_min is None else min(time_min, writer.time_min)
            time_max = writer.time_max if time_max is None else max(time_max, writer.time_max)
    manifest = {
        "format": MANIFEST_FORMAT,
        "kind": run.kind,
        "tenant": connection.schema_name,
        "campaign_id": run.campaign_id,
        "archive_run_id": run.pk,
        "created_at": timezone.now().isoformat(),
        "code_version": code_version(),
        "compression": parquet.COMPRESSION,
        "time_range": _time_range(time_min, time_max),
        "tables": tables,
        "snapshot": target.snapshot,
    }
    manifest_bytes = json.dumps(manifest, indent=2, sort_keys=True).encode()
    storage.write_atomic(f"{target.folder}/{MANIFEST_NAME}", manifest_bytes)


def _record_export(run: ArchiveRun, *, storage: ArchiveStorage, folder: str) -> None:
    """Copy the manifest's figures onto the run (also after a crash between the manifest and this save)."""
    manifest_bytes = storage.read_bytes(f"{folder}/{MANIFEST_NAME}")
    tables = json.loads(manifest_bytes)["tables"]
    _save(
        run,
        row_counts={name: table["rows"] for name, table in tables.items()},
        rows_exported=sum(table["rows"] for table in tables.values()),
        bytes_written=sum(f["bytes"] for table in tables.values() for f in table["files"])
        + len(manifest_bytes),
        manifest_sha256=hashlib.sha256(manifest_bytes).hexdigest(),
    )


def _time_range(low: datetime | None, high: datetime | None) -> dict[str, str | None]:
    return {"min": low.isoformat() if low else None, "max": high.isoformat() if high else None}


def read_manifest(storage: ArchiveStorage, folder: str) -> dict[str, Any]:
    return json.loads(storage.read_bytes(f"{folder}/{MANIFEST_NAME}"))


def _check_files(storage: ArchiveStorage, folder: str, table_manifest: dict[str, Any]) -> None:
    """Every file of a table: its sha256 and its row count (Parquet metadata) equal the manifest's."""
    for entry in table_manifest["files"]:
        path = f"{folder}/{entry['path']}"
        if storage.sha256(path) != entry["sha256"]:
            raise ArchiveVerificationError(f"{path}: sha256 differs from the manifest")
        if parquet.file_row_count(storage, path) != entry["rows"]:
            raise ArchiveVerificationError(f"{path}: row count differs from the manifest")
    if sum(entry["rows"] for entry in table_manifest["files"]) != table_manifest["rows"]:
        raise ArchiveVerificationError(f"{folder}: the files' rows do not add up to the manifest's count")


def _archived_keys(storage: ArchiveStorage, folder: str, table_manifest: dict[str, Any]) -> Iterator[Any]:
    """The primary keys read back from the files, in file order (written in key order), one batch at a time.

    Every column is decoded, so a file that cannot be read fails here, before any purge.
    """
    pk = table_manifest["primary_key"]
    for entry in table_manifest["files"]:
        for batch in parquet.iter_batches(storage, f"{folder}/{entry['path']}"):
            yield from batch.column(pk).to_pylist()


def _database_keys(rows: models.QuerySet, table: ArchivedTable) -> Iterator[Any]:
    """The selection's primary keys in key order (server-side cursor), typed as the archive holds them."""
    keys = rows.order_by(table.pk_column).values_list(table.pk_column, flat=True).iterator(CURSOR_CHUNK_ROWS)
    if table.pk_column in table.uuid_columns:
        return (str(key) for key in keys)  # canonical text sorts like Postgres sorts uuids
    return keys


_END = object()


def _compare_keys(archived: Iterator[Any], in_database: Iterator[Any]) -> tuple[int, int, int]:
    """Walk both sorted key streams in step, in constant memory.

    Returns (archived rows, archived rows not in the database, database rows not in the archive).
    Keys read back must strictly increase: a key twice in the archive is an error.
    """
    archived_count = only_archived = only_database = 0
    previous = _END
    key, db_key = next(archived, _END), next(in_database, _END)
    while key is not _END or db_key is not _END:
        if key is not _END and previous is not _END and key <= previous:
            raise ArchiveVerificationError(f"archived keys out of order or repeated at {key!r}")
        if db_key is _END or (key is not _END and key < db_key):
            only_archived += 1
        elif key is _END or db_key < key:
            only_database += 1
            db_key = next(in_database, _END)
            continue
        else:
            db_key = next(in_database, _END)
        archived_count += 1
        previous, key = key, next(archived, _END)
    return archived_count, only_archived, only_database


def _count_existing(table: ArchivedTable, keys: Iterator[Any]) -> tuple[int, int]:
    """(archived keys, how many of them still exist in the database), in batches."""
    total = found = 0
    while batch := list(islice(keys, PURGE_BATCH_ROWS)):
        total += len(batch)
        found += table.model._default_manager.filter(pk__in=batch).count()
    return total, found


def _verify(
    run: ArchiveRun, *, target: _Target, storage: ArchiveStorage, purge_started: bool, progress: Progress
) -> None:
    """Read the archive back and compare it with the manifest and the database; raise on any difference."""
    manifest = read_manifest(storage, target.folder)
    if manifest.get("tenant") != connection.schema_name or manifest.get("archive_run_id") != run.pk:
        raise ArchiveVerificationError(f"{target.folder}: the manifest belongs to another run")
    expected_tables = {table.name for table, _ in target.tables}
    if set(manifest["tables"]) != expected_tables:
        raise ArchiveVerificationError(
            f"{target.folder}: archived tables {sorted(manifest['tables'])}, "
            f"expected {sorted(expected_tables)}"
        )
    for table, rows in target.tables:
        table_manifest = manifest["tables"][table.name]
        _check_files(storage, target.folder, table_manifest)
        archived = _archived_keys(storage, target.folder, table_manifest)
        if target.database_match == "exact":
            count, only_archived, only_database = _compare_keys(archived, _database_keys(rows, table))
            if only_database:
                # Rows the archive lacks: never purge on a stale export.
                raise StaleExportError(
                    f"{table.name}: {only_database} row(s) in the database are not in the archive"
                )
            if only_archived and not purge_started:
                raise StaleExportError(f"{table.name}: {only_archived} archived row(s) left the database")
        else:
            count, existing = _count_existing(table, archived)
            if existing != count and not purge_started:
                raise StaleExportError(f"{table.name}: {count - existing} archived row(s) left the database")
        if count != table_manifest["rows"]:
            raise ArchiveVerificationError(
                f"{table.name}: {count} rows read back, the manifest says {table_manifest['rows']}"
            )
        progress("verify", count)


def _purge(run: ArchiveRun, *, target: _Target, storage: ArchiveStorage, progress: Progress) -> None:
    """Delete the archived rows, in batches of primary keys read from the archive, in purge order."""
    manifest = read_manifest(storage, target.folder)
    for table, rows in target.tables:
        table_manifest = manifest["tables"][table.name]
        meta = table.model._meta
        # Identifiers come from the model, values are parameters.
        key_type = meta.pk.db_type(connection)
        sql = f'DELETE FROM "{meta.db_table}" WHERE "{meta.pk.column}" = ANY(%s::{key_type}[])'  # noqa: S608
        for entry in table_manifest["files"]:
            path = f"{target.folder}/{entry['path']}"
            for batch in parquet.iter_batches(
                storage, path, columns=[table_manifest["primary_key"]], batch_size=PURGE_BATCH_ROWS
            ):
                keys = batch.column(0).to_pylist()
                deleted = _delete_batch(run, sql=sql, keys=keys)
                progress("purge", len(keys))
                logger.debug("purged %d %s rows", deleted, table.name)
        if target.database_match == "exact" and rows.exists():
            # A row that arrived after the export would be lost by marking the campaign archived.
            raise ArchiveVerificationError(
                f"{table.name}: {rows.count()} row(s) arrived after the export; "
                "the campaign is not marked archived"
            )


def _delete_batch(run: ArchiveRun, *, sql: str, keys: list) -> int:
    """One purge batch and its count, committed together."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [keys])
        deleted = cursor.rowcount
        ArchiveRun.objects.filter(pk=run.pk).update(rows_purged=F("rows_purged") + deleted)
    run.rows_purged += deleted
    return deleted
