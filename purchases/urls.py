from django.urls import path

from purchases.api import PurchaseBatchApi, PurchaseCreateApi, PurchaseDetailApi, PurchaseRefundApi

urlpatterns = [
    path("purchases/", PurchaseCreateApi.as_view(), name="purchase-create"),
    path("purchases/batch/", PurchaseBatchApi.as_view(), name="purchase-batch"),
    path("purchases/<path:external_id>/refund/", PurchaseRefundApi.as_view(), name="purchase-refund"),
    path("purchases/<path:external_id>/", PurchaseDetailApi.as_view(), name="purchase-detail"),
]
