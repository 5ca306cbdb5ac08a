"""The composition root as a Django app: it connects apps that the layers keep apart."""

from django.apps import AppConfig


class CompositionRootConfig(AppConfig):
    """No models, no URLs: `ready` registers the hooks of config/wiring.py once every app is loaded."""

    name = "config"
    label = "composition_root"
    verbose_name = "Composition root"

    def ready(self) -> None:
        from config.wiring import connect

        connect()
