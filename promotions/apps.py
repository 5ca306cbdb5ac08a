from django.apps import AppConfig


class PromotionsConfig(AppConfig):
    """Tenant app: code batches, promo codes, validation, redemptions (reserve / commit / rollback)."""

    name = "promotions"
