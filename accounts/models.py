from django.db import models
from rest_framework_api_key.models import AbstractAPIKey


class ApiKey(AbstractAPIKey):
    """A brand's API key. Lives in the brand's schema, so it authenticates on that brand's host only.

    Only a SHA-512 hash is stored (djangorestframework-api-key); the key itself is shown once.
    """

    class Role(models.TextChoices):
        CRM = "crm", "CRM (campaigns, partners, reports)"
        INGEST = "ingest", "Ingest (mobile backend: purchases, participation, awards)"

    role = models.CharField(max_length=16, choices=Role.choices)

    # Audit events name a key by its prefix: the primary key embeds the key's hash.
    audit_id_field = "prefix"

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role__in=["crm", "ingest"]),
                name="api_key_role_valid",
                violation_error_message="Role must be crm or ingest.",
            ),
        ]
