from django.urls import path

from promotions import api

urlpatterns = [
    path("codes/", api.CodeListApi.as_view(), name="code-list"),
    path("codes/validate/", api.CodeValidateApi.as_view(), name="code-validate"),
    path("campaigns/<int:campaign_id>/codes/generate/", api.CodeGenerateApi.as_view(), name="code-generate"),
    path("campaigns/<int:campaign_id>/codes/export/", api.CodeExportApi.as_view(), name="code-export"),
    path("jobs/<int:job_id>/", api.JobDetailApi.as_view(), name="job-detail"),
    path("redemptions/", api.RedemptionCreateApi.as_view(), name="redemption-create"),
    path("redemptions/<int:redemption_id>/", api.RedemptionDetailApi.as_view(), name="redemption-detail"),
    path(
        "redemptions/<int:redemption_id>/commit/", api.RedemptionCommitApi.as_view(), name="redemption-commit"
    ),
    path(
        "redemptions/<int:redemption_id>/rollback/",
        api.RedemptionRollbackApi.as_view(),
        name="redemption-rollback",
    ),
]
