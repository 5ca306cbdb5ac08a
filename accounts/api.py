from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.permissions import IsIngestOrCrm


class WhoAmIApi(APIView):
    """Which brand and role the presented credentials stand for (a client's connectivity check)."""

    permission_classes = [IsIngestOrCrm]

    @extend_schema(
        responses=inline_serializer(
            "WhoAmI",
            {
                "tenant": serializers.CharField(),
                "role": serializers.CharField(),
                "name": serializers.CharField(),
            },
        )
    )
    def get(self, request: Request) -> Response:
        user = request.user
        return Response(
            {
                "tenant": request.tenant.schema_name,
                "role": getattr(user, "role", "staff"),
                "name": getattr(user, "name", None) or user.get_username(),
            }
        )
