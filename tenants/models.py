from django.db import models
from django_tenants.models import DomainMixin, TenantMixin


class Brand(TenantMixin):
    """One retail brand = one PostgreSQL schema. Lives in the public schema."""

    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    # Creating a Brand creates and migrates its schema.
    auto_create_schema = True
    auto_drop_schema = False

    class Meta:
        ordering = ["schema_name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.schema_name})"


class Domain(DomainMixin):
    """A host name served by a brand (`brand-a.localhost`); `localhost` belongs to the public schema."""
