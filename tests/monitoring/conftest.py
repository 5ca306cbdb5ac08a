"""Fixtures of the monitoring tests: raw rows at chosen hours, a local SMTP server, a webhook receiver."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from aiosmtpd.controller import Controller
from pytest_httpserver import HTTPServer

from awards.models import Award
from campaigns.models import Campaign
from dispatches.models import Dispatch, DispatchAttempt
from notifications.models import Notification
from tests.campaigns.factories import CampaignFactory
from tests.partners.factories import PartnerFactory
from tests.purchases.factories import EvaluationFactory, PurchaseFactory


def add_evaluation(campaign: Campaign, at: datetime, *, eligible: bool, value: str = "10.00"):
    return EvaluationFactory(
        campaign=campaign,
        evaluated_at=at,
        eligible=eligible,
        eligible_value=Decimal(value) if eligible else Decimal(0),
        reason=None if eligible else "below_minimum",
    )


def add_attempts(campaign: Campaign, at: datetime, outcomes: list[str]) -> Dispatch:
    """A dispatch of `campaign` with one attempt per outcome, all at `at` (+1 s each)."""
    purchase = PurchaseFactory()
    status = {"sent": "sent", "retry": "retrying", "dead": "dead"}[outcomes[-1]]
    dispatch = Dispatch.objects.create(
        purchase=purchase, campaign=campaign, partner=campaign.partner, status=status, attempts=len(outcomes)
    )
    for number, outcome in enumerate(outcomes, start=1):
        DispatchAttempt.objects.create(
            dispatch=dispatch,
            number=number,
            attempted_at=at + timedelta(seconds=number),
            status_code=200 if outcome == "sent" else 503,
            latency_ms=12,
            outcome=outcome,
        )
    return dispatch


def add_award(
    campaign: Campaign, at: datetime, *, notification: str | None = None, notified_at=None
) -> Award:
    award = Award.objects.create(
        partner=campaign.partner,
        award_id=f"aw-{uuid.uuid4().hex[:12]}",
        campaign=campaign,
        customer_id="cust-1",
        reward_type="voucher",
        value=Decimal("5.00"),
        currency="EUR",
        webhook_id=f"msg_{uuid.uuid4().hex}",
    )
    Award.objects.filter(pk=award.pk).update(received_at=at)
    if notification:
        note = Notification.objects.create(
            customer_id="cust-1",
            campaign=campaign,
            award=award,
            provider="console",
            status=notification,
            attempts=1,
            sent_at=notified_at if notification == "sent" else None,
        )
        Notification.objects.filter(pk=note.pk).update(updated_at=notified_at)
    return award


@pytest.fixture
def active_campaign(brand_a) -> Campaign:
    return CampaignFactory(status=Campaign.Status.ACTIVE, partner=PartnerFactory(slug="monitoring-partner"))


class SmtpSink:
    """aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[dict] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(
            {"from": envelope.mail_from, "to": list(envelope.rcpt_tos), "data": envelope.content.decode()}
        )
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Controller, SmtpSink]]:
    sink = SmtpSink()
    with socket.socket() as probe:  # a free port (aiosmtpd's readiness check needs a real one)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield controller, sink
    finally:
        controller.stop()


@pytest.fixture
def webhook_server() -> Iterator[HTTPServer]:
    """A second local HTTP server (the operators' alarm webhook), apart from the partner's."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    try:
        yield server
    finally:
        server.clear()
        if server.is_running():
            server.stop()
