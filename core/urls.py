from django.urls import path

from core.audit_api import AuditEventListApi

urlpatterns = [
    path("audit-events/", AuditEventListApi.as_view(), name="audit-event-list"),
]
