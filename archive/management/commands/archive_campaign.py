from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context
from tqdm import tqdm

from archive.management.commands._brand import require_brand
from archive.services import archive_campaign, archive_campaign_plan
from core.exceptions import ApplicationError


class Command(BaseCommand):
    help = (
        "Archive one completed campaign now: export to Parquet, verify, purge, mark archived. "
        "Re-running finishes an interrupted run. --dry-run prints what would be archived."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--schema", required=True)
        parser.add_argument("--campaign", required=True, type=int)
        parser.add_argument(
            "--dry-run", action="store_true", help="count and print; write and delete nothing"
        )

    def handle(self, *args, schema: str, campaign: int, dry_run: bool, **options) -> None:
        require_brand(schema)
        with schema_context(schema):
            try:
                plan = archive_campaign_plan(campaign_id=campaign)
            except ApplicationError as exc:
                raise CommandError(exc.message) from exc
            self.stdout.write(f"campaign {campaign} of {schema} → {plan.location}")
            for table, rows in plan.row_counts.items():
                self.stdout.write(f"  {table}: {rows} rows")
            for blocker in plan.blockers:
                self.stdout.write(f"  not ready: {blocker}")
            if dry_run:
                self.stdout.write(f"dry run: {plan.rows_total} rows would be archived; nothing written")
                return
            bars: dict[str, tqdm] = {}

            def progress(phase: str, rows: int) -> None:
                if phase not in bars:
                    bars[phase] = tqdm(
                        total=plan.rows_total, desc=phase, unit="rows", unit_scale=True, file=sys.stderr
                    )
                bars[phase].update(rows)

            try:
                run = archive_campaign(campaign_id=campaign, progress=progress)
            except ApplicationError as exc:
                raise CommandError(exc.message) from exc
            finally:
                for bar in bars.values():
                    bar.close()
        self.stdout.write(
            f"archived: {run.rows_exported} rows {run.row_counts}, {run.rows_purged} purged, "
            f"{run.bytes_written} bytes, {run.duration_seconds:.1f} s → {run.location}"
        )
