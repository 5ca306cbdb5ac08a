"""URLs of the customers' notifications (included in config/urls_tenant.py's api_v1)."""

from django.urls import path

from notifications.api import DeviceTokenDetailApi, DeviceTokensApi, NotificationReplayApi

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
]
