"""URLs of the customers' notifications and messages (included in config/urls_tenant.py's api_v1)."""

from django.urls import path

from notifications.api import (
    CampaignMessagePreviewApi,
    CampaignMessageTestApi,
    CustomerInboxApi,
    CustomerPreferencesApi,
    DeviceTokenDetailApi,
    DeviceTokensApi,
    InboxReadApi,
    NotificationReplayApi,
    SuppressionDetailApi,
    SuppressionsApi,
)

urlpatterns = [
    path(
        "customers/<str:customer_id>/device-tokens/", DeviceTokensApi.as_view(), name="customer-device-tokens"
    ),
    path(
        "customers/<str:customer_id>/device-tokens/<str:token>/",
        DeviceTokenDetailApi.as_view(),
        name="customer-device-token",
    ),
    path(
        "notifications/<uuid:notification_id>/replay/",
        NotificationReplayApi.as_view(),
        name="notification-replay",
    ),
    path(
        "customers/<str:customer_id>/preferences/",
        CustomerPreferencesApi.as_view(),
        name="customer-preferences",
    ),
    path("customers/<str:customer_id>/inbox/", CustomerInboxApi.as_view(), name="customer-inbox"),
    path("inbox/<uuid:message_id>/read/", InboxReadApi.as_view(), name="inbox-read"),
    path(
        "campaigns/<int:campaign_id>/messages/<int:mid>/test/",
        CampaignMessageTestApi.as_view(),
        name="campaign-message-test",
    ),
    path(
        "campaigns/<int:campaign_id>/messages/<int:mid>/preview/",
        CampaignMessagePreviewApi.as_view(),
        name="campaign-message-preview",
    ),
    path("suppressions/", SuppressionsApi.as_view(), name="suppressions"),
    path("suppressions/<int:suppression_id>/", SuppressionDetailApi.as_view(), name="suppression-detail"),
]
