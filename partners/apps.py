from django.apps import AppConfig


class PartnersConfig(AppConfig):
    """Tenant app: reward partners, their secrets, participation tokens."""

    name = "partners"
