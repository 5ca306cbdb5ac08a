"""Campaign stats (SPEC §2 `GET /campaigns/{id}/stats/`): a selector over the campaign's rows.

Each figure is one aggregate query over indexed columns of this campaign. The evaluation figures come
from `monitoring.selectors.evaluation_totals`, the selector the dashboards read too.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count

from awards.selectors import award_count
from campaigns.models import Campaign
from dispatches.models import Dispatch
from monitoring.selectors import evaluation_totals
from notifications.selectors import notification_status_counts

DISPATCH_STATUSES = [choice.value for choice in Dispatch.Status]


def campaign_stats(*, campaign: Campaign) -> dict[str, Any]:
    totals = evaluation_totals(campaigns=[campaign])[campaign.pk]
    dispatches = dict.fromkeys(DISPATCH_STATUSES, 0) | dict(
        Dispatch.objects.filter(campaign=campaign)
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by("status")
    )

    return {
        "evaluated": totals.evaluated,
        "eligible": totals.eligible,
        "ineligible": totals.ineligible,
        "eligible_value": totals.eligible_value_str,
        "dispatches": dispatches,
        "awards": award_count(campaign_id=campaign.pk),
        "notifications": notification_status_counts(campaign_id=campaign.pk),
    }
