from django.urls import path

from partners import api

# Partner configuration (issue 3). Dispatch and award endpoints add their own lines below.
urlpatterns = [
    path("partners/", api.PartnerListCreateApi.as_view(), name="partner-list"),
    path("partners/<slug:slug>/", api.PartnerDetailApi.as_view(), name="partner-detail"),
]
