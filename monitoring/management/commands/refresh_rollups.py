"""Backfill or repair a brand's hourly rollup (e.g. after deploying the dashboards on existing data)."""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django_tenants.utils import schema_context

from tenants.models import Brand


class Command(BaseCommand):
    help = "Recompute a brand's hourly rollup for the last N hours from the raw rows (idempotent)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--schema", required=True, help="the brand's schema, e.g. brand_a")
        parser.add_argument("--hours", type=int, default=24 * 31, help="how far back (default 31 days)")

    def handle(self, *args, schema: str, hours: int, **options) -> None:
        from monitoring.health import health_refresh
        from monitoring.rollups import rollup_refresh

        if not Brand.objects.filter(schema_name=schema).exclude(schema_name="public").exists():
            raise CommandError(f"no brand with schema {schema!r}")
        if hours < 1:
            raise CommandError("--hours must be at least 1")
        with schema_context(schema):
            upserted, deleted = rollup_refresh(since=timezone.now() - timedelta(hours=hours))
            health_refresh()
        self.stdout.write(f"{schema}: {upserted} hourly row(s) written, {deleted} removed")
