"""Revenue forecasts and budget allocation (SPEC §17, issue 21, ADR 0027): the part of bench/content.py
that needs a database.

A throw-away brand (`bench_forecast`) gets 100 active campaigns, each with a year of daily figures on its own
diminishing-returns curve (36,500 rows). Then, in process through the API (DRF test client, a crm key):

* `forecast_ms`: POST /campaigns/{id}/forecast/ (read a year of days, curve_fit, 200 bootstrap refits,
  scenarios), median over random campaigns;
* `allocate_100_ms`: POST /budget-allocations/ across the 100 campaigns (100 fits + confidence bands, SLSQP,
  100 lines stored), median of 3; `solve_100_ms` is the SLSQP solve alone on the same curves;
* baselines of the same run: `metrics_ms`, GET /campaigns/{id}/metrics/ for the same year (a plain read of the
  same rows), and `curve_fit_ms`, one scipy curve_fit on 365 days (200 of them would be the naive bootstrap).

Goals: forecast < 200 ms, allocation across 100 campaigns < 1,000 ms. `measure()` returns these
figures; bench/content.py prints them on its RESULT line. Drops the schema at the end unless `keep`.
"""

from __future__ import annotations

import random
import statistics
import time
from datetime import timedelta
from decimal import Decimal

import _brand
import numpy as np
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

SCHEMA = "bench_forecast"
HOST = "bench-forecast.localhost"
DAYS = 365


def fill(campaigns: int) -> list[int]:
    from analytics.models import CampaignDailyFigures
    from campaigns.models import Campaign
    from tests.campaigns.factories import CampaignFactory

    Campaign.objects.all().delete()
    rng = np.random.default_rng(42)
    today = timezone.now().date()
    ids, rows = [], []
    for index in range(campaigns):
        campaign = CampaignFactory(name=f"Forecast {index}", status=Campaign.Status.ACTIVE)
        ids.append(campaign.pk)
        a, b = rng.uniform(500, 5000), rng.uniform(30, 300)
        spend = rng.uniform(b * 0.2, b * 3, DAYS)
        revenue = a * -np.expm1(-spend / b) * (1 + rng.normal(0, 0.1, DAYS))
        rows.extend(
            CampaignDailyFigures(campaign=campaign, day=today - timedelta(days=d + 1), impressions=1000, clicks=50,
                                 conversions=5, revenue=Decimal(f"{max(r, 0):.2f}"), cost=Decimal(f"{s:.2f}"))
            for d, (s, r) in enumerate(zip(spend, revenue, strict=True))
        )  # fmt: skip
    CampaignDailyFigures.objects.bulk_create(rows, batch_size=5000)
    return ids


def timed(call) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1000


def measure(*, campaigns: int = 100, requests: int = 30, keep: bool = False) -> dict[str, str | int]:

    from rest_framework.test import APIClient

    from accounts.services import api_key_create
    from analytics import allocation, selectors
    from campaigns.models import Campaign

    brand = _brand.brand_ready(SCHEMA, "Bench forecast", HOST)
    try:
        with schema_context(SCHEMA):
            connection.set_tenant(brand)
            ids = fill(campaigns)
            _, key = api_key_create(name="bench forecast", role="crm")
            client = APIClient(HTTP_HOST=HOST)
            client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
            picker = random.Random(7)

            def forecast() -> None:
                response = client.post(f"/api/v1/campaigns/{picker.choice(ids)}/forecast/",
                                       {"spend": "3000.00", "horizon_days": 30}, format="json")  # fmt: skip
                assert response.status_code == 200 and response.json()["method"] == "diminishing_returns"

            start, end = (timezone.now() - timedelta(days=DAYS)).date(), timezone.now().date()

            def metrics() -> None:
                response = client.get(
                    f"/api/v1/campaigns/{picker.choice(ids)}/metrics/?from={start}&to={end}"
                )
                assert response.status_code == 200

            forecast(), metrics()  # warm: imports, first connection
            forecast_ms = statistics.median(timed(forecast) for _ in range(requests))
            metrics_ms = statistics.median(timed(metrics) for _ in range(requests))

            body = {"total": str(300 * len(ids)), "horizon_days": 30, "campaigns": [{"id": i} for i in ids]}

            def allocate() -> None:
                response = client.post("/api/v1/budget-allocations/", body, format="json")
                assert response.status_code == 201, response.content
                assert len(response.json()["campaigns"]) == len(ids)

            allocate_ms = statistics.median(timed(allocate) for _ in range(3))

            today = timezone.now().date()
            brand_days = selectors.spend_history(today=today)
            campaign_map = Campaign.objects.in_bulk(ids)
            fits = [
                selectors.campaign_fit(campaign=campaign_map[i], today=today, brand=brand_days) for i in ids
            ]
            candidates = [
                allocation.Candidate(i, f.curve, 0.0, 300.0 * len(ids))
                for i, f in zip(ids, fits, strict=True)
            ]

            def solve() -> None:
                assert allocation.allocate(
                    candidates=candidates, total=300.0 * len(ids), horizon_days=30
                ).converged

            solve_ms = statistics.median(timed(solve) for _ in range(5))

            from analytics.forecasting import fit_curve

            spend, revenue = selectors.spend_history(today=today, campaign_id=ids[0])
            x, y = np.array(spend), np.array(revenue)
            curve_fit_ms = statistics.median(timed(lambda: fit_curve(x, y)) for _ in range(20))
            connection.set_schema_to_public()
    finally:
        if not keep:
            _brand.drop_brand(SCHEMA)
    print(f"forecast goal < 200 ms: {forecast_ms:.1f} ms; allocation across {len(ids)} goal < 1000 ms: "
          f"{allocate_ms:.1f} ms (solve alone {solve_ms:.1f} ms)")  # fmt: skip
    return {"forecast_ms": f"{forecast_ms:.1f}", "allocate_100_ms": f"{allocate_ms:.1f}",
            "solve_100_ms": f"{solve_ms:.1f}", "metrics_ms": f"{metrics_ms:.1f}",
            "curve_fit_ms": f"{curve_fit_ms:.2f}", "campaigns": len(ids)}  # fmt: skip
