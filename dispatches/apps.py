from django.apps import AppConfig


class DispatchesConfig(AppConfig):
    """Tenant app: dispatches of eligible purchases to partners, their attempts, dead letters, replay."""

    name = "dispatches"

    def ready(self) -> None:
        from dispatches import handoff

        handoff.register()
