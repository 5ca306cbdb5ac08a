from django.urls import path

from journeys import api

urlpatterns = [
    path("journeys/", api.JourneyListApi.as_view(), name="journey-list"),
    path("journeys/<int:journey_id>/", api.JourneyDetailApi.as_view(), name="journey-detail"),
    path("journeys/<int:journey_id>/activate/", api.JourneyActivateApi.as_view(), name="journey-activate"),
    path("journeys/<int:journey_id>/pause/", api.JourneyPauseApi.as_view(), name="journey-pause"),
    path(
        "journeys/<int:journey_id>/enrollments/",
        api.JourneyEnrollmentsApi.as_view(),
        name="journey-enrollments",
    ),
    path("journeys/<int:journey_id>/enroll/", api.JourneyEnrollApi.as_view(), name="journey-enroll"),
]
