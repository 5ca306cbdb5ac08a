"""Brand onboarding: every write of the tenants app."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django_tenants.utils import get_public_schema_name, schema_context

from core.exceptions import ConflictError, validate_model
from tenants.models import Brand, Domain
from tenants.signals import brand_created


@dataclass(frozen=True)
class BrandResult:
    brand: Brand
    domain: Domain
    created: bool


def brand_create(*, schema_name: str, name: str, domain: str) -> BrandResult:
    """Create a brand, its schema (migrated) and its host name.

    Idempotent: the same three arguments again change nothing. A schema that
    exists with another name or host, or a host that belongs to another brand,
    is a ConflictError.
    """
    domain = domain.lower().strip()
    if schema_name == get_public_schema_name():
        raise ConflictError("The public schema is the platform's, not a brand's.", code="schema_reserved")

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
        # Re-running onboarding also finishes a schema whose creation was interrupted.
        brand.create_schema(check_if_exists=True)
        brand_created.send(sender=Brand, brand=brand, created=False)
        return BrandResult(brand=brand, domain=existing_domain, created=False)

    brand = Brand(schema_name=schema_name, name=name)
    validate_model(brand)
    # Schema creation + migration happens in save() and cannot share one transaction with
    # the Domain row on every backend path; the Domain goes in right after, and a rerun
    # of this service completes a half-done onboarding.
    brand.save()
    with transaction.atomic():
        domain_row = Domain.objects.create(domain=domain, tenant=brand, is_primary=True)
    brand_created.send(sender=Brand, brand=brand, created=True)
    return BrandResult(brand=brand, domain=domain_row, created=True)


def brand_for_schema(schema_name: str) -> Brand:
    return Brand.objects.get(schema_name=schema_name)


def in_brand(schema_name: str):
    """Context manager running the block in a brand's schema (operator commands only)."""
    return schema_context(schema_name)
