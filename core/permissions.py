"""Role checks: an API key's role, or a staff user of the brand through a session."""

from __future__ import annotations

from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

ROLE_CRM = "crm"
ROLE_INGEST = "ingest"
ROLES = (ROLE_CRM, ROLE_INGEST)


def _has_any_role(request: Request, roles: tuple[str, ...]) -> bool:
    user = request.user
    if user is None or not user.is_authenticated:
        return False
    role = getattr(user, "role", None)
    if role is not None:
        return role in roles
    # A session user of this brand: staff may use every endpoint (SPEC §2).
    return bool(user.is_staff and user.is_active)


class IsCrm(BasePermission):
    message = "This endpoint needs a key with the crm role (or a staff session)."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return _has_any_role(request, (ROLE_CRM,))


class IsIngest(BasePermission):
    message = "This endpoint needs a key with the ingest role (or a staff session)."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return _has_any_role(request, (ROLE_INGEST,))


class IsIngestOrCrm(BasePermission):
    message = "This endpoint needs a key with the ingest or crm role (or a staff session)."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return _has_any_role(request, (ROLE_INGEST, ROLE_CRM))
