from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Tenant app: the brand's API keys (each brand's users are Django's auth, per schema)."""

    name = "accounts"
    verbose_name = "API access"
