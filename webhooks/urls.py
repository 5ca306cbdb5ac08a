from django.urls import path

from webhooks import api

urlpatterns = [
    path("webhooks/", api.WebhookEndpointListCreateApi.as_view(), name="webhook-list"),
    path("webhooks/<int:endpoint_id>/", api.WebhookEndpointDetailApi.as_view(), name="webhook-detail"),
    path("webhooks/<int:endpoint_id>/test/", api.WebhookEndpointTestApi.as_view(), name="webhook-test"),
    path(
        "webhooks/<int:endpoint_id>/rotate-secret/",
        api.WebhookEndpointRotateSecretApi.as_view(),
        name="webhook-rotate-secret",
    ),
    path(
        "webhooks/<int:endpoint_id>/deliveries/",
        api.WebhookEndpointDeliveriesApi.as_view(),
        name="webhook-deliveries",
    ),
    path(
        "webhook-deliveries/<uuid:delivery_id>/replay/",
        api.WebhookDeliveryReplayApi.as_view(),
        name="webhook-delivery-replay",
    ),
]
