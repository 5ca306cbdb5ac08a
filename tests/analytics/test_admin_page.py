"""The analytics page of the brand admin: chart, performance table and campaign calendar, server-rendered."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from analytics.models import CampaignDailyFigures
from campaigns.models import Campaign
from tests.campaigns.factories import CampaignFactory

pytestmark = pytest.mark.django_db
URL = "/admin/analytics/campaigndailyfigures/"


def _client(django_user_model, group: str | None) -> Client:
    user = django_user_model.objects.create_user(username=f"u-{group}", password="x", is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    client = Client(HTTP_HOST="brand-a.localhost")
    client.force_login(user)
    return client


def test_viewer_sees_chart_table_and_calendar(brand_a, django_user_model):
    today = timezone.now().date()
    running = CampaignFactory(name="Running one", status=Campaign.Status.ACTIVE)
    CampaignFactory(name="Paused one", status=Campaign.Status.PAUSED)
    CampaignDailyFigures.objects.create(campaign=running, day=today, impressions=40, clicks=4, conversions=1,
                                        revenue="80.00", cost="10.00")  # fmt: skip
    response = _client(django_user_model, "CRM viewer").get(URL + "?days=7")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('class="data-point"') == 3 * 7
    assert f'data-series="Clicks" data-day="{today.isoformat()}" data-value="4"' in html
    assert f'data-campaign-id="{running.pk}" data-status="active"' in html
    assert 'data-status="paused"' in html and "#fd7e14" in html  # coloured by status
    row = html[html.index(f'class="performance-row" data-campaign-id="{running.pk}"') :]
    assert "80.00 EUR" in row[:600] and "0.1" in row[:600]  # ctr 4/40


def test_page_needs_the_view_campaign_permission(brand_a, django_user_model):
    assert _client(django_user_model, None).get(URL).status_code == 403
    assert _client(django_user_model, "CRM viewer").get(URL + "?days=bad&campaign=x").status_code == 200


def test_campaign_filter(brand_a, django_user_model):
    campaign = CampaignFactory(name="Only me", status=Campaign.Status.ACTIVE)
    other = CampaignFactory(name="Not me", status=Campaign.Status.ACTIVE)
    day = timezone.now().date() - timedelta(days=1)
    CampaignDailyFigures.objects.create(campaign=campaign, day=day, impressions=5)
    CampaignDailyFigures.objects.create(campaign=other, day=day, impressions=7)
    html = (
        _client(django_user_model, "CRM viewer").get(f"{URL}?days=7&campaign={campaign.pk}").content.decode()
    )
    assert f'data-series="Impressions" data-day="{day.isoformat()}" data-value="5"' in html
