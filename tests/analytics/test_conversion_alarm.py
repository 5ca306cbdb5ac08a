"""Performance alert: a running campaign whose conversion rate falls below a fraction of its first week's."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from analytics.models import CampaignDailyFigures
from campaigns.models import Campaign
from monitoring.alarms.models import Alarm, AlarmRule
from monitoring.alarms.services import alarms_evaluate, conversion_subject
from monitoring.health import health_refresh
from tests.campaigns.factories import CampaignFactory

pytestmark = pytest.mark.django_db


def _day(campaign, day, clicks, conversions):
    CampaignDailyFigures.objects.create(campaign=campaign, day=day, clicks=clicks, conversions=conversions,
                                        impressions=clicks * 10)  # fmt: skip


def test_conversion_drop_fires_and_clears(brand_a):
    AlarmRule.objects.all().delete()
    rule = AlarmRule.objects.create(name="conversion drop", kind=AlarmRule.Kind.CONVERSION_DROP,
                                    threshold=Decimal("0.5"), window_minutes=3 * 24 * 60, min_attempts=50)  # fmt: skip
    today = timezone.now().date()
    start = timezone.now() - timedelta(days=20)
    falling = CampaignFactory(status=Campaign.Status.ACTIVE, starts_at=start)
    steady = CampaignFactory(status=Campaign.Status.ACTIVE, starts_at=start)
    quiet = CampaignFactory(status=Campaign.Status.ACTIVE, starts_at=start)  # too few clicks to judge
    paused = CampaignFactory(status=Campaign.Status.PAUSED, starts_at=start)
    first = start.date()
    for offset in range(7):
        _day(falling, first + timedelta(days=offset), 100, 10)  # first week: 10 %
        _day(steady, first + timedelta(days=offset), 100, 10)
        _day(quiet, first + timedelta(days=offset), 5, 1)
        _day(paused, first + timedelta(days=offset), 100, 10)
    for offset in range(3):
        day = today - timedelta(days=offset)
        _day(falling, day, 100, 4)  # 4 %: 0.4 of the first week's
        _day(steady, day, 100, 9)  # 0.9
        _day(quiet, day, 5, 0)
        _day(paused, day, 100, 0)
    changed = alarms_evaluate(brand=brand_a, snapshot=health_refresh())
    assert [(a.rule_id, a.partner_slug, a.fired_value) for a in changed] == [
        (rule.pk, conversion_subject(falling.pk), Decimal("0.4000"))
    ]
    # Recovered: the recent days convert again → the alarm clears.
    CampaignDailyFigures.objects.filter(campaign=falling, day__gt=today - timedelta(days=3)).update(
        conversions=9
    )
    alarms_evaluate(brand=brand_a, snapshot=health_refresh())
    alarm = Alarm.objects.get(rule=rule)
    assert alarm.cleared_at is not None
