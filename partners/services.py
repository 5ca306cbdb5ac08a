"""Partner configuration: create and update, secrets (Standard Webhooks `whsec_…`) and URL checks.

Dispatch, awards and tokens are written by their own modules; this one is only
the CRM's configuration of a partner.
"""

from __future__ import annotations

import base64
import binascii
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.audit import audit_record, changes_between, model_update, values_of
from core.db import violated_constraint
from core.exceptions import NotFoundError, ValidationFailed
from core.http.url_guard import UnsafeUrlError, assert_url_allowed
from partners.models import Partner

logger = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a password
# Standard Webhooks: secrets are 24 to 64 random bytes; we generate 32.
SECRET_MIN_BYTES = 24
SECRET_MAX_BYTES = 64
GENERATED_SECRET_BYTES = 32
# After a secret change, award webhooks signed with the previous one are still accepted this long.
SECRET_ROTATION_GRACE = timedelta(hours=24)
MAX_ATTEMPTS_LIMIT = 50
TIMEOUT_SECONDS_LIMIT = 120
URL_FIELDS = ("submission_url", "auth_url")
EDITABLE_FIELDS = (
    "name",
    "submission_url",
    "auth_url",
    "secret",
    "timeout_seconds",
    "max_attempts",
    "is_active",
)
SLUG_TAKEN_MESSAGE = "A partner with this slug already exists."
# Audit events record that the secret changed, never its value.
SECRET_FIELDS = ("secret",)


def partner_secret_generate() -> str:
    """A new Standard Webhooks secret: `whsec_` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(GENERATED_SECRET_BYTES)).decode()


def secret_problem(secret: str) -> str | None:
    """Why `secret` is not a usable `whsec_<base64 of 24–64 bytes>` secret, or None."""
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
        return f"Must be a Standard Webhooks secret: {SECRET_PREFIX}<base64>."
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        return f"The part after {SECRET_PREFIX} is not valid base64."
    if not SECRET_MIN_BYTES <= len(key) <= SECRET_MAX_BYTES:
        return f"The key must be {SECRET_MIN_BYTES} to {SECRET_MAX_BYTES} bytes (got {len(key)})."
    return None


def partner_validate(
    partner: Partner, *, check_urls: tuple[str, ...] = URL_FIELDS, check_secret: bool = True
) -> None:
    """Every rule of a partner's configuration (URLs through the SSRF guard); ValidationError by field."""
    errors: dict[str, list[str]] = {}
    for field in check_urls:
        try:
            assert_url_allowed(getattr(partner, field) or "")
        except UnsafeUrlError as exc:
            errors.setdefault(field, []).append(str(exc))
    problem = secret_problem(partner.secret) if check_secret else None
    if problem:
        errors.setdefault("secret", []).append(problem)
    if partner.max_attempts is not None and not 1 <= partner.max_attempts <= MAX_ATTEMPTS_LIMIT:
        errors.setdefault("max_attempts", []).append(f"Must be between 1 and {MAX_ATTEMPTS_LIMIT}.")
    if partner.timeout_seconds is not None and not 1 <= partner.timeout_seconds <= TIMEOUT_SECONDS_LIMIT:
        errors.setdefault("timeout_seconds", []).append(f"Must be between 1 and {TIMEOUT_SECONDS_LIMIT}.")
    try:
        exclude = [*errors, "previous_secret", "previous_secret_valid_until"]
        partner.full_clean(exclude=[*exclude, "secret"] if not check_secret else exclude)
    except DjangoValidationError as exc:
        for field, messages in exc.message_dict.items():
            if field == "slug" and any("already exists" in m for m in messages):
                messages = [SLUG_TAKEN_MESSAGE]
            errors.setdefault(field, []).extend(m for m in messages if m not in errors.get(field, []))
    if errors:
        raise ValidationFailed(errors)


def _save(partner: Partner, **kwargs: Any) -> None:
    try:
        with transaction.atomic():
            partner.save(**kwargs)
    except IntegrityError as exc:
        if violated_constraint(exc) == Partner.SLUG_UNIQUE_CONSTRAINT:
            raise ValidationFailed({"slug": [SLUG_TAKEN_MESSAGE]}) from exc
        raise


@dataclass(frozen=True)
class PartnerCreated:
    partner: Partner
    # The secret the platform generated, to show once; None when the caller chose it.
    generated_secret: str | None


@transaction.atomic
def partner_create(
    *,
    actor: str,
    slug: str,
    name: str,
    submission_url: str,
    auth_url: str,
    secret: str | None = None,
    timeout_seconds: int = 10,
    max_attempts: int = 8,
    is_active: bool = True,
) -> PartnerCreated:
    """A new partner; without a `secret` one is generated (and returned once, in the result)."""
    generated = None if secret else partner_secret_generate()
    partner = Partner(
        slug=slug,
        name=name,
        submission_url=submission_url,
        auth_url=auth_url,
        secret=secret or generated,
        timeout_seconds=timeout_seconds,
        max_attempts=max_attempts,
        is_active=is_active,
    )
    partner_validate(partner)
    _save(partner)
    audit_record(
        actor=actor,
        action="partner.created",
        obj_or_type=partner,
        changes=changes_between(None, values_of(partner, ("slug", *EDITABLE_FIELDS), redact=SECRET_FIELDS)),
    )
    logger.info("partner created", extra={"partner": partner.slug, "actor": actor})
    return PartnerCreated(partner=partner, generated_secret=generated)


@transaction.atomic
def partner_update(*, partner_id: int, actor: str, data: dict[str, Any]) -> Partner:
    """Change a partner. The slug is its identity (URLs, tokens' `aud`): it cannot change.

    A new `secret` replaces the old one, which stays valid for incoming award
    webhooks for `SECRET_ROTATION_GRACE` (partners switch over without downtime).
    """
    try:
        partner = Partner.objects.select_for_update().get(pk=partner_id)
    except Partner.DoesNotExist:
        raise NotFoundError(f"Partner {partner_id} does not exist.") from None
    if "slug" in data and data["slug"] != partner.slug:
        raise ValidationFailed({"slug": ["The slug of a partner cannot change."]})
    old_secret = partner.secret
    changed = model_update(partner, data, fields=EDITABLE_FIELDS, redact=SECRET_FIELDS)
    if not changed:
        return partner
    partner_validate(partner, check_urls=tuple(field for field in URL_FIELDS if field in changed))
    update_fields = [*changed, "updated_at"]
    if "secret" in changed:
        partner.previous_secret = old_secret
        partner.previous_secret_valid_until = timezone.now() + SECRET_ROTATION_GRACE
        update_fields += ["previous_secret", "previous_secret_valid_until"]
    _save(partner, update_fields=update_fields)
    # A rotation is its own action, so "who changed this partner's secret, when" is one filter away.
    action = "partner.secret_rotated" if "secret" in changed else "partner.updated"
    audit_record(actor=actor, action=action, obj_or_type=partner, changes=changed)
    logger.info(
        "partner updated",
        extra={"partner": partner.slug, "actor": actor, "fields": [f for f in changed if f != "secret"]},
    )
    return partner
