"""Thin views of generated content (SPEC §17): generate, list/read drafts, approve, reject, use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from content import selectors, services
from content.models import CHANNELS, Draft
from content.phrases import TONES
from content.wordlists import LOCALES
from core.actors import actor_for
from core.exceptions import ValidationFailed
from core.openapi import AUTH_ERRORS, error_responses
from core.pagination import PagePagination
from core.permissions import IsCrm
from core.staff_permissions import StaffSessionModelPermissions
from notifications.models import Channel


class GenerateSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=Channel.choices)
    brief = serializers.CharField(
        max_length=services.MAX_BRIEF_LENGTH, help_text="What the message is about."
    )
    facts = serializers.DictField(
        child=serializers.JSONField(),
        required=False,
        default=dict,
        help_text='What the copy may state, e.g. {"discount": "20%", "ends_at": "2026-12-24", "product": '
        '"winter boots"}: every number, price, percentage and date in a draft must be one of these.',
    )
    tone = serializers.ChoiceField(choices=TONES, default="friendly")
    variants = serializers.IntegerField(
        min_value=1,
        max_value=50,
        default=1,
        help_text="How many drafts (at most CONTENT_MAX_VARIANTS, 10 by default).",
    )
    locale = serializers.ChoiceField(
        choices=LOCALES, required=False, help_text="Default: the brand's content settings."
    )


class CheckSerializer(serializers.Serializer):
    reason = serializers.CharField()
    passed = serializers.BooleanField()
    detail = serializers.CharField(allow_blank=True)


class FilterReportSerializer(serializers.Serializer):
    passed = serializers.BooleanField()
    failed = serializers.ListField(child=serializers.CharField(), help_text="The reasons that failed.")
    checks = CheckSerializer(many=True)


class DraftOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    generation_id = serializers.IntegerField()
    channel = serializers.ChoiceField(choices=Channel.choices)
    title = serializers.CharField(allow_blank=True)
    body = serializers.CharField(allow_blank=True)
    html = serializers.CharField(allow_blank=True)
    provider = serializers.CharField()
    prompt_hash = serializers.CharField()
    passed = serializers.BooleanField()
    filter_report = FilterReportSerializer()
    status = serializers.ChoiceField(choices=Draft.Status.values)
    decided_by = serializers.CharField(allow_null=True)
    decided_at = serializers.DateTimeField(allow_null=True)
    decision_note = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()


class GenerationOutputSerializer(serializers.Serializer):
    generation_id = serializers.IntegerField()
    channel = serializers.ChoiceField(choices=Channel.choices)
    tone = serializers.CharField()
    locale = serializers.CharField()
    provider = serializers.CharField(help_text="The provider asked first: `openai` or `offline`.")
    model = serializers.CharField(allow_blank=True)
    prompt_hash = serializers.CharField()
    fallback_reason = serializers.CharField(
        allow_null=True,
        help_text="Why the offline provider wrote the drafts instead: timeout, rate_limited, server_error, "
        "bad_json, connection_error, client_error, too_few_drafts; null when it did not stand in.",
    )
    drafts = DraftOutputSerializer(many=True)


class DecisionSerializer(serializers.Serializer):
    note = serializers.CharField(
        max_length=services.MAX_NOTE_LENGTH, required=False, default="", allow_blank=True
    )


class UseSerializer(serializers.Serializer):
    campaign_message_id = serializers.IntegerField(required=False, min_value=1)
    experiment_id = serializers.IntegerField(required=False, min_value=1)
    variant = serializers.CharField(required=False, max_length=50)

    def validate(self, data: dict) -> dict:
        message, experiment = "campaign_message_id" in data, "experiment_id" in data
        if message == experiment:
            raise serializers.ValidationError(
                "Give either campaign_message_id, or experiment_id with variant."
            )
        if experiment and not data.get("variant"):
            raise serializers.ValidationError({"variant": ["The variant key to give this message."]})
        return data


class UseOutputSerializer(serializers.Serializer):
    draft_id = serializers.IntegerField()
    campaign_message_id = serializers.IntegerField(required=False)
    experiment_id = serializers.IntegerField(required=False)
    variant = serializers.CharField(required=False)


class GenerateApi(APIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"POST": ["content.add_draft"]}

    @extend_schema(
        summary="Generate drafts, each with its filter report",
        description="The configured OpenAI-compatible provider writes them, else (or when it fails) the offline "
        "provider. Every draft is checked by the guard rails (channel_length, unknown_template_variable, "
        "invented_fact, disallowed_link, unsafe_html, blocked_term, profanity, misleading_subject) and stored "
        "as `draft`; 201 even when drafts failed the filter (their reports say why).",
        request=GenerateSerializer,
        responses={201: GenerationOutputSerializer, **error_responses(400, *AUTH_ERRORS)},
    )
    def post(self, request: Request) -> Response:
        serializer = GenerateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        generation = services.drafts_generate(
            channel=data["channel"],
            brief=data["brief"],
            facts=data["facts"],
            tone=data["tone"],
            variants=data["variants"],
            locale=data.get("locale"),
            actor=actor_for(request.user),
        )
        return Response(selectors.generation_data(generation), status=status.HTTP_201_CREATED)


class DraftsApi(GenericAPIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"GET": ["content.view_draft"]}
    serializer_class = DraftOutputSerializer
    pagination_class = PagePagination
    queryset = Draft.objects.none()  # for the schema

    @extend_schema(
        summary="Drafts, newest first",
        parameters=[
            OpenApiParameter("status", str, enum=Draft.Status.values, required=False),
            OpenApiParameter("channel", str, enum=Channel.values, required=False),
            OpenApiParameter("passed", bool, required=False),
            OpenApiParameter("generation", int, required=False),
        ],
        responses={200: DraftOutputSerializer(many=True), **error_responses(400, *AUTH_ERRORS)},
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        errors: dict[str, list[str]] = {}
        if params.get("status", "") not in ("", *Draft.Status.values):
            errors["status"] = [f"One of {', '.join(Draft.Status.values)}."]
        if params.get("channel", "") not in ("", *CHANNELS):
            errors["channel"] = [f"One of {', '.join(CHANNELS)}."]
        passed_text = params.get("passed", "").lower()
        if passed_text not in ("", "true", "false"):
            errors["passed"] = ["true or false."]
        generation = params.get("generation", "")
        if generation and not (generation.isascii() and generation.isdigit() and len(generation) < 18):
            errors["generation"] = ["A generation id."]
        if errors:
            raise ValidationFailed(errors)
        rows = selectors.drafts_list(
            status=params.get("status", ""),
            channel=params.get("channel", ""),
            passed=None if not passed_text else passed_text == "true",
            generation_id=int(generation) if generation else None,
        )
        page = self.paginate_queryset(rows)
        return self.get_paginated_response([selectors.draft_data(d) for d in page])


class DraftDetailApi(APIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"GET": ["content.view_draft"]}

    @extend_schema(
        summary="A draft with its filter report",
        responses={200: DraftOutputSerializer, **error_responses(404, *AUTH_ERRORS)},
    )
    def get(self, request: Request, draft_id: int) -> Response:
        return Response(selectors.draft_data(selectors.draft_get(draft_id=draft_id)))


class _DraftDecisionApi(APIView):
    """Approve and reject: the same request (an optional note), the same answer; one service each."""

    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"POST": ["content.change_draft"]}
    decide: Callable[..., Any]

    def _decision(self, request: Request, draft_id: int) -> Response:
        selectors.draft_get(draft_id=draft_id)  # 404 before the body is read
        serializer = DecisionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        draft = type(self).decide(
            draft_id=draft_id, actor=actor_for(request.user), note=serializer.validated_data["note"]
        )
        return Response(selectors.draft_data(draft))


class DraftApproveApi(_DraftDecisionApi):
    decide = staticmethod(services.draft_approve)

    @extend_schema(
        summary="Approve a draft",
        description="Only a draft that passed every guard rail: 409 `draft_failed_filter` otherwise, 409 "
        "`draft_decided` when it was approved or rejected already. An audit event.",
        request=DecisionSerializer,
        responses={200: DraftOutputSerializer, **error_responses(400, 404, 409, *AUTH_ERRORS)},
    )
    def post(self, request: Request, draft_id: int) -> Response:
        return self._decision(request, draft_id)


class DraftRejectApi(_DraftDecisionApi):
    decide = staticmethod(services.draft_reject)

    @extend_schema(
        summary="Reject a draft",
        description="409 `draft_decided` when it was approved or rejected already. An audit event.",
        request=DecisionSerializer,
        responses={200: DraftOutputSerializer, **error_responses(400, 404, 409, *AUTH_ERRORS)},
    )
    def post(self, request: Request, draft_id: int) -> Response:
        return self._decision(request, draft_id)


class DraftUseApi(APIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"POST": ["content.change_draft"]}

    @extend_schema(
        summary="Use an approved draft as a template or an experiment variant",
        description='`{"campaign_message_id"}`: the draft becomes that campaign message\'s template for the '
        'draft\'s channel (the message must not have started). `{"experiment_id", "variant"}`: a push draft '
        "becomes that variant's message (no customer may have seen the variant yet). 409 "
        "`draft_not_approved` unless the draft is approved.",
        request=UseSerializer,
        responses={200: UseOutputSerializer, **error_responses(400, 404, 409, *AUTH_ERRORS)},
    )
    def post(self, request: Request, draft_id: int) -> Response:
        selectors.draft_get(draft_id=draft_id)  # 404 before the body is read
        serializer = UseSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        actor = actor_for(request.user)
        if "campaign_message_id" in data:
            message = services.draft_use_in_campaign_message(
                draft_id=draft_id, campaign_message_id=data["campaign_message_id"], actor=actor
            )
            return Response({"draft_id": draft_id, "campaign_message_id": message.pk})
        variant = services.draft_use_in_variant(
            draft_id=draft_id, experiment_id=data["experiment_id"], variant_key=data["variant"], actor=actor
        )
        return Response(
            {"draft_id": draft_id, "experiment_id": variant.experiment_id, "variant": variant.key}
        )
