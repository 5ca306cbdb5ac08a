from django.urls import path

from content import api

urlpatterns = [
    path("content/", api.DraftsApi.as_view(), name="content-drafts"),
    path("content/generate/", api.GenerateApi.as_view(), name="content-generate"),
    path("content/<int:draft_id>/", api.DraftDetailApi.as_view(), name="content-draft"),
    path("content/<int:draft_id>/approve/", api.DraftApproveApi.as_view(), name="content-draft-approve"),
    path("content/<int:draft_id>/reject/", api.DraftRejectApi.as_view(), name="content-draft-reject"),
    path("content/<int:draft_id>/use/", api.DraftUseApi.as_view(), name="content-draft-use"),
]
