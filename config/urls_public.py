"""URLs of the public host (localhost): platform operators only."""

from django.contrib import admin
from django.urls import path

from core.metrics_views import metrics_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("metrics", metrics_view, name="metrics"),
]

handler404 = "core.views.not_found"
handler500 = "core.views.server_error"
