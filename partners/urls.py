from django.urls import path

from partners import api

# Partner configuration; dispatch and award endpoints live in their own apps (dispatches/, awards/).
urlpatterns = [
    path("partners/", api.PartnerListCreateApi.as_view(), name="partner-list"),
    path("partners/<slug:slug>/", api.PartnerDetailApi.as_view(), name="partner-detail"),
]
