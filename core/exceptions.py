"""The one application error type and the DRF handler that renders SPEC §2 errors.

Every error leaves the API as
``{"error": {"code": "...", "message": "...", "fields": {...}}}``.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    """A business-rule failure a client can act on; services raise it, the API renders it."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        fields: dict[str, Any] | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.fields = fields or {}
        if status_code is not None:
            self.status_code = status_code


class ValidationFailed(ApplicationError, DjangoValidationError):
    """Input that breaks a business rule, by field: 400 in the API, form errors in the admin.

    It is also a Django `ValidationError`, so an admin form that calls a service
    shows the messages on the fields they name, and the API renders the same
    fields as a DRF validation error would.
    """

    default_code = "invalid"

    def __init__(
        self, fields: dict[str, list[str]] | str, *, message: str = "The request is not valid."
    ) -> None:
        DjangoValidationError.__init__(
            self, fields if isinstance(fields, dict) else {"non_field_errors": [fields]}
        )
        errors = self.message_dict
        ApplicationError.__init__(self, message, code=self.default_code, fields=errors)

    @classmethod
    def from_django(cls, error: DjangoValidationError) -> ValidationFailed:
        """A model's `full_clean()` error, as the application error."""
        if isinstance(error, cls):
            return error
        if hasattr(error, "error_dict"):
            return cls(error.message_dict)
        return cls({"non_field_errors": error.messages})


def validate_model(instance: Any, **full_clean_options: Any) -> None:
    """`instance.full_clean(...)`, its errors raised as the application error (`ValidationFailed`)."""
    try:
        instance.full_clean(**full_clean_options)
    except DjangoValidationError as error:
        raise ValidationFailed.from_django(error) from error


class ConflictError(ApplicationError):
    """The request clashes with the current state (lifecycle, idempotency): 409."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class NotFoundError(ApplicationError):
    status_code = status.HTTP_404_NOT_FOUND
    default_code = "not_found"


class PayloadTooLargeError(ApplicationError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"


class UnprocessableError(ApplicationError):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "unprocessable"


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def _first_message(detail: Any) -> str:
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    if isinstance(detail, dict) and detail:
        return _first_message(next(iter(detail.values())))
    return str(detail)


def _validation_fields(detail: Any) -> dict[str, Any]:
    if isinstance(detail, dict):
        return {key: value for key, value in detail.items() if key != "non_field_errors"} | (
            {"non_field_errors": detail["non_field_errors"]} if "non_field_errors" in detail else {}
        )
    return {"non_field_errors": detail if isinstance(detail, list) else [detail]}


_CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
    exceptions.ParseError: "parse_error",
}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Render every API error in the shape of SPEC §2; never a 500 for bad input."""
    # ValidationFailed is both: rendered as the validation error it is, field by field.
    if isinstance(exc, ApplicationError) and not isinstance(exc, DjangoValidationError):
        return Response(error_body(exc.code, exc.message, exc.fields), status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        fields = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(fields)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real server error: Django logs it and answers 500

    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body("invalid", "The request is not valid.", _validation_fields(exc.detail))
        return response

    code = next((c for cls, c in _CODES.items() if isinstance(exc, cls)), None) or getattr(
        exc, "default_code", "error"
    )
    message = _first_message(exc.detail) if hasattr(exc, "detail") else str(exc)
    # DRF answers 403 to a bad/missing credential when no authenticator gives a challenge
    # header; the spec wants 401 for authentication problems.
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        response.status_code = status.HTTP_401_UNAUTHORIZED
    response.data = error_body(code, message)
    return response
