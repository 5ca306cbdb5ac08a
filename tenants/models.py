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
    # Activating a campaign whose budget limit is above this needs a second CRM person's approval
    # (SPEC §13); null = never.
    approval_threshold = models.DecimalField(
        "approval threshold",
        max_digits=18,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="Campaigns whose budget limit is above this need a second person's approval to go live.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    # Creating a Brand creates its schema: a copy of the migrated template (tenants/schema_template.py).
    auto_create_schema = True
    auto_drop_schema = False

    class Meta:
        ordering = ["schema_name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.schema_name})"

    def create_schema(
        self, check_if_exists: bool = False, sync_schema: bool = True, verbosity: int = 1
    ) -> bool:
        """Copy the template schema instead of running every migration (django-tenants calls this on save)."""
        from django_tenants.utils import schema_exists

        from tenants.schema_template import schema_clone

        if check_if_exists and schema_exists(self.schema_name):
            return False
        schema_clone(self.schema_name, verbosity=verbosity)
        return True


class Domain(DomainMixin):
    """A host name served by a brand (`brand-a.localhost`); `localhost` belongs to the public schema."""


class BrandWorkDue(models.Model):
    """The public "work due" index: when each brand's maintenance tick should next run.

    The maintenance dispatcher reads it with one query a tick, so an idle brand costs nothing
    (ADR "Idle cost that does not grow with brands"). Written by the services that create due work
    (`tenants.work_due.work_due_at`) and by each tick, which records its brand's next due time.
    """

    schema_name = models.CharField(max_length=63, unique=True)
    # Null: nothing due (or claimed by a tick that is running and will write the next time).
    due_at = models.DateTimeField(null=True, blank=True)
    # The last tenant task that ran in the brand: its dashboards settle for a while after.
    last_activity_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["due_at"], name="work_due_at_idx", condition=models.Q(due_at__isnull=False))
        ]

    def __str__(self) -> str:
        return f"{self.schema_name} due {self.due_at}"
