"""The platform dashboard: each brand's figures, read from each brand's own schema in turn.

Never a shared table of tenant rows (ADR 0001): for every brand, switch to its schema, read its
rollup totals and health snapshot (a handful of rows), switch back. Open alarms come from `public`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count
from django.utils import timezone
from django_tenants.utils import get_public_schema_name, schema_context

from monitoring.alarms.models import Alarm
from monitoring.models import HealthSnapshot
from monitoring.selectors import CampaignTotals, brand_health, brand_totals
from tenants.models import Brand


@dataclass
class BrandRow:
    brand: Brand
    day: CampaignTotals
    health: HealthSnapshot | None
    open_alarms: int


def platform_overview(*, since: datetime | None = None) -> list[BrandRow]:
    since = since or timezone.now() - timedelta(hours=24)
    open_alarms = dict(
        Alarm.objects.filter(cleared_at__isnull=True)
        .values_list("brand_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    rows = []
    for brand in Brand.objects.exclude(schema_name=get_public_schema_name()).order_by("schema_name"):
        with schema_context(brand.schema_name):
            day = brand_totals(since=since)
            health = brand_health()
        rows.append(BrandRow(brand=brand, day=day, health=health, open_alarms=open_alarms.get(brand.pk, 0)))
    return rows
