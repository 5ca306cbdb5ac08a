"""URLs of the public host (localhost): platform operators only."""

from django.urls import path

from core.admin_sites import platform_site
from core.metrics_views import metrics_view

urlpatterns = [
    path("admin/", platform_site.urls),
    path("metrics", metrics_view, name="metrics"),
]

handler404 = "core.views.not_found"
handler500 = "core.views.server_error"
