"""URLs of a brand's host (brand-a.localhost): CRM admin and the API."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from core.admin_sites import brand_site
from monitoring.api import CampaignStatsApi

api_v1 = [
    path("", include("accounts.urls")),
    path("", include("core.urls")),  # audit events
    path("campaigns/<int:campaign_id>/stats/", CampaignStatsApi.as_view(), name="campaign-stats"),
    path("", include("awards.urls")),
    path("", include("dispatches.urls")),
    path("", include("notifications.urls")),
    path("", include("campaigns.urls")),
    path("", include("partners.urls")),
    path("", include("purchases.urls")),
    path("", include("customers.urls")),
    path("", include("webhooks.urls")),
    path("", include("analytics.urls")),
    path("", include("experiments.urls")),
    path("", include("promotions.urls")),
    path("", include("content.urls")),
    path("", include("journeys.urls")),
]

urlpatterns = [
    path("admin/", brand_site.urls),
    path("api/v1/", include(api_v1)),
    path("", include("notifications.public_urls")),  # unsubscribe page, ESP webhooks (SPEC §14)
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

handler404 = "core.views.not_found"
handler500 = "core.views.server_error"
