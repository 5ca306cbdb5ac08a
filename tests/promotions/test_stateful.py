"""Reserve / commit / rollback / expire in any order (hypothesis stateful): the counters never lie.

After every step: `redeemed_count + reserved_count ≤ max_redemptions`, the code's and every
customer's counters equal the Redemption rows that hold a use, nothing is negative, and a refusal
happens only when the model says the code (or the customer) has no use left.
"""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from core.exceptions import ConflictError
from promotions.models import CustomerCodeUsage, PromoCode, Redemption
from promotions.services import (
    redemption_commit,
    redemption_create,
    redemption_rollback,
    redemptions_expire,
)
from promotions.validation import parse_redemption_request
from tests.campaigns.factories import CampaignFactory
from tests.promotions.conftest import redemption_body

pytestmark = pytest.mark.django_db

CUSTOMERS = ("ann", "bob", "cat")
_serial = itertools.count(1)


class RedemptionMachine(RuleBasedStateMachine):
    redemptions = Bundle("redemptions")

    def __init__(self):
        super().__init__()
        # Each example in a savepoint rolled back at its end: examples never see each other's rows.
        self._example = transaction.atomic()
        self._example.__enter__()

    def teardown(self):
        transaction.set_rollback(True)
        self._example.__exit__(None, None, None)

    @initialize(
        max_redemptions=st.none() | st.integers(min_value=1, max_value=4),
        per_customer=st.none() | st.integers(min_value=1, max_value=2),
    )
    def make_code(self, max_redemptions, per_customer):
        self.now = timezone.now()
        campaign = CampaignFactory(kind="promotion", status="active", min_purchase_value=Decimal(0))
        self.code = PromoCode.objects.create(
            campaign=campaign,
            code=f"STATE{next(_serial)}",
            max_redemptions=max_redemptions,
            per_customer_limit=per_customer,
            benefit={"type": "percent", "value": "10"},
        )
        # The model: redemption id → (customer, status, expires_at).
        self.model: dict[int, list] = {}

    def _holding(self, customer: str | None = None) -> int:
        return sum(
            1
            for who, status, _ in self.model.values()
            if status in ("reserved", "committed") and (customer is None or who == customer)
        )

    @rule(
        target=redemptions,
        customer=st.sampled_from(CUSTOMERS),
        mode=st.sampled_from(["reserve", "commit"]),
        ttl=st.integers(min_value=1, max_value=900),
    )
    def redeem(self, customer, mode, ttl):
        code = self.code
        code_full = code.max_redemptions is not None and self._holding() >= code.max_redemptions
        customer_full = (
            code.per_customer_limit is not None and self._holding(customer) >= code.per_customer_limit
        )
        request = parse_redemption_request(
            redemption_body(code.code, customer_id=customer, mode=mode, ttl_seconds=ttl)
        )
        try:
            redemption, created = redemption_create(
                actor="system", idempotency_key=f"state-{next(_serial)}", request=request, now=self.now
            )
        except ConflictError as error:
            expected = "code_exhausted" if code_full else "customer_limit_reached" if customer_full else None
            assert error.code == expected, (error.code, code_full, customer_full)
            return None
        assert created and not code_full and not customer_full
        self.model[redemption.pk] = [customer, redemption.status, redemption.expires_at]
        return redemption.pk

    @rule(redemption_id=redemptions)
    def commit(self, redemption_id):
        if redemption_id is None:
            return
        entry = self.model[redemption_id]
        live_reservation = entry[1] == "reserved" and entry[2] > self.now
        try:
            redemption_commit(actor="system", redemption_id=redemption_id, now=self.now)
        except ConflictError:
            assert not live_reservation and entry[1] != "committed"
            return
        assert live_reservation or entry[1] == "committed"
        entry[1] = "committed"

    @rule(redemption_id=redemptions, reason=st.sampled_from(["", "refund", "cancelled"]))
    def rollback(self, redemption_id, reason):
        if redemption_id is None:
            return
        entry = self.model[redemption_id]
        try:
            redemption_rollback(actor="system", redemption_id=redemption_id, reason=reason, now=self.now)
        except ConflictError as error:
            assert error.code == "redemption_settled" and entry[1] in ("rolled_back", "expired")
            return
        assert entry[1] in ("reserved", "committed")
        entry[1] = "rolled_back"

    @rule()
    def expire(self):
        due = [
            pk
            for pk, (_, status, expires_at) in self.model.items()
            if status == "reserved" and expires_at <= self.now
        ]
        assert redemptions_expire(now=self.now) == len(due)
        for pk in due:
            self.model[pk][1] = "expired"

    @rule(seconds=st.integers(min_value=1, max_value=1200))
    def advance(self, seconds):
        self.now += timedelta(seconds=seconds)

    @invariant()
    def counters_match_the_rows(self):
        if not hasattr(self, "code"):
            return
        code = PromoCode.objects.get(pk=self.code.pk)
        rows = list(Redemption.objects.filter(code=code).values_list("pk", "customer_id", "status"))
        assert {pk: status for pk, _, status in rows} == {pk: entry[1] for pk, entry in self.model.items()}
        by_status = Counter(status for _, _, status in rows)
        assert code.reserved_count == by_status["reserved"] >= 0
        assert code.redeemed_count == by_status["committed"] >= 0
        if code.max_redemptions is not None:
            assert code.redeemed_count + code.reserved_count <= code.max_redemptions
        usages = {u.customer_id: u for u in CustomerCodeUsage.objects.filter(code=code)}
        if code.per_customer_limit is None:
            assert not usages
            return
        for customer in CUSTOMERS:
            mine = Counter(status for _, who, status in rows if who == customer)
            usage = usages.get(customer)
            reserved, redeemed = (usage.reserved_count, usage.redeemed_count) if usage else (0, 0)
            assert (reserved, redeemed) == (mine["reserved"], mine["committed"])
            assert 0 <= reserved + redeemed <= code.per_customer_limit


def test_reserve_commit_rollback_expire_in_any_order_keep_the_invariants(brand_a):
    run_state_machine_as_test(
        RedemptionMachine,
        settings=settings(
            max_examples=60,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
