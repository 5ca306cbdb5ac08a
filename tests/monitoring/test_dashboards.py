"""The CRM dashboards (brand admin) and the platform dashboard (public admin): they render, read the
rollup, and a brand's pages show that brand's figures only."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context

from campaigns.models import Campaign
from monitoring.alarms.models import Alarm, AlarmRule
from monitoring.charts import Series, hourly_line_chart
from monitoring.health import health_refresh
from monitoring.rollups import hour_floor, rollup_refresh
from tests.campaigns.factories import CampaignFactory
from tests.monitoring.conftest import add_attempts, add_evaluation
from tests.partners.factories import PartnerFactory

BRAND_A_HOST = "brand-a.localhost"
BRAND_B_HOST = "brand-b.localhost"
OVERVIEW = "/admin/monitoring/campaignhourlyrollup/"


def dashboard_url(campaign_id: int) -> str:
    return f"{OVERVIEW}campaign/{campaign_id}/"


def crm_client(django_user_model, host: str, group: str = "CRM viewer", username: str = "crm") -> Client:
    user = django_user_model.objects.create_user(username, password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client = Client(HTTP_HOST=host)
    client.force_login(user)
    return client


@pytest.fixture
def brand_a_activity(brand_a):
    now = timezone.now()
    campaign = CampaignFactory(
        name="Xmas A", status=Campaign.Status.ACTIVE, partner=PartnerFactory(slug="p-a")
    )
    for hours_ago, n in ((3, 4), (1, 2), (0, 1)):
        for i in range(n):
            add_evaluation(
                campaign, hour_floor(now) - timedelta(hours=hours_ago, minutes=-i), eligible=i % 2 == 0
            )
    add_attempts(campaign, hour_floor(now) - timedelta(hours=1), ["retry", "sent"])
    add_attempts(campaign, hour_floor(now) - timedelta(hours=1), ["dead"])
    rollup_refresh(since=now - timedelta(hours=4))
    health_refresh()
    return campaign


@pytest.fixture
def brand_b_campaign(brand_b):
    with schema_context("brand_b"):
        campaign = CampaignFactory(
            name="Secret B campaign", status=Campaign.Status.ACTIVE, partner=PartnerFactory(slug="p-b")
        )
        for i in range(7):
            add_evaluation(campaign, timezone.now() - timedelta(minutes=i), eligible=True, value="999.00")
        rollup_refresh()
        health_refresh()
    return campaign


def test_crm_viewer_sees_the_campaign_dashboard_with_its_chart(django_user_model, brand_a_activity):
    client = crm_client(django_user_model, BRAND_A_HOST)
    response = client.get(dashboard_url(brand_a_activity.pk))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Dashboard: Xmas A" in html
    assert re.search(r'id="lifetime-evaluated">7<', html)
    assert re.search(r'id="lifetime-eligible">4<', html)
    assert re.search(r'id="lifetime-success-rate">33.3 %<', html)  # 1 sent of 3 attempts
    # "Dead letters now" opens the dead letters, where they are read and replayed.
    assert re.search(
        r'id="now-dead"><a href="/admin/dispatches/dispatch/\?status__exact=dead"[^>]*>1</a>', html
    )
    svg = html[html.index('<div class="dash-chart" id="chart-evaluations">') :]
    svg = svg[: svg.index("</svg>")]
    assert "<svg" in svg
    evaluated_points = re.findall(r'data-series="Evaluated" data-hour="[^"]+" data-value="(\d+)"', svg)
    assert len(evaluated_points) == 48
    assert evaluated_points[-4:] == ["4", "0", "2", "1"]

    assert client.get(dashboard_url(brand_a_activity.pk) + "?hours=24").status_code == 200
    assert client.get(dashboard_url(brand_a_activity.pk) + "?hours=nonsense").status_code == 200

    overview = client.get(OVERVIEW)
    assert overview.status_code == 200
    assert dashboard_url(brand_a_activity.pk) in overview.content.decode()


@pytest.mark.parametrize(
    ("currency", "values", "shown"), [("JPY", ["1500", "2"], "1502"), ("BHD", ["1.235", "0.5"], "1.735")]
)
def test_eligible_values_are_shown_in_the_campaigns_minor_unit(
    django_user_model, brand_a, currency, values, shown
):
    campaign = CampaignFactory(
        name=f"In {currency}", currency=currency, status=Campaign.Status.ACTIVE, partner=PartnerFactory()
    )
    at = hour_floor(timezone.now()) - timedelta(hours=1)
    for value in values:
        add_evaluation(campaign, at, eligible=True, value=value)
    rollup_refresh(since=at)
    client = crm_client(django_user_model, BRAND_A_HOST)

    html = client.get(dashboard_url(campaign.pk)).content.decode()
    assert re.search(rf'id="lifetime-eligible-value">{shown} {currency}<', html)
    assert re.search(rf'id="window-eligible-value">{shown} {currency}<', html)  # not "1502.00" or "1.73"
    assert f"{shown} {currency}" in client.get(OVERVIEW).content.decode()


def test_the_campaign_change_page_links_to_its_dashboard(django_user_model, brand_a_activity):
    client = crm_client(django_user_model, BRAND_A_HOST, group="CRM editor")
    page = client.get(f"/admin/campaigns/campaign/{brand_a_activity.pk}/change/")
    assert page.status_code == 200
    assert (
        f'href="{dashboard_url(brand_a_activity.pk)}" class="campaign-dashboard-link"'
        in page.content.decode()
    )


def test_a_brand_dashboard_never_shows_another_brands_data(
    django_user_model, brand_a_activity, brand_b_campaign
):
    client = crm_client(django_user_model, BRAND_A_HOST)
    overview = client.get(OVERVIEW).content.decode()
    assert "Xmas A" in overview
    assert "Secret B campaign" not in overview
    assert "6993" not in overview  # brand_b's eligible value (7 × 999)
    # brand_b's campaign id on brand_a's host: no such campaign here.
    if not Campaign.objects.filter(pk=brand_b_campaign.pk).exists():
        assert client.get(dashboard_url(brand_b_campaign.pk)).status_code == 404
    # A brand_a session is nothing on brand_b's host.
    other = Client(HTTP_HOST=BRAND_B_HOST)
    other.cookies = client.cookies
    response = other.get(OVERVIEW)
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_staff_without_campaign_permission_and_the_public_host_get_no_crm_dashboard(
    django_user_model, brand_a_activity
):
    user = django_user_model.objects.create_user("nobody", password="pw", is_staff=True)
    client = Client(HTTP_HOST=BRAND_A_HOST)
    client.force_login(user)
    assert client.get(dashboard_url(brand_a_activity.pk)).status_code == 403
    assert client.get(OVERVIEW).status_code == 403


def test_platform_dashboard_lists_every_brand_from_its_own_schema(
    django_user_model, brand_a_activity, brand_b_campaign, brands
):
    rule = AlarmRule.objects.create(name="dead", kind=AlarmRule.Kind.DEAD_LETTERS, threshold=0)
    Alarm.objects.create(
        rule=rule, brand=brands["brand_a"], fired_at=timezone.now(), fired_value=1, last_value=1
    )
    client = Client(HTTP_HOST="localhost")
    with schema_context("public"):  # platform operators are users of the public schema
        operator = django_user_model.objects.create_user(
            "operator", password="pw", is_staff=True, is_superuser=True
        )
        client.force_login(operator)
        response = client.get("/admin/alarms/platformdashboard/")
        assert response.status_code == 200
        html = response.content.decode()
        rows = dict(re.findall(r'<tr class="brand-row" data-schema="(\w+)">(.*?)</tr>', html, re.S))
        assert set(rows) >= {"brand_a", "brand_b"}
        cells_a = re.findall(r'<td class="num">([^<]*)</td>', rows["brand_a"])
        cells_b = re.findall(r'<td class="num">([^<]*)</td>', rows["brand_b"])
        assert cells_a[:2] == ["7", "4"]
        assert cells_b[:2] == ["7", "7"]
        assert cells_a[-1] == "1" and cells_b[-1] == "0"  # alarms firing
        assert cells_a[2] == "1 / 1 / 1"  # attempts sent / retry / dead, last 24 h
        assert cells_a[8] == "1"  # dead letters of brand_a, now
        for path in (
            "/admin/alarms/alarmrule/",
            "/admin/alarms/alarm/",
            f"/admin/alarms/alarmrule/{rule.pk}/change/",
        ):
            assert client.get(path).status_code == 200
        # The CRM pages do not exist on the public host (no rollup there).
        assert client.get(OVERVIEW).status_code == 404


def test_chart_has_one_point_per_hour_and_series_and_escapes_names():
    hours = [hour_floor(timezone.now()) - timedelta(hours=h) for h in (2, 1, 0)]
    svg = str(hourly_line_chart(hours=hours, series=[Series("<b>x</b>", [0, 5, 3], "#000")]))
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count('class="data-point"') == 3
    assert "<b>" not in svg and "&lt;b&gt;" in svg
    empty = str(hourly_line_chart(hours=hours, series=[Series("none", [0, 0, 0], "#000")]))
    assert empty.count('class="data-point"') == 3


def test_campaign_dashboard_shows_the_budget_burn_down(django_user_model, brand_a_activity):
    from decimal import Decimal

    from campaigns.budgets import budget_release, budget_reserve, budget_set

    budget_set(campaign_id=brand_a_activity.pk, actor="user:ana", kind="count", limit=Decimal(20))
    for n in range(6):
        budget_reserve(campaign_id=brand_a_activity.pk, amount=Decimal(1), ref=f"burn-{n}")
    budget_release(ref="burn-0")  # given back: not in the burn-down
    client = crm_client(django_user_model, BRAND_A_HOST)
    html = client.get(dashboard_url(brand_a_activity.pk)).content.decode()
    assert re.search(r'id="budget-used">25.0 %<', html)
    svg = html[html.index('<div class="dash-chart" id="chart-budget">') :]
    svg = svg[: svg.index("</svg>")]
    used = re.findall(
        r'data-series="Budget used \(committed \+ reserved\)" data-hour="[^"]+" data-value="(\d+)"', svg
    )
    assert used[-1] == "5" and used[0] == "0"


def test_campaign_dashboard_without_budget_has_no_burn_down(django_user_model, brand_a_activity):
    client = crm_client(django_user_model, BRAND_A_HOST)
    assert 'id="chart-budget"' not in client.get(dashboard_url(brand_a_activity.pk)).content.decode()
