"""`GET /api/v1/audit-events/` (SPEC §18): the brand's audit trail, newest first, filtered."""

from __future__ import annotations

import django_filters
from django import forms
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from core.models import AuditEvent
from core.openapi import AUTH_ERRORS, error_responses
from core.permissions import IsCrm
from core.staff_permissions import StaffSessionModelPermissions

VIEW_AUDIT_EVENT = "core.view_auditevent"


class ChangeSerializer(serializers.Serializer):
    before = serializers.JSONField(allow_null=True, help_text="The value before; `null` on creation.")
    after = serializers.JSONField(allow_null=True, help_text="The value after; `null` on deletion.")


class AuditEventSerializer(serializers.ModelSerializer):
    changes = serializers.DictField(
        child=ChangeSerializer(),
        read_only=True,
        help_text='The fields that changed: `{"name": {"before": "A", "after": "B"}}`. Decimals are '
        'text, times UTC ISO 8601, related objects by name or slug, secrets `"[redacted]"`.',
    )

    class Meta:
        model = AuditEvent
        fields = ["id", "at", "actor", "action", "object_type", "object_id", "changes", "request_id"]
        extra_kwargs = {
            "actor": {"help_text": "`user:<username>`, `api-key:<key name>` or `system`."},
            "action": {"help_text": "What happened, e.g. `campaign.activated`, `partner.secret_rotated`."},
            "object_type": {"help_text": "The changed object's model, e.g. `campaigns.campaign`."},
            "object_id": {"help_text": "The changed object's id (as text)."},
            "request_id": {"help_text": "The `X-Request-ID` of the request that made the change, if any."},
        }


class AuditEventFilterForm(forms.Form):
    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("from"), cleaned.get("to")
        if start and end and start >= end:
            self.add_error("to", "Must be later than `from`.")
        return cleaned


class AuditEventFilter(django_filters.FilterSet):
    object_type = django_filters.CharFilter(
        help_text="Only events about this model, e.g. `campaigns.campaign`."
    )
    object_id = django_filters.CharFilter(help_text="Only events about the object with this id.")
    actor = django_filters.CharFilter(help_text="Only events by this actor, e.g. `user:alice`.")
    action = django_filters.CharFilter(help_text="Only this action, e.g. `partner.secret_rotated`.")

    class Meta:
        model = AuditEvent
        fields = ["object_type", "object_id", "actor", "action"]
        form = AuditEventFilterForm


# `from` is a Python keyword, so the two time filters are named after the class is built.
AuditEventFilter.base_filters["from"] = django_filters.IsoDateTimeFilter(
    field_name="at", lookup_expr="gte", help_text="Events at or after this time (ISO 8601)."
)
AuditEventFilter.base_filters["to"] = django_filters.IsoDateTimeFilter(
    field_name="at", lookup_expr="lt", help_text="Events before this time (ISO 8601; not included)."
)


class AuditEventListApi(ListAPIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"GET": [VIEW_AUDIT_EVENT]}
    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilter
    queryset = AuditEvent.objects.all()

    @extend_schema(
        summary="The audit trail",
        description="Every state change a person, an API key or the platform (`system`) made in this "
        "brand, newest first: who, what, which object, the changed fields before → after. Time window "
        "`from` ≤ at < `to`; an unparsable time, or `to` not after `from`, is 400.",
        responses={200: AuditEventSerializer(many=True), **error_responses(400, *AUTH_ERRORS)},
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)
