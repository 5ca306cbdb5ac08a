"""`Authorization: Api-Key <key>` for DRF, bound to the tenant of the request's host.

Keys live in each brand's schema (accounts.ApiKey), so a key of brand B looked
up on brand A's host simply does not exist there: 401, never data. Keys are
stored as SHA-512 hashes by djangorestframework-api-key and compared in
constant time; the password hasher (PBKDF2, ~225 ms) is never used per request.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django_tenants.utils import get_public_schema_name
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

KEYWORD = "Api-Key"


@dataclass(frozen=True)
class ApiKeyPrincipal:
    """The `request.user` of an API-key request: a role, not a person."""

    key_id: str
    name: str
    role: str

    is_authenticated = True
    is_active = True
    is_staff = False
    is_superuser = False
    is_anonymous = False

    @property
    def pk(self) -> str:
        return self.key_id


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[ApiKeyPrincipal, object] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, key = header.partition(" ")
        if scheme != KEYWORD:
            return None  # not ours: session auth may still apply
        key = key.strip()
        if not key:
            raise AuthenticationFailed("The Api-Key header carries no key.")
        if connection.schema_name == get_public_schema_name():
            raise AuthenticationFailed("API keys are valid on a brand's host only.")

        from accounts.models import ApiKey

        try:
            api_key = ApiKey.objects.get_from_key(key)
        except ApiKey.DoesNotExist:
            raise AuthenticationFailed("Invalid or revoked API key.") from None
        return ApiKeyPrincipal(key_id=api_key.pk, name=api_key.name, role=api_key.role), api_key

    def authenticate_header(self, request: Request) -> str:
        return KEYWORD
