import zoneinfo

from django.core.exceptions import ValidationError
from django.db import models
from django_tenants.models import DomainMixin, TenantMixin


def validate_timezone_name(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone (e.g. Europe/Lisbon).")


class Brand(TenantMixin):
    """One retail brand = one PostgreSQL schema. Lives in the public schema."""

    name = models.CharField(max_length=200)
    # The zone the brand's people think in: the admin shows and reads campaign dates in it (stored UTC).
    timezone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_timezone_name],
        help_text="IANA time zone, e.g. Europe/Lisbon. Campaign dates are shown and entered in it.",
    )
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
