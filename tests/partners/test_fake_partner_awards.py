"""The demo's fake partner sends signed awards back, and the real award webhook (on a real socket) takes them."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from awards.models import Award
from campaigns.models import Campaign
from core.http.signing import signed_headers
from notifications.models import Notification
from outbox.models import OutboxMessage
from partners.fake_partner_awards import AwardJob, AwardSender, award_body
from partners.management.commands.fake_partner import FakePartner
from partners.models import Partner
from tests.campaigns.factories import CampaignFactory
from tests.partners.factories import PartnerFactory, make_whsec
from tests.purchases.conftest import in_own_connection
from tests.support.live_wsgi import live_wsgi_server

SLUG = "fake-awards-partner"


def _submission(secret: str, campaign_id: int) -> tuple[bytes, dict[str, str], str]:
    dispatch_id = str(uuid.uuid4())
    payload = {
        "type": "purchase.eligible",
        "dispatch_id": dispatch_id,
        "tenant": "brand_a",
        "campaign": {"id": campaign_id, "name": "x", "version": 1},
        "purchase": {"external_id": f"e-{dispatch_id}", "customer_id": "cust-7", "currency": "EUR"},
    }
    body = json.dumps(payload).encode()
    return body, signed_headers(secret=secret, msg_id=dispatch_id, body=body), dispatch_id


def _last_outbox_id() -> int:
    with schema_context("brand_a"):
        return OutboxMessage.objects.order_by("-id").values_list("id", flat=True).first() or 0


def test_award_body_refers_to_its_dispatch():
    body = award_body(
        payload={
            "dispatch_id": "d-1",
            "campaign": {"id": 4},
            "purchase": {"customer_id": "c-1", "currency": "EUR"},
        },
        reward={"type": "voucher", "value": "10.00", "description": "10 off"},
        now=datetime(2026, 1, 1, tzinfo=UTC),
        voucher_code="DEMO-ABCDEFGH",
    )
    assert body["award_id"] == "award-d-1"
    assert (body["customer_id"], body["campaign_id"], body["value"], body["currency"]) == (
        "c-1",
        4,
        "10.00",
        "EUR",
    )
    assert body["voucher_code"] == "DEMO-ABCDEFGH" and body["expires_at"].startswith("2026-01-31")


def test_fake_partner_sends_signed_awards_for_a_share_and_the_webhook_records_them(brands, db):
    test_database = connection.settings_dict["NAME"]
    secret = make_whsec()
    first_outbox_id = in_own_connection(test_database, _last_outbox_id)

    def seed() -> int:
        with schema_context("brand_a"):
            partner = PartnerFactory(slug=SLUG, secret=secret)
            return CampaignFactory(partner=partner, status="active", name="Fake awards campaign").pk

    campaign_id = in_own_connection(test_database, seed)
    try:
        with live_wsgi_server(test_database) as base_url:
            sender = AwardSender(url=base_url, host="brand-a.localhost", delay_seconds=0.05, threads=2)
            fake = FakePartner(
                secrets=[secret],
                seed=7,
                awards=sender,
                award_share=0.5,
                secret_owners={secret: (SLUG, secret)},
            )
            dispatch_ids = []
            for _ in range(40):
                body, headers, dispatch_id = _submission(secret, campaign_id)
                started = time.monotonic()
                status, _ = fake.submission(body=body, headers=headers)
                assert status == 200
                assert time.monotonic() - started < 0.5  # accepting never waits for an award's send
                dispatch_ids.append(dispatch_id)
            # A re-sent dispatch (same Idempotency-Key) is a replay: no second award queued.
            fake.submission(body=body, headers=headers)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                counters = fake.counters()
                if (
                    counters["awards_waiting"] == 0
                    and counters.get("awards_sent", 0) + counters.get("awards_failed", 0)
                    >= counters["awards_queued"]
                ):
                    break
                time.sleep(0.05)
            sender.stop()

        def recorded() -> list[tuple[str, str, str]]:
            with schema_context("brand_a"):
                return list(
                    Award.objects.filter(campaign_id=campaign_id).values_list(
                        "award_id", "notification__status", "voucher_code"
                    )
                )

        awards = in_own_connection(test_database, recorded)
    finally:

        def clean() -> None:
            with schema_context("brand_a"):
                Notification.objects.filter(campaign_id=campaign_id).delete()
                Award.objects.filter(campaign_id=campaign_id).delete()
                Campaign.objects.filter(pk=campaign_id).delete()
                Partner.objects.filter(slug=SLUG).delete()
                OutboxMessage.objects.filter(id__gt=first_outbox_id).delete()

        in_own_connection(test_database, clean)

    assert counters.get("awards_failed", 0) == 0, counters
    assert 10 <= counters["awards_sent"] == counters["awards_queued"] <= 30, counters
    assert len(awards) == counters["awards_sent"]
    assert {award_id for award_id, _, _ in awards} <= {f"award-{d}" for d in dispatch_ids}
    assert all(status is not None and code.startswith("DEMO-") for _, status, code in awards)


def test_an_award_sent_twice_is_a_200_replay_never_a_second_award(brands, db):
    """Sending the same award twice (a retry after a lost answer) is a 200 replay, never a second award."""
    test_database = connection.settings_dict["NAME"]
    secret = make_whsec()
    first_outbox_id = in_own_connection(test_database, _last_outbox_id)

    def seed() -> int:
        with schema_context("brand_a"):
            partner = PartnerFactory(slug=SLUG, secret=secret)
            return CampaignFactory(partner=partner, status="active", name="Fake awards replay").pk

    campaign_id = in_own_connection(test_database, seed)
    try:
        with live_wsgi_server(test_database) as base_url:
            sender = AwardSender(url=base_url, host="brand-a.localhost", delay_seconds=0, threads=1)
            fake = FakePartner(
                secrets=[secret], awards=sender, award_share=1.0, secret_owners={secret: (SLUG, secret)}
            )
            body, headers, _ = _submission(secret, campaign_id)
            fake.submission(body=body, headers=headers)
            deadline = time.monotonic() + 20
            while fake.counters().get("awards_sent", 0) < 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            fake._answers.clear()  # the partner forgot it answered: it accepts and awards again
            fake.submission(body=body, headers=headers)
            while fake.counters().get("awards_replayed", 0) < 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            sender.stop()

        def count() -> int:
            with schema_context("brand_a"):
                return Award.objects.filter(campaign_id=campaign_id).count()

        stored = in_own_connection(test_database, count)
    finally:

        def clean() -> None:
            with schema_context("brand_a"):
                Notification.objects.filter(campaign_id=campaign_id).delete()
                Award.objects.filter(campaign_id=campaign_id).delete()
                Campaign.objects.filter(pk=campaign_id).delete()
                Partner.objects.filter(slug=SLUG).delete()
                OutboxMessage.objects.filter(id__gt=first_outbox_id).delete()

        in_own_connection(test_database, clean)

    counters = fake.counters()
    assert (counters["awards_sent"], counters["awards_replayed"], stored) == (1, 1, 1), counters


@pytest.mark.parametrize("share", ["-0.1", "1.5"])
def test_fake_partner_command_refuses_a_bad_award_share(brand_a, share):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="award-share"):
        call_command("fake_partner", "--port", "0", "--secret", make_whsec(), "--award-share", share)


def test_award_sender_retries_5xx_and_connection_errors_and_gives_up_on_other_4xx(httpserver):
    from werkzeug import Response

    answers = iter([503, 201])
    httpserver.expect_request("/api/v1/partners/p/awards/").respond_with_handler(
        lambda request: Response("{}", status=next(answers), content_type="application/json")
    )
    httpserver.expect_request("/api/v1/partners/rejected/awards/").respond_with_data("{}", status=400)
    sender = AwardSender(url=httpserver.url_for("/"), delay_seconds=0, retry_base_seconds=0.05, threads=1)
    body = {"award_id": "award-x"}
    sender.submit(AwardJob(partner_slug="p", secret=make_whsec(), webhook_id="award-x", body=body))
    sender.submit(AwardJob(partner_slug="rejected", secret=make_whsec(), webhook_id="award-y", body=body))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        counters = sender.counters()
        if counters.get("awards_sent") == 1 and counters.get("awards_failed") == 1:
            break
        time.sleep(0.02)
    sender.stop()
    assert (counters["awards_queued"], counters["awards_retried"]) == (2, 1), counters
    assert (counters["awards_sent"], counters["awards_failed"]) == (1, 1), counters
    signed = [request for request, _ in httpserver.log if request.path.endswith("/p/awards/")]
    assert len(signed) == 2 and all(r.headers["webhook-signature"].startswith("v1,") for r in signed)


def test_fake_partner_command_needs_where_and_as_whom_to_send_awards(brand_a):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="--award-url"):
        call_command("fake_partner", "--port", "0", "--schema", "brand_a", "--award-share", "0.5")
    with pytest.raises(CommandError, match="--partner-slug"):
        call_command(
            "fake_partner",
            "--port",
            "0",
            "--secret",
            make_whsec(),
            "--award-share",
            "0.5",
            "--award-url",
            "http://127.0.0.1:1",
        )
