from django.urls import path

from customers import api

urlpatterns = [
    path("customers/", api.CustomerListApi.as_view(), name="customer-list"),
    path("customers/batch/", api.CustomerBatchApi.as_view(), name="customer-batch"),
    path("customers/<str:customer_id>/", api.CustomerDetailApi.as_view(), name="customer-detail"),
    path("customers/<str:customer_id>/export/", api.CustomerExportApi.as_view(), name="customer-export"),
    path("events/", api.EventCreateApi.as_view(), name="event-create"),
    path("events/batch/", api.EventBatchApi.as_view(), name="event-batch"),
    path("segments/", api.SegmentListApi.as_view(), name="segment-list"),
    path("segments/preview/", api.SegmentPreviewApi.as_view(), name="segment-preview"),
    path("segments/<int:segment_id>/", api.SegmentDetailApi.as_view(), name="segment-detail"),
    path("segments/<int:segment_id>/compute/", api.SegmentComputeApi.as_view(), name="segment-compute"),
    path("segments/<int:segment_id>/members/", api.SegmentMembersApi.as_view(), name="segment-members"),
    path(
        "segments/<int:segment_id>/members/import/",
        api.SegmentMembersImportApi.as_view(),
        name="segment-members-import",
    ),
]
