from __future__ import annotations

from django.core.management.base import BaseCommand
from django_tenants.utils import schema_context

from archive.management.commands._brand import require_brand
from archive.models import ArchiveRun
from archive.services import campaigns_due_for_archive


class Command(BaseCommand):
    help = "List a brand's archive runs (status, step, counts, duration, location) and the campaigns due."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--schema", required=True)

    def handle(self, *args, schema: str, **options) -> None:
        require_brand(schema)
        with schema_context(schema):
            runs = list(ArchiveRun.objects.select_related("campaign").order_by("created_at", "id"))
            due = campaigns_due_for_archive()
        if not runs:
            self.stdout.write("no archive runs")
        for run in runs:
            target = f"campaign {run.campaign_id} ({run.campaign.name})" if run.campaign_id else "purchases"
            self.stdout.write(
                f"#{run.pk} {target}: {run.status} at {run.step}, {run.rows_exported} rows exported, "
                f"{run.rows_purged} purged, {run.attempts} attempt(s), {run.duration_seconds:.1f} s "
                f"→ {run.location}"
            )
            if run.last_error:
                self.stdout.write(f"    last error: {run.last_error}")
        self.stdout.write(f"campaigns due for archive: {', '.join(map(str, due)) or 'none'}")
