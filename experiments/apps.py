from django.apps import AppConfig


class ExperimentsConfig(AppConfig):
    """Tenant app: A/B experiments of campaigns, sticky assignment, exposures, results (SPEC §16)."""

    name = "experiments"
