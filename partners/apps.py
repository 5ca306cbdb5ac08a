from django.apps import AppConfig


class PartnersConfig(AppConfig):
    """Tenant app: partners, dispatches and attempts, dead letters, participation tokens, awards."""

    name = "partners"
