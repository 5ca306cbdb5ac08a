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
    """Documents `Authorization: Api-Key <key>` (accounts.authentication.ApiKeyAuthentication)."""

    target_class = "accounts.authentication.ApiKeyAuthentication"
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


# --- Every API operation documents the errors any API view can answer (ADR 0009) ---------------
# DRF answers 401/403/429 from authentication, permissions and throttling, 404 for an unknown id
# or page, 400 for bad input, 409/413/415 on writes, and core.middleware answers 503 while the
# database is unreachable; a view that does not list them itself still answers them. Clients
# (and the schemathesis suite in tests/resilience) rely on the document listing every status.
_ALWAYS = (401, 403, 404, 429, 503)
_WITH_INPUT = (400,)
_ON_WRITE = (400, 409, 413, 415)
_DESCRIPTIONS = {
    415: "Unsupported media type (send `application/json`).",
    503: "The database is unreachable for a moment: retry after `Retry-After` seconds.",
}
_ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": {}},
            },
            "required": ["code", "message", "fields"],
        }
    },
    "required": ["error"],
}


def document_error_responses(result: dict, generator, request, public) -> dict:
    """drf-spectacular postprocessing hook: add the standard error responses an operation lacks."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("ErrorResponse", _ERROR_SCHEMA)
    reference = {"$ref": "#/components/schemas/ErrorResponse"}
    descriptions = {
        400: "Validation error: `error.fields` names each bad field.",
        401: "Missing, invalid or revoked API key (or a key of another brand).",
        403: "The key's role may not use this endpoint.",
        404: "Not found in this brand (or no such page).",
        409: "State conflict (e.g. a lifecycle transition not allowed from the current status).",
        413: "Request body too large.",
        429: "Throttled: retry after `Retry-After` seconds.",
    } | _DESCRIPTIONS
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            statuses = set(_ALWAYS)
            if operation.get("parameters") or operation.get("requestBody"):
                statuses |= set(_WITH_INPUT)
            if method != "get":
                statuses |= set(_ON_WRITE)
            responses = operation.setdefault("responses", {})
            for status in sorted(statuses):
                responses.setdefault(
                    str(status),
                    {
                        "content": {"application/json": {"schema": reference}},
                        "description": descriptions[status],
                    },
                )
    return result
