"""Award webhook (SPEC §7): verify the partner's signature, record the award once, notify the customer.

Authentication is the Standard Webhooks signature over the raw body with the
partner's secret (or its previous secret while `previous_secret_valid_until`
is in the future). An unknown partner slug is answered exactly like a bad
signature (401, same message, same HMAC work against a throw-away secret), so
the endpoint does not reveal which partners a brand has. A verified but
inactive partner gets 403.

Idempotency: `Award(partner, award_id)` and `Award(partner, webhook_id)` are
unique in the database. A replayed delivery or a re-sent award finds the
stored row (200); two identical deliveries racing each other both try the
INSERT inside a savepoint, the loser hits the unique index, rolls back its
savepoint and answers with the winner's row. The notification is created and
enqueued (outbox) in the same transaction as the award, so there is exactly
one per award and none is lost if the broker is down.
"""

from __future__ import annotations

import base64
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from rest_framework import status
from standardwebhooks import Webhook
from standardwebhooks.webhooks import EmptyWebhookSecretError, WebhookVerificationError

from awards.models import Award
from campaigns.models import Campaign
from core.exceptions import ApplicationError, UnprocessableError, validate_model
from core.money import is_iso_4217, money_str
from outbox import events
from partners.models import Partner

logger = logging.getLogger(__name__)

# Verified against when the slug is unknown, so both cases cost the same HMAC work.
_DECOY_SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class WebhookSignatureError(ApplicationError):
    status_code = status.HTTP_401_UNAUTHORIZED
    default_code = "invalid_signature"


class PartnerInactiveError(ApplicationError):
    status_code = status.HTTP_403_FORBIDDEN
    default_code = "partner_inactive"


def _secrets_accepted(partner: Partner, now: datetime) -> list[str]:
    accepted = [partner.secret]
    if (
        partner.previous_secret
        and partner.previous_secret_valid_until is not None
        and partner.previous_secret_valid_until > now
    ):
        accepted.append(partner.previous_secret)
    return accepted


def _signature_valid(secret: str, raw_body: bytes, headers: Mapping[str, str]) -> bool:
    try:
        Webhook(secret).verify(raw_body, dict(headers), json_parse=False)
    except (WebhookVerificationError, EmptyWebhookSecretError, ValueError, TypeError):
        # ValueError covers undecodable bodies, malformed signature lists and bad base64 (also in
        # a stored secret); an empty stored secret verifies nothing.
        return False
    return True


def award_webhook_authenticate(*, partner_slug: str, raw_body: bytes, headers: Mapping[str, str]) -> Partner:
    """The partner whose secret signed the raw body.

    Raises WebhookSignatureError (401) or PartnerInactiveError (403).

    The library rejects timestamps more than 5 minutes old or in the future.
    """
    partner = Partner.objects.filter(slug=partner_slug).first()
    candidates = _secrets_accepted(partner, timezone.now()) if partner else [_DECOY_SECRET]
    verified = any(_signature_valid(secret, raw_body, headers) for secret in candidates)
    if partner is None or not verified:
        raise WebhookSignatureError("The webhook signature is missing, invalid or expired.")
    if not partner.is_active:
        raise PartnerInactiveError("This partner is not active.")
    return partner


@dataclass(frozen=True)
class AwardData:
    """A validated award webhook body."""

    award_id: str
    customer_id: str
    campaign_id: int
    reward_type: str
    value: Decimal | None = None
    currency: str = ""
    voucher_code: str = ""
    expires_at: datetime | None = None
    message: str = ""


def _existing_award(*, partner: Partner, webhook_id: str, award_id: str) -> Award | None:
    return (
        Award.objects.select_related("campaign", "partner", "notification")
        .filter(partner=partner)
        .filter(Q(webhook_id=webhook_id) | Q(award_id=award_id))
        .order_by("id")
        .first()
    )


# Apps above this one act on a new award inside its transaction (notifications: the customer's push),
# registered when Django starts; this app does not import them.
_award_received_handlers: list[Callable[..., object]] = []


def on_award_received(handler: Callable[..., object]) -> Callable[..., object]:
    """Register `handler(award=...)`, called once per new award, in the transaction that records it."""
    if handler not in _award_received_handlers:
        _award_received_handlers.append(handler)
    return handler


@transaction.atomic
def award_receive(*, partner: Partner, webhook_id: str, data: AwardData) -> tuple[Award, bool]:
    """Record the award once and enqueue its notification; returns (award, created).

    A known webhook-id or award_id returns the stored award (first write wins:
    a re-sent award with different fields is logged, not applied).
    """
    existing = _existing_award(partner=partner, webhook_id=webhook_id, award_id=data.award_id)
    if existing is not None:
        if existing.award_id != data.award_id:
            logger.info(
                "award webhook replayed with another award_id; answering with the stored award",
                extra={"partner": partner.slug, "webhook_id": webhook_id, "award_id": existing.award_id},
            )
        return existing, False

    campaign = Campaign.objects.filter(pk=data.campaign_id, partner=partner).first()
    if campaign is None:
        # Unknown, or another partner's: the same answer, so partners cannot probe each other's campaigns.
        raise UnprocessableError(
            "No campaign with this id belongs to this partner.",
            code="unknown_campaign",
            fields={"campaign_id": ["No campaign with this id belongs to this partner."]},
        )

    award = Award(
        partner=partner,
        campaign=campaign,
        webhook_id=webhook_id,
        award_id=data.award_id,
        customer_id=data.customer_id,
        reward_type=data.reward_type,
        value=data.value,
        currency=data.currency,
        voucher_code=data.voucher_code,
        expires_at=data.expires_at,
        message=data.message,
    )
    # Uniqueness is the database's job (below): a check here would race.
    validate_model(award, validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            award.save()
    except IntegrityError:
        existing = _existing_award(partner=partner, webhook_id=webhook_id, award_id=data.award_id)
        if existing is None:
            raise
        return existing, False
    events.emit(
        events.EventType.AWARD_CREATED,
        {
            "award_id": award.award_id,
            "campaign_id": campaign.pk,
            "partner": partner.slug,
            "customer_id": award.customer_id,
            "reward_type": award.reward_type,
            "value": award.value,
            "currency": award.currency,
            "voucher_code": award.voucher_code,
            "expires_at": award.expires_at,
        },
    )
    for handler in _award_received_handlers:
        handler(award=award)
    logger.info(
        "award received",
        extra={"partner": partner.slug, "award_id": award.award_id, "campaign": campaign.pk},
    )
    return award, True


def award_display_value(value: Decimal | None, currency: str) -> str | None:
    """10.0000 EUR → "10.00" (the currency's minor unit); without a currency trailing zeros go ("2.5")."""
    if value is None:
        return None
    if currency and is_iso_4217(currency):
        return money_str(value, currency)
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
