from django.urls import path

from campaigns import api

urlpatterns = [
    path("campaigns/", api.CampaignListCreateApi.as_view(), name="campaign-list"),
    path("campaigns/<int:campaign_id>/", api.CampaignDetailApi.as_view(), name="campaign-detail"),
    *[
        path(f"campaigns/<int:campaign_id>/{action}/", api.lifecycle_view(action), name=f"campaign-{action}")
        for action in ("activate", "approve", "pause", "resume", "complete", "cancel")
    ],
    path("campaigns/bulk/", api.CampaignBulkApi.as_view(), name="campaign-bulk"),
    path("campaigns/export/", api.CampaignExportApi.as_view(), name="campaign-export"),
    path("campaigns/import/", api.CampaignImportApi.as_view(), name="campaign-import"),
    path("campaigns/<int:campaign_id>/budget/", api.BudgetApi.as_view(), name="campaign-budget"),
    path(
        "campaigns/<int:campaign_id>/budget/ledger/",
        api.BudgetLedgerApi.as_view(),
        name="campaign-budget-ledger",
    ),
    path(
        "campaigns/<int:campaign_id>/duplicate/",
        api.CampaignDuplicateApi.as_view(),
        name="campaign-duplicate",
    ),
    path(
        "campaigns/<int:campaign_id>/transitions/",
        api.CampaignTransitionListApi.as_view(),
        name="campaign-transitions",
    ),
    path(
        "campaigns/<int:campaign_id>/item-rules/", api.ItemRuleListCreateApi.as_view(), name="item-rule-list"
    ),
    path(
        "campaigns/<int:campaign_id>/item-rules/import/",
        api.ItemRuleImportApi.as_view(),
        name="item-rule-import",
    ),
    path(
        "campaigns/<int:campaign_id>/item-rules/<int:rule_id>/",
        api.ItemRuleDetailApi.as_view(),
        name="item-rule-detail",
    ),
]
