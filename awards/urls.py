"""URLs of the partner loop (included in config/urls_tenant.py's api_v1)."""

from django.urls import path

from awards.api import AwardWebhookApi, CustomerAwardsApi, ParticipationUrlApi

urlpatterns = [
    path(
        "campaigns/<int:campaign_id>/participation-url/",
        ParticipationUrlApi.as_view(),
        name="campaign-participation-url",
    ),
    # <str:slug>, not <slug:>: an unknown or malformed slug must answer 401 like a bad signature, not 404.
    path("partners/<str:slug>/awards/", AwardWebhookApi.as_view(), name="partner-award-webhook"),
    path("customers/<str:customer_id>/awards/", CustomerAwardsApi.as_view(), name="customer-awards"),
]
