"""Campaign stats (SPEC §2 `GET /campaigns/{id}/stats/`): a selector over the campaign's rows.

Each figure is one aggregate query over indexed columns of this campaign.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, Sum

from awards.selectors import award_count
from campaigns.models import Campaign
from core.money import money_str
from dispatches.models import Dispatch
from notifications.selectors import notification_status_counts
from purchases.models import Evaluation

DISPATCH_STATUSES = [choice.value for choice in Dispatch.Status]


def campaign_stats(*, campaign: Campaign) -> dict[str, Any]:
    evaluations = Evaluation.objects.filter(campaign=campaign)
    totals = evaluations.aggregate(
        n_evaluated=Count("id"),
        n_eligible=Count("id", filter=Q(eligible=True)),
        value_sum=Sum("eligible_value", filter=Q(eligible=True)),
    )
    ineligible = dict(
        evaluations.filter(eligible=False).values_list("reason").annotate(n=Count("id")).order_by("reason")
    )
    dispatches = dict.fromkeys(DISPATCH_STATUSES, 0) | dict(
        Dispatch.objects.filter(campaign=campaign)
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by("status")
    )

    return {
        "evaluated": totals["n_evaluated"],
        "eligible": totals["n_eligible"],
        "ineligible": ineligible,
        "eligible_value": money_str(totals["value_sum"] or Decimal(0), campaign.currency),
        "dispatches": dispatches,
        "awards": award_count(campaign_id=campaign.pk),
        "notifications": notification_status_counts(campaign_id=campaign.pk),
    }
