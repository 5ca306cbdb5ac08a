"""Shared OpenAPI pieces: the error body of SPEC §2 and the standard error responses."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable code, e.g. `invalid`, `invalid_transition`.")
    message = serializers.CharField(help_text="What went wrong, for a person.")
    fields = serializers.DictField(
        help_text="Per-field messages (validation errors); `{}` otherwise.",
        child=serializers.JSONField(),
    )


class ErrorResponseSerializer(serializers.Serializer):
    """`{"error": {"code", "message", "fields"}}` — every error of the API."""

    error = ErrorDetailSerializer()

    class Meta:
        ref_name = "ErrorResponse"


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """`responses={**error_responses(400, 404)}` for `extend_schema`."""
    descriptions = {
        400: "Validation error: `error.fields` names each bad field.",
        401: "Missing, invalid or revoked API key (or a key of another brand).",
        403: "The key's role may not use this endpoint.",
        404: "Not found in this brand.",
        409: "State conflict (e.g. a lifecycle transition not allowed from the current status).",
        413: "Request body too large.",
        429: "Throttled.",
    }
    return {
        status: OpenApiResponse(ErrorResponseSerializer, description=descriptions.get(status, "Error."))
        for status in statuses
    }


AUTH_ERRORS = (401, 403, 429)


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """Documents `Authorization: Api-Key <key>` (core.authentication.ApiKeyAuthentication)."""

    target_class = "core.authentication.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <key>`: a key of this brand (`manage.py create_api_key`). "
            "A key of another "
            "brand is 401.",
        }
