from django.urls import path

from customers import api

urlpatterns = [
    path("customers/", api.CustomerListApi.as_view(), name="customer-list"),
    path("customers/batch/", api.CustomerBatchApi.as_view(), name="customer-batch"),
    path("customers/<str:customer_id>/", api.CustomerDetailApi.as_view(), name="customer-detail"),
    path("events/", api.EventCreateApi.as_view(), name="event-create"),
    path("events/batch/", api.EventBatchApi.as_view(), name="event-batch"),
]
