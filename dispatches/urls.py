from django.urls import path

from dispatches.api import DispatchDetailApi, DispatchListApi, DispatchReplayApi

urlpatterns = [
    path("dispatches/", DispatchListApi.as_view(), name="dispatch-list"),
    path("dispatches/<uuid:dispatch_id>/", DispatchDetailApi.as_view(), name="dispatch-detail"),
    path("dispatches/<uuid:dispatch_id>/replay/", DispatchReplayApi.as_view(), name="dispatch-replay"),
]
