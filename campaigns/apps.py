from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    """Tenant app: campaigns, item rules, lifecycle, the rules engine, stats."""

    name = "campaigns"
