"""Daily figures on a known diminishing-returns curve, for the forecast, allocation and insights tests."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import numpy as np
from django.utils import timezone

from analytics.models import CampaignDailyFigures


def seed_curve(campaign, *, a: float, b: float, days: int, seed: int = 0, noise: float = 0.05,
               low: float = 20, high: float = 250, clicks: int = 100, impressions: int = 1000,
               conversions: int = 10) -> None:  # fmt: skip
    """`days` complete days before today: spend uniform in [low, high], revenue a·(1 − exp(−spend/b)) ± noise."""
    rng = np.random.default_rng(seed)
    today = timezone.now().date()
    rows = []
    for i in range(days):
        spend = rng.uniform(low, high)
        revenue = max(0.0, a * -np.expm1(-spend / b) * (1 + rng.normal(0, noise)))
        rows.append(
            CampaignDailyFigures(
                campaign=campaign,
                day=today - timedelta(days=i + 1),
                impressions=impressions,
                clicks=clicks,
                conversions=conversions,
                revenue=Decimal(f"{revenue:.2f}"),
                cost=Decimal(f"{spend:.2f}"),
            )
        )
    CampaignDailyFigures.objects.bulk_create(rows)
