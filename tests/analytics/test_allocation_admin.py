"""The budget allocation pages of the brand admin: propose with a form, lines as a table, apply with a button."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from analytics.models import BudgetAllocation
from analytics.services import AllocationRequest, budget_allocation_create
from campaigns.models import Budget, Campaign
from tests.analytics.curves import seed_curve
from tests.campaigns.factories import CampaignFactory

pytestmark = pytest.mark.django_db
URL = "/admin/analytics/budgetallocation/"


def _client(django_user_model, group: str) -> Client:
    user = django_user_model.objects.create_user(username=f"u-{group}", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client = Client(HTTP_HOST="brand-a.localhost")
    client.force_login(user)
    return client


@pytest.fixture
def campaigns(brand_a):
    made = [CampaignFactory(name=f"Admin {i}", status=Campaign.Status.ACTIVE) for i in range(2)]
    for i, campaign in enumerate(made):
        seed_curve(campaign, a=1000 * (i + 1), b=80, days=30, seed=i)
    return made


def test_an_editor_proposes_reads_the_lines_and_applies(django_user_model, campaigns):
    client = _client(django_user_model, "CRM editor")
    assert client.get(URL + "add/").status_code == 200
    response = client.post(URL + "add/", {"total": "2000.00", "horizon_days": "30",
                                          "campaigns": [str(c.pk) for c in campaigns]})  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    allocation = BudgetAllocation.objects.get()
    assert allocation.created_by.startswith("user:") and allocation.lines.count() == 2
    page = client.get(f"{URL}{allocation.pk}/change/").content.decode()
    for line in allocation.lines.all():
        assert line.campaign_name in page and line.rationale.split(":")[0] in page
    assert "Apply: write these spend budgets" in page
    response = client.post(f"{URL}{allocation.pk}/change/", {"_apply": "1"}, follow=True)
    assert "applied" in response.content.decode()
    allocation.refresh_from_db()
    assert allocation.status == "applied"
    assert {b.campaign_id: b.limit for b in Budget.objects.all()} == {
        line.campaign_id: line.proposed for line in allocation.lines.all()
    }


def test_the_form_shows_what_cannot_be_allocated(django_user_model, campaigns):
    client = _client(django_user_model, "CRM editor")
    response = client.post(URL + "add/", {"total": "2000.001", "horizon_days": "30",
                                          "campaigns": [str(campaigns[0].pk)]})  # fmt: skip
    assert response.status_code == 200 and "at most 2 decimals" in response.content.decode()
    assert not BudgetAllocation.objects.exists()


def test_a_viewer_reads_but_cannot_propose_or_apply(django_user_model, campaigns):
    allocation = budget_allocation_create(actor="system", total=Decimal(900),
                                          campaigns=[AllocationRequest(c.pk) for c in campaigns])  # fmt: skip
    client = _client(django_user_model, "CRM viewer")
    assert client.get(URL).status_code == 200
    assert client.get(f"{URL}{allocation.pk}/change/").status_code == 200
    assert client.get(URL + "add/").status_code == 403
    client.post(f"{URL}{allocation.pk}/change/", {"_apply": "1"})
    allocation.refresh_from_db()
    assert allocation.status == "proposed"


def test_the_analytics_page_shows_a_campaigns_insights_and_forecast(django_user_model, campaigns):
    campaign = campaigns[1]
    page = _client(django_user_model, "CRM viewer").get(
        f"/admin/analytics/campaigndailyfigures/?days=30&campaign={campaign.pk}"
    )
    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="campaign-insights"' in html and "Over the last 30 days" in html
    assert 'id="campaign-forecast"' in html and "baseline" in html and "marginal ROAS" in html
