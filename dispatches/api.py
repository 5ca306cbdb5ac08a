"""Dispatch audit and dead-letter replay (SPEC §2: `GET /dispatches/`, `POST /dispatches/{id}/replay/`)."""

from __future__ import annotations

import uuid

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actors import actor_for
from core.permissions import IsCrm
from dispatches.models import Dispatch
from dispatches.selectors import dispatch_get, dispatch_list
from dispatches.serializers import DispatchDetailSerializer, DispatchSerializer
from dispatches.services import dispatch_replay


class DispatchFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Dispatch.Status.choices)
    campaign = django_filters.NumberFilter(field_name="campaign_id")
    partner = django_filters.CharFilter(field_name="partner__slug")

    class Meta:
        model = Dispatch
        fields = ["status", "campaign", "partner"]


class DispatchListApi(ListAPIView):
    """Dispatches newest first; `?status=dead` is the dead-letter queue."""

    permission_classes = [IsCrm]
    serializer_class = DispatchSerializer
    filterset_class = DispatchFilter

    def get_queryset(self):
        return dispatch_list()


class DispatchDetailApi(APIView):
    permission_classes = [IsCrm]

    @extend_schema(responses=DispatchDetailSerializer)
    def get(self, request: Request, dispatch_id: uuid.UUID) -> Response:
        return Response(DispatchDetailSerializer(dispatch_get(dispatch_id=dispatch_id)).data)


class DispatchReplayApi(APIView):
    """A dead dispatch → pending, sent again with the same webhook-id / Idempotency-Key. Else 409."""

    permission_classes = [IsCrm]

    @extend_schema(request=None, responses=DispatchDetailSerializer)
    def post(self, request: Request, dispatch_id: uuid.UUID) -> Response:
        dispatch_replay(dispatch_id=dispatch_id, actor=actor_for(request.user))
        return Response(DispatchDetailSerializer(dispatch_get(dispatch_id=dispatch_id)).data)
