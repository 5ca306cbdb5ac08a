from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.models import Campaign
from core.permissions import IsCrm
from monitoring.campaign_stats import campaign_stats

_counts = serializers.DictField(child=serializers.IntegerField())


class CampaignStatsApi(APIView):
    """Evaluations, dispatches, awards and notifications of one campaign."""

    permission_classes = [IsCrm]

    @extend_schema(
        responses=inline_serializer(
            "CampaignStats",
            {
                "evaluated": serializers.IntegerField(),
                "eligible": serializers.IntegerField(),
                "ineligible": _counts,
                "eligible_value": serializers.DecimalField(max_digits=20, decimal_places=4),
                "dispatches": _counts,
                "awards": serializers.IntegerField(),
                "notifications": _counts,
            },
        )
    )
    def get(self, request: Request, campaign_id: int) -> Response:
        campaign = get_object_or_404(Campaign, pk=campaign_id)
        return Response(campaign_stats(campaign=campaign))
