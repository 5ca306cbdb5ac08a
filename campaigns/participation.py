"""Customer participation URLs (SPEC §6): a partner-specific link carrying a short-lived JWT.

The token is HS256-signed with the same bytes Standard Webhooks signs with
(the base64-decoded part of the partner's `whsec_…` secret), so a partner
verifies it with the one secret it already holds. Every issued token is an
audit row (`ParticipationToken`).
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode, urlsplit, urlunsplit

import jwt
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from campaigns.models import Campaign
from core.exceptions import ConflictError, NotFoundError, validate_model
from partners.models import ParticipationToken, Partner

JWT_ALGORITHM = "HS256"
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a password


def partner_secret_bytes(secret: str) -> bytes:
    """The key bytes of a `whsec_<base64>` secret, decoded exactly as the standardwebhooks library does."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    return base64.b64decode(encoded + "==")


def participation_url(*, auth_url: str, token: str) -> str:
    """`auth_url?token=…`, or `…&token=…` when auth_url already has a query; a fragment stays last."""
    parts = urlsplit(auth_url)
    query = f"{parts.query}&" if parts.query else ""
    return urlunsplit(parts._replace(query=query + urlencode({"token": token})))


@dataclass(frozen=True)
class IssuedParticipation:
    url: str
    token: str
    expires_at: datetime
    record: ParticipationToken


def participation_token_claims(
    *,
    partner: Partner,
    campaign: Campaign,
    customer_id: str,
    issued_at: datetime,
    expires_at: datetime,
    jti: str,
) -> dict[str, object]:
    return {
        "iss": connection.schema_name,
        "aud": partner.slug,
        "sub": customer_id,
        "cid": campaign.pk,
        "iat": int(issued_at.timestamp()),
        "exp": int(expires_at.timestamp()),
        "jti": jti,
    }


@transaction.atomic
def participation_token_issue(*, campaign_id: int, customer_id: str) -> IssuedParticipation:
    """Issue a participation URL for an `active` campaign (else 409) and record the token."""
    campaign = Campaign.objects.select_related("partner").filter(pk=campaign_id).first()
    if campaign is None:
        raise NotFoundError("No such campaign.")
    if campaign.status != Campaign.Status.ACTIVE:
        raise ConflictError(
            f"Participation URLs are issued for active campaigns only (this one is {campaign.status}).",
            code="campaign_not_active",
        )
    partner = campaign.partner
    if partner is None or not partner.is_active:
        raise ConflictError("The campaign's partner is not active.", code="partner_not_active")

    # Whole seconds: JWT times are integers, and the response's expires_at must equal the token's exp.
    issued_at = timezone.now().replace(microsecond=0)
    expires_at = issued_at + timedelta(seconds=settings.PARTICIPATION_TOKEN_TTL_SECONDS)
    jti = uuid.uuid4().hex
    claims = participation_token_claims(
        partner=partner,
        campaign=campaign,
        customer_id=customer_id,
        issued_at=issued_at,
        expires_at=expires_at,
        jti=jti,
    )
    token = jwt.encode(claims, partner_secret_bytes(partner.secret), algorithm=JWT_ALGORITHM)
    record = ParticipationToken(
        jti=jti,
        customer_id=customer_id,
        campaign=campaign,
        partner=partner,
        issued_at=issued_at,
        expires_at=expires_at,
    )
    validate_model(record)
    record.save()
    return IssuedParticipation(
        url=participation_url(auth_url=partner.auth_url, token=token),
        token=token,
        expires_at=expires_at,
        record=record,
    )
