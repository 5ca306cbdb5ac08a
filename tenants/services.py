"""Brand onboarding: every write of the tenants app."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django_tenants.utils import get_public_schema_name, schema_context

from core.exceptions import ConflictError, validate_model
from tenants.models import Brand, Domain
from tenants.schema_template import template_ensure, template_schema_name
from tenants.signals import brand_created
from tenants.work_due import work_due_at


@dataclass(frozen=True)
class BrandResult:
    brand: Brand
    domain: Domain
    created: bool


def brand_create(*, schema_name: str, name: str, domain: str, verbosity: int = 0) -> BrandResult:
    """Create a brand, its schema (a copy of the migrated template) and its host name.

    Idempotent: the same three arguments again change nothing. A schema that
    exists with another name or host, or a host that belongs to another brand,
    is a ConflictError.
    """
    domain = domain.lower().strip()
    if schema_name in (get_public_schema_name(), template_schema_name()):
        raise ConflictError(
            f"The {schema_name!r} schema is the platform's, not a brand's.", code="schema_reserved"
        )

    existing_domain = Domain.objects.select_related("tenant").filter(domain=domain).first()
    if existing_domain is not None and existing_domain.tenant.schema_name != schema_name:
        raise ConflictError(
            f"Host {domain!r} already belongs to schema {existing_domain.tenant.schema_name!r}.",
            code="domain_taken",
        )

    brand = Brand.objects.filter(schema_name=schema_name).first()
    if brand is not None:
        if brand.name != name:
            raise ConflictError(
                f"Schema {schema_name!r} already exists as brand {brand.name!r}.", code="schema_taken"
            )
        primary = brand.domains.filter(is_primary=True).first()
        if existing_domain is None:
            raise ConflictError(
                f"Schema {schema_name!r} exists with host {primary.domain if primary else None!r}, "
                f"not {domain!r}.",
                code="schema_taken",
            )
        # A brand onboarded before the copy was one transaction may lack its schema: finish it.
        brand.create_schema(check_if_exists=True, verbosity=verbosity)
        brand_created.send(sender=Brand, brand=brand, created=False)
        return BrandResult(brand=brand, domain=existing_domain, created=False)

    brand = Brand(schema_name=schema_name, name=name)
    validate_model(brand)
    # Migrating the template (only when the code has migrations it lacks) runs outside the
    # transaction; the row, the schema copy and the host name then commit together or not at all.
    template_ensure(verbosity=verbosity)
    with transaction.atomic():
        brand.save(verbosity=verbosity)
        domain_row = Domain.objects.create(domain=domain, tenant=brand, is_primary=True)
        work_due_at(at=timezone.now(), schema_name=schema_name)  # its first tick records what is due
    brand_created.send(sender=Brand, brand=brand, created=True)
    return BrandResult(brand=brand, domain=domain_row, created=True)


def brand_for_schema(schema_name: str) -> Brand:
    return Brand.objects.get(schema_name=schema_name)


def in_brand(schema_name: str):
    """Context manager running the block in a brand's schema (operator commands only)."""
    return schema_context(schema_name)
