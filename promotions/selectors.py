"""Reads of promotions: API shapes, code lists, the CSV export."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet

from campaigns.models import Campaign
from campaigns.serializers import datetime_text, decimal_text
from core.exceptions import NotFoundError, ValidationFailed
from promotions.models import Job, PromoCode, Redemption

EXPORT_CHUNK = 5000
EXPORT_COLUMNS = (
    "code",
    "max_redemptions",
    "per_customer_limit",
    "redeemed_count",
    "reserved_count",
    "valid_from",
    "valid_until",
    "active",
)


def redemption_data(redemption: Redemption) -> dict[str, Any]:
    return {
        "id": redemption.pk,
        "status": redemption.status,
        "discount": decimal_text(redemption.discount, currency=redemption.currency),
        "expires_at": datetime_text(redemption.expires_at),
        "code": redemption.code.code,
        "customer_id": redemption.customer_id,
        "order_ref": redemption.order_ref,
        "currency": redemption.currency,
        "created_at": datetime_text(redemption.created_at),
        "committed_at": datetime_text(redemption.committed_at),
        "rolled_back_at": datetime_text(redemption.rolled_back_at),
    }


def campaign_get(*, campaign_id: int) -> Campaign:
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        raise NotFoundError("No such campaign.")
    return campaign


def redemption_get(*, redemption_id: int) -> Redemption:
    redemption = Redemption.objects.select_related("code").filter(pk=redemption_id).first()
    if redemption is None:
        raise NotFoundError("No such redemption.")
    return redemption


def job_data(job: Job) -> dict[str, Any]:
    return {
        "id": job.pk,
        "kind": job.kind,
        "status": job.status,
        "progress": job.progress,
        "total": job.total,
        "done": job.done,
        "error": job.error or None,
        "created_at": datetime_text(job.created_at),
        "finished_at": datetime_text(job.finished_at),
    }


def code_data(code: PromoCode) -> dict[str, Any]:
    return {
        "id": code.pk,
        "code": code.code,
        "campaign_id": code.campaign_id,
        "batch_id": code.batch_id,
        "max_redemptions": code.max_redemptions,
        "per_customer_limit": code.per_customer_limit,
        "redeemed_count": code.redeemed_count,
        "reserved_count": code.reserved_count,
        "valid_from": datetime_text(code.valid_from),
        "valid_until": datetime_text(code.valid_until),
        "active": code.active,
        "benefit": code.benefit,
        "min_order_value": decimal_text(code.min_order_value),
    }


def _campaign_id(value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(str(value))
    except ValueError:
        raise ValidationFailed({"campaign": ["A campaign id (integer) is required."]}) from None
    if not 0 < number < 2**63:
        raise ValidationFailed({"campaign": ["A campaign id (integer) is required."]})
    return number


def code_list(*, campaign: Any = None) -> QuerySet[PromoCode]:
    codes = PromoCode.objects.order_by("id")
    campaign_id = _campaign_id(campaign)
    if campaign_id is not None:
        codes = codes.filter(campaign_id=campaign_id)
    return codes


def campaign_codes_csv(*, campaign_id: int) -> Iterator[str]:
    """The campaign's codes as CSV, header first, read in keyset chunks (streamed, constant memory)."""
    if not Campaign.objects.filter(pk=campaign_id).exists():
        raise NotFoundError("No such campaign.")
    return _csv_rows(campaign_id)


def _csv_rows(campaign_id: int) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(EXPORT_COLUMNS)
    yield flush()
    last_id = 0
    while True:
        rows = list(
            PromoCode.objects.filter(campaign_id=campaign_id, id__gt=last_id)
            .order_by("id")
            .values_list("id", *EXPORT_COLUMNS)[:EXPORT_CHUNK]
        )
        if not rows:
            return
        for row in rows:
            values = list(row[1:])
            values[5], values[6] = datetime_text(values[5]) or "", datetime_text(values[6]) or ""
            values[7] = "true" if values[7] else "false"
            writer.writerow(["" if value is None else value for value in values])
        last_id = rows[-1][0]
        yield flush()
