from django.apps import AppConfig


class PurchasesConfig(AppConfig):
    """Tenant app: purchase ingestion, idempotency, evaluation records, the evaluation task."""

    name = "purchases"
