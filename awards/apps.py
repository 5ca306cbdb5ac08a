from django.apps import AppConfig


class AwardsConfig(AppConfig):
    """Tenant app: the partners' award webhook and the awards it records."""

    name = "awards"
