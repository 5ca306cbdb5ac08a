"""Thin views of experiments (SPEC §16): create, assign (ingest), results, conclude."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.models import Campaign
from core.actors import actor_for
from core.exceptions import NotFoundError
from core.openapi import AUTH_ERRORS, error_responses
from core.permissions import IsCrm, IsIngest
from core.staff_permissions import StaffSessionModelPermissions
from experiments import selectors, services
from experiments.serializers import AssignSerializer, ConcludeSerializer, ExperimentCreateSerializer


class CampaignExperimentsApi(APIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"POST": ["experiments.add_experiment"]}

    @extend_schema(
        summary="Start an A/B experiment of a campaign",
        description="Variants (`key`, `weight`, `overrides` of the message `title`/`body` or the reward "
        "`type`/`value`/`description`; the first variant is the control), `coverage` (0–1), `primary_metric` "
        "(`conversion_rate` | `ctr`), `confidence` (default 0.95), `min_sample_per_variant` (default 1000). "
        "201 with the experiment; 409 when the campaign already runs one.",
        request=ExperimentCreateSerializer,
        responses={201: OpenApiTypes.OBJECT, **error_responses(400, 404, 409, *AUTH_ERRORS)},
    )
    def post(self, request: Request, campaign_id: int) -> Response:
        campaign = Campaign.objects.filter(pk=campaign_id).first()
        if campaign is None:
            raise NotFoundError(f"No campaign {campaign_id}.", code="not_found")
        serializer = ExperimentCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        experiment = services.experiment_create(
            campaign=campaign,
            variants=serializer.specs(),
            actor=actor_for(request.user),
            name=data["name"],
            coverage=data["coverage"],
            primary_metric=data["primary_metric"],
            confidence=data["confidence"],
            min_sample_per_variant=data["min_sample_per_variant"],
        )
        return Response(selectors.experiment_data(experiment), status=status.HTTP_201_CREATED)


class ExperimentAssignApi(APIView):
    permission_classes = [IsIngest, StaffSessionModelPermissions]
    required_model_permissions = {"POST": ["experiments.view_experiment"]}

    @extend_schema(
        summary="The customer's variant (sticky)",
        description='`{"customer_id"}` → `{"variant"}`: the same answer every time; `null` outside the '
        "coverage (show the campaign as is). After `conclude`, the winner for everyone.",
        request=AssignSerializer,
        responses={200: OpenApiTypes.OBJECT, **error_responses(400, 404, *AUTH_ERRORS)},
    )
    def post(self, request: Request, experiment_id: int) -> Response:
        serializer = AssignSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        experiment = selectors.experiment_get(experiment_id=experiment_id)
        variant = services.experiment_assign(
            experiment=experiment, customer_id=serializer.validated_data["customer_id"]
        )
        return Response({"variant": variant})


class ExperimentResultsApi(APIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"GET": ["experiments.view_experiment"]}

    @extend_schema(
        summary="Results of an experiment",
        description="Per variant: exposures, conversions (clicks for `ctr`), rate with its 95 % Wilson interval, "
        "lift vs the control, p-value (two-proportion z; Holm-corrected with more than two arms), Cohen's h, "
        "P(best) from Beta posteriors; the sample-ratio check; a recommendation: `winner: B`, "
        "`keep running: needs ~N more per variant` or `no difference`.",
        responses={200: OpenApiTypes.OBJECT, **error_responses(404, *AUTH_ERRORS)},
    )
    def get(self, request: Request, experiment_id: int) -> Response:
        experiment = selectors.experiment_get(experiment_id=experiment_id)
        results = selectors.experiment_results(experiment=experiment)
        return Response(selectors.results_data(experiment, results))


class ExperimentConcludeApi(APIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"POST": ["experiments.change_experiment"]}

    @extend_schema(
        summary="Conclude: roll the winner out to everyone",
        description='Optional `{"winner": "B"}`; default the results\' winner (409 `no_winner` when there is '
        "none). The winner's overrides become the campaign's reward and message; assign answers the winner "
        "for every customer from now on. 409 when already concluded.",
        request=ConcludeSerializer,
        responses={200: OpenApiTypes.OBJECT, **error_responses(400, 404, 409, *AUTH_ERRORS)},
    )
    def post(self, request: Request, experiment_id: int) -> Response:
        serializer = ConcludeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        selectors.experiment_get(experiment_id=experiment_id)
        experiment = services.experiment_conclude(
            experiment_id=experiment_id,
            actor=actor_for(request.user),
            winner=serializer.validated_data.get("winner"),
        )
        return Response(selectors.experiment_data(experiment))
