from django.urls import path

from analytics import api

urlpatterns = [
    path("campaigns/<int:campaign_id>/metrics/", api.CampaignMetricsApi.as_view(), name="campaign-metrics"),
    path("reports/performance/", api.PerformanceReportApi.as_view(), name="report-performance"),
    path("reports/cohorts/", api.CohortReportApi.as_view(), name="report-cohorts"),
]
