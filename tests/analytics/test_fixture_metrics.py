"""A hand-computed campaign: every metric to the cent, every ratio to 4 places, the null cases, and
rollups equal to a recount from the raw rows (SPEC §16).

Campaign X (reward 10.00 EUR, window 72 h), times relative to `base` (an hour, 10 h ago):
* c1: view at base, click at +1 h, purchase P1 at +2 h, eligible 80.00, dispatch sent → conversion, cost 10.00
* c2: view at base, purchase P2 at +3 h, ineligible (value 30.00 below minimum) → conversion, revenue 0.00
* c3: view 100 h before its purchase at +1 h → outside the window: no conversion
* c4: view at base, purchases P4 at +1 h (eligible 20.00) and P5 at +4 h (eligible 25.50), both dispatched →
  two conversions, cost 20.00
* c5: purchase at +1 h with no touch at all → nothing
Totals of X in the window: impressions 3, clicks 1, conversions 4, revenue 125.50, cost 30.00 →
ctr 1/3 = 0.3333, conversion_rate 4/1 = 4.0000, cpc 30.00, cpa 7.50, roas 125.50/30 = 4.1833,
roi 95.50/30 = 3.1833.
Campaign Y: one click, nothing else → ctr null (0 impressions), conversion_rate 0.0, cpc 0.00, cpa null,
roas null, roi null. Campaign Z: nothing → every ratio null.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Count, Sum
from django.utils import timezone

from analytics.models import CampaignDailyFigures, CampaignHourlyFigures, Conversion
from analytics.services import analytics_refresh, hour_floor
from campaigns.models import Campaign
from customers.models import Event
from dispatches.models import Dispatch
from tests.campaigns.factories import CampaignFactory
from tests.customers.conftest import make_customer
from tests.purchases.factories import EvaluationFactory, PurchaseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(brand_a):
    now = timezone.now()
    base = hour_floor(now) - timedelta(hours=10)
    x = CampaignFactory(name="X", status=Campaign.Status.ACTIVE)
    y = CampaignFactory(name="Y", status=Campaign.Status.ACTIVE)
    z = CampaignFactory(name="Z", status=Campaign.Status.ACTIVE)

    def touch(customer, name, at, campaign):
        Event.objects.create(event_id=f"{customer.customer_id}-{name}-{at.timestamp()}-{campaign.pk}",
                             customer=customer, name=name, properties={"campaign_id": campaign.pk},
                             occurred_at=at)  # fmt: skip

    def purchase(customer_id, at, campaign, value, eligible=True, dispatched=False):
        p = PurchaseFactory(customer_id=customer_id, purchased_at=at, evaluated_at=now)
        EvaluationFactory(purchase=p, campaign=campaign, eligible=eligible, eligible_value=value,
                          reason=None if eligible else "below_minimum", evaluated_at=now)  # fmt: skip
        if dispatched:
            Dispatch.objects.create(purchase=p, campaign=campaign, partner=campaign.partner, status="sent",
                                    sent_at=at + timedelta(minutes=5))  # fmt: skip
        return p

    c1, c2, c3, c4, c5 = (make_customer(f"c{i}") for i in range(1, 6))
    touch(c1, "view", base, x)
    touch(c1, "click", base + timedelta(hours=1), x)
    purchase("c1", base + timedelta(hours=2), x, Decimal("80.00"), dispatched=True)
    touch(c2, "view", base, x)
    purchase("c2", base + timedelta(hours=3), x, Decimal("30.00"), eligible=False)
    touch(c3, "view", base - timedelta(hours=99), x)
    purchase("c3", base + timedelta(hours=1), x, Decimal("50.00"))
    touch(c4, "view", base, x)
    purchase("c4", base + timedelta(hours=1), x, Decimal("20.00"), dispatched=True)
    purchase("c4", base + timedelta(hours=4), x, Decimal("25.50"), dispatched=True)
    purchase("c5", base + timedelta(hours=1), x, Decimal("99.00"))
    touch(c1, "click", base + timedelta(hours=3), y)  # after c1's purchase
    Event.objects.create(event_id="junk", customer=c5, name="view", properties={"campaign_id": "nope"},
                         occurred_at=base)  # fmt: skip
    analytics_refresh(since=base - timedelta(hours=1), now=now)
    return {"x": x, "y": y, "z": z, "base": base, "now": now}


def _report(crm_client, base):
    day = base.date().isoformat()
    response = crm_client.get(f"/api/v1/reports/performance/?from={day}&to={timezone.now().date()}")
    assert response.status_code == 200
    return {row["campaign"]: row for row in response.json()["rows"]}


def test_every_metric_to_the_cent_and_ratio_to_4_places(world, crm_client):
    rows = _report(crm_client, world["base"])
    assert {k: rows["X"][k] for k in ("impressions", "clicks", "conversions", "revenue", "cost")} == {
        "impressions": 3, "clicks": 1, "conversions": 4, "revenue": "125.50", "cost": "30.00",
    }  # fmt: skip
    assert {k: rows["X"][k] for k in ("ctr", "conversion_rate", "cpc", "cpa", "roas", "roi")} == {
        "ctr": 0.3333, "conversion_rate": 4.0, "cpc": "30.00", "cpa": "7.50", "roas": 4.1833, "roi": 3.1833,
    }  # fmt: skip
    y = rows["Y"]
    assert (y["impressions"], y["clicks"], y["conversions"], y["revenue"], y["cost"]) == (
        0,
        1,
        0,
        "0.00",
        "0.00",
    )
    assert (y["ctr"], y["conversion_rate"], y["cpc"], y["cpa"], y["roas"], y["roi"]) == (
        None,
        0.0,
        "0.00",
        None,
        None,
        None,
    )
    z = rows["Z"]
    assert all(z[k] is None for k in ("ctr", "conversion_rate", "cpc", "cpa", "roas", "roi"))


def test_conversions_once_per_campaign_and_purchase(world):
    conversions = Conversion.objects.filter(campaign=world["x"])
    assert sorted(conversions.values_list("customer_id", flat=True)) == ["c1", "c2", "c4", "c4"]
    assert sorted(conversions.values_list("revenue", flat=True)) == [
        Decimal(0),
        Decimal(20),
        Decimal("25.5"),
        Decimal(80),
    ]
    analytics_refresh(since=world["base"] - timedelta(hours=1), now=world["now"])  # again: nothing new
    assert Conversion.objects.filter(campaign=world["x"]).count() == 4


def test_metrics_by_day_sum_to_the_totals_and_empty_days_are_null(world, crm_client):
    start = (world["base"] - timedelta(days=2)).date()
    response = crm_client.get(
        f"/api/v1/campaigns/{world['x'].pk}/metrics/?from={start}&to={timezone.now().date()}&granularity=day"
    )
    assert response.status_code == 200
    rows = response.json()["rows"]
    assert rows[0]["period_start"] == start.isoformat() and rows[0]["impressions"] == 0
    assert rows[0]["ctr"] is None and rows[0]["roi"] is None and rows[0]["cost"] == "0.00"
    assert sum(r["conversions"] for r in rows) == 4
    assert sum(Decimal(r["revenue"]) for r in rows) == Decimal("125.50")
    for granularity in ("week", "month"):
        grouped = crm_client.get(
            f"/api/v1/campaigns/{world['x'].pk}/metrics/?from={start}&to={timezone.now().date()}"
            f"&granularity={granularity}"
        ).json()["rows"]
        assert sum(Decimal(r["cost"]) for r in grouped) == Decimal("30.00")


def test_rollups_equal_a_recount_from_raw_rows(world):
    x = world["x"]
    since = world["base"] - timedelta(hours=1)
    hourly = CampaignHourlyFigures.objects.filter(campaign=x).aggregate(
        i=Sum("impressions"), c=Sum("clicks"), v=Sum("conversions"), r=Sum("revenue"), k=Sum("cost")
    )
    events = Event.objects.filter(occurred_at__gte=since, properties__campaign_id=x.pk)
    raw = Conversion.objects.filter(campaign=x).aggregate(n=Count("id"), r=Sum("revenue"))
    sent = Dispatch.objects.filter(campaign=x, status="sent").count()
    assert hourly == {
        "i": events.filter(name="view").count(), "c": events.filter(name="click").count(),
        "v": raw["n"], "r": raw["r"], "k": Decimal(x.reward["value"]) * sent,
    }  # fmt: skip
    daily = CampaignDailyFigures.objects.filter(campaign=x).aggregate(
        i=Sum("impressions"), c=Sum("clicks"), v=Sum("conversions"), r=Sum("revenue"), k=Sum("cost")
    )
    assert daily == hourly


def test_csv_report_streams_the_same_rows(world, crm_client):
    day = world["base"].date().isoformat()
    response = crm_client.get(f"/api/v1/reports/performance/?from={day}&format=csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0].startswith("campaign_id,campaign,status,currency,impressions,clicks,conversions")
    x_line = next(line for line in lines if ",X," in line)
    assert ",3,1,4,125.50,30.00,0.3333,4.0,30.00,7.50,4.1833,3.1833" in x_line


@pytest.mark.parametrize(
    "query",
    ["from=yesterday", "from=2026-02-30", "to=2020-01-01&from=2021-01-01", "from=2000-01-01&to=2026-01-01"],
)
def test_bad_ranges_are_400(crm_client, world, query):
    assert crm_client.get(f"/api/v1/reports/performance/?{query}").status_code == 400
    assert crm_client.get(f"/api/v1/campaigns/{world['x'].pk}/metrics/?{query}").status_code == 400


def test_metrics_404_and_bad_granularity(crm_client, world):
    assert crm_client.get("/api/v1/campaigns/999999/metrics/").status_code == 404
    assert crm_client.get(f"/api/v1/campaigns/{world['x'].pk}/metrics/?granularity=year").status_code == 400


def test_metrics_by_variant(brand_a, crm_client):
    now = timezone.now()
    campaign = CampaignFactory(status=Campaign.Status.ACTIVE)
    customer = make_customer("v1")
    Event.objects.create(event_id="v1-view", customer=customer, name="view",
                         properties={"campaign_id": campaign.pk, "variant": "B"}, occurred_at=now - timedelta(hours=2))  # fmt: skip
    p = PurchaseFactory(customer_id="v1", purchased_at=now - timedelta(hours=1), evaluated_at=now)
    EvaluationFactory(purchase=p, campaign=campaign, eligible_value=Decimal("12.34"), evaluated_at=now)
    analytics_refresh(since=now - timedelta(hours=3), now=now)
    today = timezone.now().date()
    url = f"/api/v1/campaigns/{campaign.pk}/metrics/?from={today - timedelta(days=1)}&to={today}&granularity=month"
    b = crm_client.get(url + "&variant=B").json()["rows"]
    a = crm_client.get(url + "&variant=A").json()["rows"]
    assert sum(r["conversions"] for r in b) == 1 and sum(Decimal(r["revenue"]) for r in b) == Decimal("12.34")
    assert sum(r["impressions"] for r in a) == 0
    assert Conversion.objects.get(campaign=campaign).variant == "B"
