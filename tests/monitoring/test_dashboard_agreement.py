"""The dashboards agree with the API: the overview, the campaign dashboard and `/stats/` show the same
evaluated, eligible, ineligible-per-reason and eligible-value figures for the same rows.

The rows are laid out the way the pages used to disagree: an hour the rollup tick never recomputed
(older than its look-back window) and a purchase evaluated after the last tick. Rollup sums miss both;
the one selector the three read (`monitoring.selectors.evaluation_totals`) does not.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from campaigns.models import Campaign
from monitoring.health import health_refresh
from monitoring.rollups import rollup_refresh
from monitoring.selectors import campaign_totals
from tests.campaigns.factories import CampaignFactory
from tests.monitoring.conftest import add_evaluation
from tests.partners.factories import PartnerFactory
from tests.support.html import elements, text_by_id, texts_by_class_within

HOST = "brand-a.localhost"
OVERVIEW = "/admin/monitoring/campaignhourlyrollup/"


def _ineligible(campaign, at, reason: str, n: int) -> None:
    for _ in range(n):
        evaluation = add_evaluation(campaign, at, eligible=False)
        type(evaluation).objects.filter(pk=evaluation.pk).update(reason=reason)


@pytest.fixture
def laid_out(brand_a):
    now = timezone.now()
    eur = CampaignFactory(
        name="Agreement EUR", currency="EUR", status=Campaign.Status.ACTIVE, partner=PartnerFactory()
    )
    jpy = CampaignFactory(
        name="Agreement JPY", currency="JPY", status=Campaign.Status.ACTIVE, partner=PartnerFactory()
    )
    # Five hours ago: outside the tick's look-back (MONITORING_ROLLUP_HOURS = 2), never rolled up.
    add_evaluation(eur, now - timedelta(hours=5), eligible=True, value="1000.00")
    for value in ("33.335", "33.335", "33.335"):  # 100.005 EUR, half up: 100.01
        add_evaluation(eur, now - timedelta(minutes=30), eligible=True, value=value)
    _ineligible(eur, now - timedelta(minutes=20), "below_minimum", 1)
    _ineligible(eur, now - timedelta(minutes=20), "outside_validity", 2)
    for value in ("1500", "2"):
        add_evaluation(jpy, now - timedelta(minutes=10), eligible=True, value=value)
    rollup_refresh()  # the periodic tick's own window
    health_refresh()
    # Evaluated after the tick: the rollup does not have it yet.
    add_evaluation(eur, timezone.now(), eligible=True, value="0.50")
    _ineligible(jpy, timezone.now(), "currency_mismatch", 1)
    return {
        eur.pk: {"evaluated": 8, "eligible": 5, "eligible_value": "1100.51",
                 "ineligible": {"below_minimum": 1, "outside_validity": 2}},
        jpy.pk: {"evaluated": 3, "eligible": 2, "eligible_value": "1502", "ineligible": {"currency_mismatch": 1}},
    }  # fmt: skip


def _viewer(django_user_model) -> Client:
    user = django_user_model.objects.create_user("agreement-viewer", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="CRM viewer"))
    client = Client(HTTP_HOST=HOST)
    client.force_login(user)
    return client


def _figures_on_overview(html: str, campaign: Campaign) -> dict:
    cells = texts_by_class_within(html, attr="data-campaign-id", value=str(campaign.pk))
    value, currency = cells["overview-eligible-value"].split()
    assert currency == campaign.currency
    return {"evaluated": int(cells["overview-evaluated"]), "eligible": int(cells["overview-eligible"]),
            "eligible_value": value}  # fmt: skip


def _figures_on_campaign_page(html: str, campaign: Campaign) -> dict:
    cards = text_by_id(html)
    value, currency = cards["lifetime-eligible-value"].split()
    assert currency == campaign.currency
    reasons = {}
    for element in elements(html):
        reason = element["attrs"].get("data-reason")
        if element["tag"] == "tr" and reason:
            reasons[reason] = int(element["text"].split()[-1])
    return {"evaluated": int(cards["lifetime-evaluated"]), "eligible": int(cards["lifetime-eligible"]),
            "eligible_value": value, "ineligible": reasons}  # fmt: skip


def test_overview_campaign_dashboard_and_stats_show_the_same_totals(
    django_user_model, make_api_client, laid_out
):
    client = _viewer(django_user_model)
    api = make_api_client("brand_a", "crm")
    # The layout reproduces the disagreement: summed from the rollup, the EUR campaign has 100.01.
    eur = Campaign.objects.get(name="Agreement EUR")
    assert campaign_totals(campaign=eur).eligible_value == Decimal("100.01")

    overview = client.get(OVERVIEW)
    assert overview.status_code == 200
    overview_html = overview.content.decode()

    for campaign_id, expected in laid_out.items():
        campaign = Campaign.objects.get(pk=campaign_id)
        stats = api.get(f"/api/v1/campaigns/{campaign_id}/stats/").json()
        page = client.get(f"{OVERVIEW}campaign/{campaign_id}/")
        assert page.status_code == 200
        on_page = _figures_on_campaign_page(page.content.decode(), campaign)
        on_overview = _figures_on_overview(overview_html, campaign)

        from_api = {key: stats[key] for key in ("evaluated", "eligible", "eligible_value", "ineligible")}
        assert from_api == expected
        assert on_page == expected
        assert on_overview == {key: expected[key] for key in ("evaluated", "eligible", "eligible_value")}


def test_pages_say_when_their_rollup_figures_were_computed(django_user_model, laid_out):
    client = _viewer(django_user_model)
    computed_at = health_refresh().computed_at
    stamp = f"as of {computed_at:%H:%M} UTC"
    for url in (OVERVIEW, f"{OVERVIEW}campaign/{next(iter(laid_out))}/"):
        freshness = text_by_id(client.get(url).content.decode())["figures-freshness"]
        assert stamp in freshness and "refreshed every minute" in freshness, freshness


def test_the_campaign_dashboard_explains_each_ineligibility_reason(django_user_model, laid_out):
    client = _viewer(django_user_model)
    eur_id = next(iter(laid_out))
    rows = [
        element["text"]
        for element in elements(client.get(f"{OVERVIEW}campaign/{eur_id}/").content.decode())
        if element["tag"] == "tr" and element["attrs"].get("data-reason")
    ]
    assert rows == [
        "Below the minimum purchase value below_minimum 1",
        "Purchased outside the campaign dates outside_validity 2",
    ]
