from django.urls import path

from analytics import api

urlpatterns = [
    path("campaigns/<int:campaign_id>/metrics/", api.CampaignMetricsApi.as_view(), name="campaign-metrics"),
    path(
        "campaigns/<int:campaign_id>/forecast/", api.CampaignForecastApi.as_view(), name="campaign-forecast"
    ),
    path(
        "campaigns/<int:campaign_id>/insights/", api.CampaignInsightsApi.as_view(), name="campaign-insights"
    ),
    path("budget-allocations/", api.BudgetAllocationsApi.as_view(), name="budget-allocations"),
    path(
        "budget-allocations/<int:allocation_id>/", api.BudgetAllocationApi.as_view(), name="budget-allocation"
    ),
    path(
        "budget-allocations/<int:allocation_id>/apply/",
        api.BudgetAllocationApplyApi.as_view(),
        name="budget-allocation-apply",
    ),
    path("reports/performance/", api.PerformanceReportApi.as_view(), name="report-performance"),
    path("reports/cohorts/", api.CohortReportApi.as_view(), name="report-cohorts"),
]
