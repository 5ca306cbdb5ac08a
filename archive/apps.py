from django.apps import AppConfig


class ArchiveConfig(AppConfig):
    """Tenant app: archive runs and manifests, Parquet writer/reader, purge."""

    name = "archive"
