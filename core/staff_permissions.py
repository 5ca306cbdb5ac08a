"""The admin's rules for staff sessions on the API: the same Django model permissions.

An API key is checked by its role (`core.permissions.IsCrm`…). A staff user of
the brand using the API through a session is held to the permissions the admin
would check for the same action — a "CRM viewer" can read campaigns through the
API as in the admin, and can change nothing in either. Superusers have every
permission.

Views declare `required_model_permissions = {"GET": [...], "POST": [...], ...}`
(Django permission names, e.g. `"campaigns.change_campaign"`).
"""

from __future__ import annotations

from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView


class StaffSessionModelPermissions(BasePermission):
    message = "Your account lacks the permission for this action (the same one the admin requires)."

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        if user is None or not user.is_authenticated:
            return False
        if getattr(user, "role", None) is not None:
            return True  # an API key: its role was checked by the role permission
        method = "GET" if request.method in ("HEAD", "OPTIONS") else request.method
        required = getattr(view, "required_model_permissions", {}).get(method)
        if required is None:
            return False  # a method the view did not declare: refuse rather than guess
        return user.has_perms(required)
