"""The hourly rollup equals the raw rows; refreshing is idempotent; vanished rows go; old hours stay."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncHour
from django.utils import timezone

from dispatches.models import DispatchAttempt
from monitoring.models import CampaignHourlyRollup
from monitoring.rollups import hour_floor, rollup_refresh
from monitoring.tasks import monitoring_tick_task
from purchases.models import Evaluation
from tests.campaigns.factories import CampaignFactory
from tests.monitoring.conftest import add_attempts, add_award, add_evaluation


def _rollup(campaign) -> dict:
    return {
        row["hour"]: row
        for row in CampaignHourlyRollup.objects.filter(campaign=campaign).values(
            "hour", "evaluated", "eligible", "eligible_value", "dispatch_sent", "dispatch_retry",
            "dispatch_dead", "awards", "notifications_sent", "notifications_failed",
        )
    }  # fmt: skip


def _seed(campaign, now):
    h0, h1, h2 = hour_floor(now), hour_floor(now) - timedelta(hours=1), hour_floor(now) - timedelta(hours=2)
    for minute in (1, 10, 20):
        add_evaluation(campaign, h2 + timedelta(minutes=minute), eligible=True, value="12.50")
    add_evaluation(campaign, h2 + timedelta(minutes=30), eligible=False)
    add_evaluation(campaign, h1 + timedelta(minutes=5), eligible=True, value="7.25")
    add_evaluation(campaign, h0, eligible=False)
    add_attempts(campaign, h2 + timedelta(minutes=2), ["sent"])
    add_attempts(campaign, h2 + timedelta(minutes=3), ["retry", "retry"])
    add_attempts(campaign, h1 + timedelta(minutes=59, seconds=58), ["retry", "dead"])  # crosses the hour
    add_award(campaign, h2 + timedelta(minutes=4), notification="sent", notified_at=h1 + timedelta(minutes=1))
    add_award(
        campaign, h1 + timedelta(minutes=4), notification="failed", notified_at=h1 + timedelta(minutes=6)
    )
    add_award(campaign, h0 + timedelta(seconds=1))
    return h0, h1, h2


def test_rollup_figures_equal_the_raw_rows(active_campaign):
    now = timezone.now()
    h0, h1, h2 = _seed(active_campaign, now)

    rollup_refresh(since=h2, now=now)

    rows = _rollup(active_campaign)
    raw_evaluations = {
        row["hour"]: row
        for row in Evaluation.objects.filter(campaign=active_campaign)
        .annotate(hour=TruncHour("evaluated_at"))
        .values("hour")
        .annotate(
            n=Count("id"),
            eligible_n=Count("id", filter=Q(eligible=True)),
            value=Sum("eligible_value", filter=Q(eligible=True)),
        )
    }
    raw_attempts = {
        row["hour"]: row
        for row in DispatchAttempt.objects.filter(dispatch__campaign=active_campaign)
        .annotate(hour=TruncHour("attempted_at"))
        .values("hour")
        .annotate(
            sent=Count("id", filter=Q(outcome="sent")),
            retry=Count("id", filter=Q(outcome="retry")),
            dead=Count("id", filter=Q(outcome="dead")),
        )
    }
    assert set(rows) == {h0, h1, h2}
    for hour, row in rows.items():
        evaluations = raw_evaluations.get(hour, {})
        attempts = raw_attempts.get(hour, {})
        assert row["evaluated"] == evaluations.get("n", 0)
        assert row["eligible"] == evaluations.get("eligible_n", 0)
        assert row["eligible_value"] == (evaluations.get("value") or Decimal(0))
        assert row["dispatch_sent"] == attempts.get("sent", 0)
        assert row["dispatch_retry"] == attempts.get("retry", 0)
        assert row["dispatch_dead"] == attempts.get("dead", 0)
    # And the figures themselves, worked out by hand.
    assert (rows[h2]["evaluated"], rows[h2]["eligible"], rows[h2]["eligible_value"]) == (
        4,
        3,
        Decimal("37.5"),
    )
    assert (rows[h2]["dispatch_sent"], rows[h2]["dispatch_retry"], rows[h2]["dispatch_dead"]) == (1, 2, 0)
    assert (rows[h1]["dispatch_retry"], rows[h1]["dispatch_dead"]) == (1, 0)
    assert (rows[h0]["dispatch_dead"], rows[h0]["evaluated"], rows[h0]["eligible"]) == (1, 1, 0)
    assert [rows[h]["awards"] for h in (h2, h1, h0)] == [1, 1, 1]
    assert (rows[h1]["notifications_sent"], rows[h1]["notifications_failed"]) == (1, 1)
    assert rows[h2]["notifications_sent"] == 0


def test_refresh_is_idempotent_and_drops_rows_the_raw_data_no_longer_supports(active_campaign):
    now = timezone.now()
    h0, h1, h2 = _seed(active_campaign, now)
    rollup_refresh(since=h2, now=now)
    first = _rollup(active_campaign)

    assert rollup_refresh(since=h2, now=now)[1] == 0
    assert _rollup(active_campaign) == first

    Evaluation.objects.filter(campaign=active_campaign, evaluated_at__gte=h1, evaluated_at__lt=h0).delete()
    add_evaluation(active_campaign, h0 + timedelta(seconds=2), eligible=True, value="1.00")
    rollup_refresh(since=h2, now=now)
    rows = _rollup(active_campaign)
    assert rows[h1]["evaluated"] == 0  # the hour stays: it still has attempts and awards
    assert (rows[h0]["evaluated"], rows[h0]["eligible"], rows[h0]["eligible_value"]) == (
        2,
        1,
        Decimal("1.00"),
    )

    other = CampaignFactory(status="active", partner=active_campaign.partner)
    add_evaluation(other, h1 + timedelta(minutes=1), eligible=True)
    rollup_refresh(since=h2, now=now)
    assert set(_rollup(other)) == {h1}
    other.evaluations.all().delete()
    rollup_refresh(since=h2, now=now)
    assert _rollup(other) == {}


def test_hours_before_the_window_are_left_alone(active_campaign):
    """The archive purges raw rows of old campaigns; their hourly history must survive the next ticks."""
    now = timezone.now()
    old_hour = hour_floor(now) - timedelta(days=3)
    add_evaluation(active_campaign, old_hour + timedelta(minutes=1), eligible=True, value="3.00")
    rollup_refresh(since=old_hour, now=now)
    Evaluation.objects.filter(campaign=active_campaign).delete()

    monitoring_tick_task.run()  # the default window: the last MONITORING_ROLLUP_HOURS hours

    assert _rollup(active_campaign)[old_hour]["evaluated"] == 1


def test_refresh_rollups_command_backfills_a_brand(active_campaign, capsys):
    import pytest
    from django.core.management import CommandError, call_command

    week_ago = hour_floor(timezone.now()) - timedelta(days=7)
    add_evaluation(active_campaign, week_ago + timedelta(minutes=5), eligible=True, value="4.00")
    call_command("refresh_rollups", "--schema", "brand_a", "--hours", str(24 * 8))
    assert _rollup(active_campaign)[week_ago]["eligible_value"] == Decimal("4.00")
    assert "brand_a: 1 hourly row(s) written" in capsys.readouterr().out
    with pytest.raises(CommandError):
        call_command("refresh_rollups", "--schema", "nope")
