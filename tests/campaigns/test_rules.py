"""Tests for the campaign rules engine (campaigns.rules) and currency table.

Pure unit tests: no database, no Django. Two layers:

* explicit examples pinning each rule of SPEC §3 (every reason, check order,
  blacklist beats whitelist, largest whitelist wins, half-up rounding per currency
  at the end, exact Decimals) and the engine's documented decisions;
* hypothesis properties comparing the engine with ``reference_evaluate`` below, a
  deliberately naive implementation: a loop over the raw rule list, exact
  ``Fraction`` arithmetic and hand-written half-up rounding -- nothing shared with
  the engine's compiled sets/dicts or its Decimal context handling.
"""

from __future__ import annotations

import ast
import dataclasses
import math
import random
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, Inexact, getcontext, localcontext
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns.rules import (
    EXACT_DIGITS,
    CampaignSpec,
    CompiledCampaign,
    EvaluationResult,
    ItemRuleSpec,
    PurchaseFacts,
    PurchaseLine,
    Reason,
    compile_campaign,
    evaluate_purchase,
)
from core.money import ISO_4217_MINOR_UNITS, is_iso_4217, quantum_for

UTC = UTC
T0 = datetime(2025, 1, 1, tzinfo=UTC)
T1 = datetime(2025, 2, 1, tzinfo=UTC)
INSIDE = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
BOTH_CHANNELS = frozenset({"in_store", "ecommerce"})

# --------------------------------------------------------------------- helpers


def D(text: str) -> Decimal:
    return Decimal(text)


def spec(
    *rules: ItemRuleSpec,
    status: str = "active",
    starts_at: datetime = T0,
    ends_at: datetime = T1,
    channels: frozenset[str] = BOTH_CHANNELS,
    currency: str = "EUR",
    min_value: Decimal = D("0"),
    id: int = 7,
    version: int = 3,
) -> CampaignSpec:
    return CampaignSpec(
        id=id,
        version=version,
        status=status,
        starts_at=starts_at,
        ends_at=ends_at,
        purchase_channels=channels,
        currency=currency,
        min_purchase_value=min_value,
        item_rules=tuple(rules),
    )


def line(
    sku: str = "S1", category: str | None = "c1", quantity: int = 1, unit_price: str | Decimal = "10.00"
) -> PurchaseLine:
    return PurchaseLine(sku, category, quantity, Decimal(unit_price))


def purchase(
    *lines: PurchaseLine,
    at: datetime = INSIDE,
    channel: str = "in_store",
    currency: str = "EUR",
) -> PurchaseFacts:
    return PurchaseFacts(at, channel, currency, tuple(lines) if lines else (line(),))


def run(campaign_spec: CampaignSpec, facts: PurchaseFacts) -> EvaluationResult:
    return compile_campaign(campaign_spec).evaluate(facts)


def bl(match: str, value: str) -> ItemRuleSpec:
    return ItemRuleSpec("blacklist", match, value)


def wl(match: str, value: str, multiplier: str = "1", bonus: str = "0") -> ItemRuleSpec:
    return ItemRuleSpec("whitelist", match, value, Decimal(multiplier), Decimal(bonus))


def same_decimal(a: Decimal, b: Decimal) -> bool:
    """Equal value AND representation (sign, digits, exponent): '0.00' != '0' here."""
    return a.as_tuple() == b.as_tuple()


# ---------------------------------------------------------- reference implementation


def _round_half_up(value: Fraction, places: int) -> Decimal:
    """Round an exact Fraction half-up (ties away from zero) to ``places`` decimals."""
    scaled = abs(value) * 10**places
    units = math.floor(scaled + Fraction(1, 2))
    sign = 1 if value < 0 and units != 0 else 0  # a rounded zero is +0
    return Decimal((sign, tuple(int(d) for d in str(units)), -places))


def reference_evaluate(campaign: CampaignSpec, facts: PurchaseFacts) -> tuple[bool, Decimal, str | None]:
    """SPEC §3 written as plainly as possible, over the raw rule list."""
    places = ISO_4217_MINOR_UNITS[campaign.currency]
    zero = _round_half_up(Fraction(0), places)
    if campaign.status == "paused":
        return (False, zero, "campaign_not_active")
    if not (campaign.starts_at <= facts.purchased_at < campaign.ends_at):
        return (False, zero, "outside_validity")
    if facts.channel not in campaign.purchase_channels:
        return (False, zero, "channel_not_allowed")
    if facts.currency != campaign.currency:
        return (False, zero, "currency_mismatch")

    total = Fraction(0)
    for item in facts.lines:
        line_total = item.quantity * Fraction(item.unit_price)

        def matches(rule: ItemRuleSpec, item: PurchaseLine = item) -> bool:
            if rule.match == "sku":
                return rule.value == item.sku
            return item.category is not None and rule.value == item.category

        if any(rule.kind == "blacklist" and matches(rule) for rule in campaign.item_rules):
            continue
        candidates = [
            line_total * Fraction(rule.multiplier) + item.quantity * Fraction(rule.bonus_per_unit)
            for rule in campaign.item_rules
            if rule.kind == "whitelist" and matches(rule)
        ]
        total += max(candidates) if candidates else line_total

    value = _round_half_up(total, places)
    if value == 0:
        return (False, zero, "no_eligible_items")
    if value < campaign.min_purchase_value:
        return (False, value, "below_minimum")
    return (True, value, None)


def assert_matches_reference(campaign: CampaignSpec, facts: PurchaseFacts, result: EvaluationResult) -> None:
    eligible, value, reason = reference_evaluate(campaign, facts)
    assert result.campaign_id == campaign.id
    assert result.campaign_version == campaign.version
    assert result.eligible is eligible
    assert result.reason == reason
    assert type(result.eligible_value) is Decimal
    assert same_decimal(result.eligible_value, value), (result.eligible_value, value)


def test_reference_round_half_up() -> None:
    # The oracle's rounding must itself be right, or the properties prove nothing.
    assert str(_round_half_up(Fraction("2.5"), 0)) == "3"
    assert str(_round_half_up(Fraction("-2.5"), 0)) == "-3"
    assert str(_round_half_up(Fraction("2.4999"), 0)) == "2"
    assert str(_round_half_up(Fraction("0.125"), 2)) == "0.13"
    assert str(_round_half_up(Fraction("-0.004"), 2)) == "0.00"
    assert str(_round_half_up(Fraction("1.0005"), 3)) == "1.001"
    assert str(_round_half_up(Fraction(0), 0)) == "0"


# ------------------------------------------------------------------ Reason / API


def test_reason_values_are_the_snake_case_strings() -> None:
    assert {r.name: r.value for r in Reason} == {
        "CAMPAIGN_NOT_ACTIVE": "campaign_not_active",
        "OUTSIDE_VALIDITY": "outside_validity",
        "CHANNEL_NOT_ALLOWED": "channel_not_allowed",
        "CURRENCY_MISMATCH": "currency_mismatch",
        "CUSTOMER_NOT_ELIGIBLE": "customer_not_eligible",
        "NO_ELIGIBLE_ITEMS": "no_eligible_items",
        "BELOW_MINIMUM": "below_minimum",
        "CUSTOMER_LIMIT_REACHED": "customer_limit_reached",
        "BUDGET_EXHAUSTED": "budget_exhausted",
    }
    assert Reason.BELOW_MINIMUM == "below_minimum"  # StrEnum: usable as plain str
    assert f"{Reason.OUTSIDE_VALIDITY}" == "outside_validity"


def test_item_rule_defaults() -> None:
    rule = ItemRuleSpec("whitelist", "sku", "S1")
    assert rule.multiplier == Decimal(1) and rule.bonus_per_unit == Decimal(0)


def test_compiled_campaign_exposes_id_version_and_evaluate_purchase_delegates() -> None:
    campaign = compile_campaign(spec(id=42, version=9))
    assert isinstance(campaign, CompiledCampaign)
    assert (campaign.id, campaign.version) == (42, 9)
    facts = purchase()
    assert evaluate_purchase(campaign, facts) == campaign.evaluate(facts)
    assert evaluate_purchase(campaign, facts).campaign_id == 42


def test_results_are_plain_frozen_dataclasses() -> None:
    result = run(spec(min_value=D("5")), purchase())
    built = EvaluationResult(7, 3, True, D("10.00"), None)
    assert result == built and hash(result) == hash(built)
    assert repr(result) == repr(built)
    assert dataclasses.asdict(result) == dataclasses.asdict(built)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.eligible = False  # type: ignore[misc]
    below = run(spec(min_value=D("50")), purchase())
    assert below == EvaluationResult(7, 3, False, D("10.00"), Reason.BELOW_MINIMUM)


# ----------------------------------------------------------------- every reason


def test_eligible() -> None:
    result = run(spec(min_value=D("10.00")), purchase(line(quantity=2, unit_price="7.50")))
    assert result == EvaluationResult(7, 3, True, D("15.00"), None)


@pytest.mark.parametrize(
    ("campaign_spec", "facts", "reason"),
    [
        pytest.param(spec(status="paused"), purchase(), Reason.CAMPAIGN_NOT_ACTIVE, id="campaign_not_active"),
        pytest.param(
            spec(), purchase(at=T0 - timedelta(seconds=1)), Reason.OUTSIDE_VALIDITY, id="before_start"
        ),
        pytest.param(spec(), purchase(at=T1), Reason.OUTSIDE_VALIDITY, id="at_end"),
        pytest.param(spec(), purchase(at=T1 + timedelta(days=3)), Reason.OUTSIDE_VALIDITY, id="after_end"),
        pytest.param(
            spec(channels=frozenset({"in_store"})),
            purchase(channel="ecommerce"),
            Reason.CHANNEL_NOT_ALLOWED,
            id="channel",
        ),
        pytest.param(spec(channels=frozenset()), purchase(), Reason.CHANNEL_NOT_ALLOWED, id="no_channels"),
        pytest.param(spec(currency="EUR"), purchase(currency="USD"), Reason.CURRENCY_MISMATCH, id="currency"),
        pytest.param(
            spec(currency="EUR"), purchase(currency="eur"), Reason.CURRENCY_MISMATCH, id="currency_case"
        ),
        pytest.param(
            spec(bl("sku", "S1")), purchase(line(sku="S1")), Reason.NO_ELIGIBLE_ITEMS, id="all_blacklisted"
        ),
        pytest.param(
            spec(), PurchaseFacts(INSIDE, "in_store", "EUR", ()), Reason.NO_ELIGIBLE_ITEMS, id="no_lines"
        ),
        pytest.param(spec(), purchase(line(quantity=0)), Reason.NO_ELIGIBLE_ITEMS, id="zero_quantity"),
        pytest.param(
            spec(min_value=D("10.01")),
            purchase(line(unit_price="10.00")),
            Reason.BELOW_MINIMUM,
            id="below_minimum",
        ),
    ],
)
def test_each_reason(campaign_spec: CampaignSpec, facts: PurchaseFacts, reason: Reason) -> None:
    result = run(campaign_spec, facts)
    assert result.reason is reason
    assert result.eligible is False
    assert_matches_reference(campaign_spec, facts, result)


def test_completed_campaign_passes_the_status_check() -> None:
    # Only "paused" fails check 1: which campaigns get evaluated is decided elsewhere.
    assert run(spec(status="completed"), purchase()).eligible is True
    assert run(spec(status="active"), purchase()).eligible is True


def test_below_minimum_reports_the_computed_value_and_equal_minimum_is_eligible() -> None:
    # Decision: the ROUNDED value is compared. 19.995 rounds to 20.00, which is not
    # below 20.00 (the raw 19.995 would have been).
    assert run(spec(min_value=D("20.00")), purchase(line(unit_price="19.995"))).eligible is True
    result = run(spec(min_value=D("20.01")), purchase(line(unit_price="19.995")))
    assert result == EvaluationResult(7, 3, False, D("20.00"), Reason.BELOW_MINIMUM)


# ------------------------------------------------------------------- check order

ALL_FAIL = dict(
    status="paused",
    at=T1 + timedelta(days=1),
    channel="ecommerce",
    currency="USD",
)


@pytest.mark.parametrize(
    ("fixed", "reason"),
    [
        ((), Reason.CAMPAIGN_NOT_ACTIVE),
        (("status",), Reason.OUTSIDE_VALIDITY),
        (("status", "at"), Reason.CHANNEL_NOT_ALLOWED),
        (("status", "at", "channel"), Reason.CURRENCY_MISMATCH),
        (("status", "at", "channel", "currency"), Reason.NO_ELIGIBLE_ITEMS),
    ],
)
def test_check_order_first_failure_wins(fixed: tuple[str, ...], reason: Reason) -> None:
    """Everything fails (including: all items blacklisted and below minimum); fixing
    the checks one by one, in spec order, reveals the next reason each time."""
    ok = dict(status="active", at=INSIDE, channel="in_store", currency="EUR")
    chosen = {k: (ok[k] if k in fixed else ALL_FAIL[k]) for k in ALL_FAIL}
    campaign_spec = spec(
        bl("sku", "S1"),
        status=chosen["status"],  # type: ignore[arg-type]
        channels=frozenset({"in_store"}),
        currency="EUR",
        min_value=D("1000"),
    )
    facts = purchase(line(sku="S1"), at=chosen["at"], channel=chosen["channel"], currency=chosen["currency"])  # type: ignore[arg-type]
    result = run(campaign_spec, facts)
    assert result.reason is reason
    assert_matches_reference(campaign_spec, facts, result)


def test_no_eligible_items_beats_below_minimum() -> None:
    result = run(spec(bl("category", "c1"), min_value=D("5")), purchase(line(category="c1")))
    assert result.reason is Reason.NO_ELIGIBLE_ITEMS


@pytest.mark.parametrize(
    ("currency", "zero"), [("EUR", "0.00"), ("JPY", "0"), ("BHD", "0.000"), ("CLF", "0.0000")]
)
def test_checks_one_to_four_do_not_compute_the_value(currency: str, zero: str) -> None:
    """Decision: for checks 1-4 eligible_value is Decimal 0 at the currency exponent."""
    facts = purchase(line(unit_price="99"), currency=currency)
    cases = [
        spec(status="paused", currency=currency),
        spec(currency=currency, ends_at=T0 + timedelta(seconds=1)),
        spec(currency=currency, channels=frozenset({"ecommerce"})),
        spec(currency="KWD" if currency != "KWD" else "EUR"),
    ]
    for index, campaign_spec in enumerate(cases):
        result = run(campaign_spec, facts)
        assert result.eligible is False and result.reason is not None
        if index < 3:
            assert str(result.eligible_value) == zero
        else:  # currency mismatch: zero in the CAMPAIGN currency
            assert str(result.eligible_value) == "0.000"


# ------------------------------------------------------------------- validity


def test_validity_window_is_half_open_and_timezone_independent() -> None:
    campaign = compile_campaign(spec())
    plus_two = timezone(timedelta(hours=2))
    minus_five = timezone(timedelta(hours=-5))
    assert campaign.evaluate(purchase(at=T0)).eligible  # starts_at inclusive
    assert campaign.evaluate(purchase(at=T0.astimezone(plus_two))).eligible
    assert campaign.evaluate(purchase(at=T0 - timedelta(microseconds=1))).reason is Reason.OUTSIDE_VALIDITY
    assert campaign.evaluate(purchase(at=T1 - timedelta(microseconds=1))).eligible
    assert campaign.evaluate(purchase(at=(T1 - timedelta(microseconds=1)).astimezone(minus_five))).eligible
    assert campaign.evaluate(purchase(at=T1)).reason is Reason.OUTSIDE_VALIDITY  # ends_at exclusive
    assert campaign.evaluate(purchase(at=T1.astimezone(minus_five))).reason is Reason.OUTSIDE_VALIDITY
    # Campaign bounds given in a non-UTC zone mean the same instants.
    shifted = compile_campaign(spec(starts_at=T0.astimezone(minus_five), ends_at=T1.astimezone(plus_two)))
    assert shifted.evaluate(purchase(at=T0)).eligible
    assert shifted.evaluate(purchase(at=T1)).reason is Reason.OUTSIDE_VALIDITY


def test_empty_or_inverted_window_rejects_everything() -> None:
    assert run(spec(starts_at=T0, ends_at=T0), purchase(at=T0)).reason is Reason.OUTSIDE_VALIDITY
    assert run(spec(starts_at=T1, ends_at=T0), purchase()).reason is Reason.OUTSIDE_VALIDITY


# ------------------------------------------------------------- item rules


@pytest.mark.parametrize(
    "rules",
    [
        pytest.param((bl("sku", "S1"), wl("sku", "S1", "3")), id="sku_vs_sku"),
        pytest.param((bl("category", "c1"), wl("category", "c1", "3")), id="category_vs_category"),
        pytest.param((bl("sku", "S1"), wl("category", "c1", "3")), id="sku_blacklist_vs_category_whitelist"),
        pytest.param((bl("category", "c1"), wl("sku", "S1", "3")), id="category_blacklist_vs_sku_whitelist"),
        pytest.param(
            (wl("sku", "S1", "2"), wl("category", "c1", "5"), bl("category", "c1")),
            id="blacklist_listed_last",
        ),
    ],
)
def test_blacklist_beats_whitelist(rules: tuple[ItemRuleSpec, ...]) -> None:
    facts = purchase(line("S1", "c1", 2, "10.00"), line("S2", "c2", 1, "5.00"))
    campaign_spec = spec(*rules)
    result = run(campaign_spec, facts)
    assert result.eligible and str(result.eligible_value) == "5.00"  # only the other line counts
    assert_matches_reference(campaign_spec, facts, result)


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        # line: qty 2 x 10.00 = 20.00
        pytest.param((wl("sku", "S1", "2"), wl("category", "c1", "1.5")), "40.00", id="sku_rule_larger"),
        pytest.param((wl("sku", "S1", "1.5"), wl("category", "c1", "2")), "40.00", id="category_rule_larger"),
        # 20*1 + 2*7.5 = 35 beats 20*1.5 + 0 = 30: the bonus decides
        pytest.param((wl("sku", "S1", "1.5"), wl("category", "c1", "1", "7.5")), "35.00", id="bonus_decides"),
        pytest.param((wl("sku", "S1", "1", "2.5"), wl("category", "c1", "1.25")), "25.00", id="tie"),
        pytest.param((wl("sku", "S1", "1.1", "0.05"),), "22.10", id="single_rule"),
        # The whitelist contribution replaces the line total even when smaller.
        pytest.param((wl("sku", "S1", "0.5"),), "10.00", id="smaller_than_line_total"),
        pytest.param((wl("sku", "S1", "0.5"), wl("category", "c1", "0.25")), "10.00", id="both_smaller"),
        pytest.param((wl("sku", "S2", "9"), wl("category", "c9", "9")), "20.00", id="no_match"),
    ],
)
def test_largest_whitelist_contribution_wins(rules: tuple[ItemRuleSpec, ...], expected: str) -> None:
    facts = purchase(line("S1", "c1", 2, "10.00"))
    campaign_spec = spec(*rules)
    result = run(campaign_spec, facts)
    assert str(result.eligible_value) == expected
    assert_matches_reference(campaign_spec, facts, result)


def test_rules_apply_per_line_and_sum() -> None:
    campaign_spec = spec(
        bl("sku", "BAD"),
        bl("category", "tobacco"),
        wl("sku", "GOOD", "2", "1"),
        wl("category", "toys", "1.5"),
    )
    facts = purchase(
        line("BAD", "toys", 3, "10"),  # 0
        line("X", "tobacco", 1, "8"),  # 0
        line("GOOD", None, 2, "4.50"),  # 9 * 2 + 2 * 1 = 20
        line("Y", "toys", 1, "3.33"),  # 4.995
        line("Z", None, 4, "0.25"),  # 1
    )
    result = run(campaign_spec, facts)
    assert result == EvaluationResult(7, 3, True, D("26.00"), None)  # 25.995 -> 26.00


def test_none_category_never_matches_category_rules() -> None:
    campaign_spec = spec(bl("category", "None"), bl("category", ""), wl("category", "c1", "9"))
    facts = purchase(line("S1", None, 1, "10"))
    assert str(run(campaign_spec, facts).eligible_value) == "10.00"


def test_matching_is_exact_and_case_sensitive() -> None:
    campaign_spec = spec(bl("sku", "ABC"), bl("category", "Toys"))
    facts = purchase(line("abc", "toys", 1, "10"), line("ABC ", "c", 1, "1"))
    assert str(run(campaign_spec, facts).eligible_value) == "11.00"


def test_rule_value_does_not_cross_match_kinds() -> None:
    # A sku rule never matches a category with the same text, and vice versa.
    campaign_spec = spec(bl("sku", "c1"), bl("category", "S1"))
    assert str(run(campaign_spec, purchase(line("S1", "c1", 1, "10"))).eligible_value) == "10.00"


# ------------------------------------------------------------------- rounding


@pytest.mark.parametrize(
    ("currency", "unit_price", "expected"),
    [
        ("EUR", "2.125", "2.13"),  # half-even would give 2.12
        ("EUR", "2.135", "2.14"),
        ("EUR", "2.1249", "2.12"),
        ("EUR", "7", "7.00"),
        ("USD", "0.015", "0.02"),
        ("JPY", "2.5", "3"),  # half-even would give 2
        ("JPY", "3.5", "4"),
        ("JPY", "2.4999", "2"),
        ("JPY", "1500", "1500"),
        ("BHD", "1.0005", "1.001"),  # half-even would give 1.000
        ("BHD", "1.0004", "1.000"),
        ("BHD", "1.2", "1.200"),
        ("KWD", "0.0015", "0.002"),
        ("CLF", "1.00005", "1.0001"),
        ("UYW", "3", "3.0000"),
    ],
)
def test_rounding_half_up_to_the_currency_minor_unit(currency: str, unit_price: str, expected: str) -> None:
    result = run(spec(currency=currency), purchase(line(unit_price=unit_price), currency=currency))
    assert result.eligible
    assert str(result.eligible_value) == expected
    assert result.eligible_value.as_tuple().exponent == -ISO_4217_MINOR_UNITS[currency]


def test_rounding_happens_once_at_the_end_not_per_line() -> None:
    # 3 x 0.004 = 0.012 -> 0.01 (per-line rounding: 0.00 + 0.00 + 0.00 = no eligible items)
    thirds = purchase(*(line(f"S{i}", None, 1, "0.004") for i in range(3)))
    assert str(run(spec(), thirds).eligible_value) == "0.01"
    # 3 x 0.005 = 0.015 -> 0.02 (per-line rounding: 0.01 * 3 = 0.03)
    halves = purchase(*(line(f"S{i}", None, 1, "0.005") for i in range(3)))
    assert str(run(spec(), halves).eligible_value) == "0.02"
    # JPY: 0.4 + 0.4 = 0.8 -> 1 (per line: 0 + 0)
    yen = purchase(line("A", None, 1, "0.4"), line("B", None, 1, "0.4"), currency="JPY")
    assert str(run(spec(currency="JPY"), yen).eligible_value) == "1"
    # Whitelist contributions are not rounded either: 1 x 0.10 x 1.05 = 0.105, twice -> 0.21
    boosted = purchase(line("A", "c", 1, "0.10"), line("B", "c", 1, "0.10"))
    assert str(run(spec(wl("category", "c", "1.05")), boosted).eligible_value) == "0.21"


def test_value_that_rounds_to_zero_is_no_eligible_items_with_positive_zero() -> None:
    result = run(spec(), purchase(line(unit_price="0.004")))
    assert result.reason is Reason.NO_ELIGIBLE_ITEMS
    assert str(result.eligible_value) == "0.00"
    negative = run(spec(), purchase(line(unit_price="-0.004")))
    assert negative.reason is Reason.NO_ELIGIBLE_ITEMS
    assert str(negative.eligible_value) == "0.00"  # never "-0.00"
    assert negative.eligible_value.is_signed() is False


def test_negative_totals_round_half_up_away_from_zero() -> None:
    result = run(spec(currency="JPY"), purchase(line(unit_price="-2.5"), currency="JPY"))
    assert result == EvaluationResult(7, 3, False, D("-3"), Reason.BELOW_MINIMUM)


# ---------------------------------------------------------------- exactness


def test_exact_decimal_results() -> None:
    result = run(spec(), purchase(*(line(f"S{i}", None, 1, "0.1") for i in range(3))))
    assert type(result.eligible_value) is Decimal
    assert result.eligible_value == D("0.30") and str(result.eligible_value) == "0.30"
    assert 0.1 + 0.1 + 0.1 != 0.3  # (what floats would have done)
    boosted = run(spec(wl("sku", "S", "1.1", "0.01")), purchase(line("S", None, 3, "0.1")))
    assert str(boosted.eligible_value) == "0.36"  # 0.33 + 0.03, exactly


def test_exact_beyond_the_default_28_digit_precision() -> None:
    # 3 * 12345678901234567890.125 * 1.000000000000000000001 has 45 significant
    # digits; the default context would round it (half-even) before the final
    # half-up, giving a different cent.
    campaign_spec = spec(wl("sku", "S", "1.000000000000000000001"))
    facts = purchase(line("S", None, 3, "12345678901234567890.125"))
    result = run(campaign_spec, facts)
    assert_matches_reference(campaign_spec, facts, result)
    assert str(result.eligible_value) == "37037036703703703670.41"
    assert EXACT_DIGITS >= 45


def test_independent_of_the_ambient_decimal_context_and_restores_it() -> None:
    campaign_spec = spec(wl("category", "c", "1.333", "0.0001"), currency="BHD")
    facts = purchase(line("A", "c", 7, "123.4565"), line("B", None, 3, "0.0005"), currency="BHD")
    expected = run(campaign_spec, facts)
    campaign = compile_campaign(campaign_spec)
    with localcontext() as ambient:
        ambient.clear_flags()  # the copied context carries flags raised by earlier code of this thread
        ambient.prec = 3
        ambient.rounding = ROUND_DOWN
        ambient.traps[Inexact] = True  # any rounding in the ambient context would raise
        assert campaign.evaluate(facts) == expected
        assert getcontext() is ambient
        assert getcontext().prec == 3 and getcontext().rounding == ROUND_DOWN
        assert not ambient.flags[Inexact]
    assert_matches_reference(campaign_spec, facts, expected)


def test_exact_up_to_exact_digits_then_refuses_instead_of_rounding() -> None:
    # 99 significant digits: still exact.
    big = Decimal("9" * 95 + ".0001")
    campaign_spec = spec()
    facts = purchase(line("S", None, 1, big))
    result = run(campaign_spec, facts)
    assert_matches_reference(campaign_spec, facts, result)
    assert str(result.eligible_value) == "9" * 95 + ".00"
    # An absurd amount whose exact sum needs ~a million digits: an error, at once,
    # not a silently rounded value (nor a million-digit allocation).
    absurd = purchase(line("A", None, 1, "1E+999999"), line("B", None, 1, "0.01"))
    before = getcontext()
    with pytest.raises(Inexact):
        run(campaign_spec, absurd)
    assert getcontext() is before
    # A huge but exactly representable amount is fine.
    huge = run(campaign_spec, purchase(line("A", None, 2, "1E+50")))
    assert huge.eligible_value == Decimal("2E+50")


def test_ambient_context_restored_when_evaluation_raises() -> None:
    campaign = compile_campaign(spec())
    bad = PurchaseFacts(INSIDE, "in_store", "EUR", (PurchaseLine("S", None, 1, 1.5),))  # type: ignore[arg-type]
    before = getcontext()
    with pytest.raises(TypeError):
        campaign.evaluate(bad)  # float unit_price: refused, never silently mixed in
    assert getcontext() is before


# ------------------------------------------------------------------ compile


@pytest.mark.parametrize(
    ("bad_spec", "error"),
    [
        pytest.param(spec(ItemRuleSpec("greylist", "sku", "S")), ValueError, id="kind"),
        pytest.param(spec(ItemRuleSpec("blacklist", "brand", "S")), ValueError, id="match"),
        pytest.param(spec(bl("sku", "S"), bl("sku", "S")), ValueError, id="duplicate"),
        pytest.param(spec(wl("sku", "S", "2"), wl("sku", "S", "3")), ValueError, id="duplicate_whitelist"),
        pytest.param(spec(currency="XYZ"), ValueError, id="unknown_currency"),
        pytest.param(spec(currency="eur"), ValueError, id="lowercase_currency"),
        pytest.param(spec(currency="XAU"), ValueError, id="currency_without_minor_unit"),
        pytest.param(spec(starts_at=datetime(2025, 1, 1)), ValueError, id="naive_start"),
        pytest.param(spec(ends_at=datetime(2025, 2, 1)), ValueError, id="naive_end"),
        pytest.param(spec(min_value=10.5), TypeError, id="float_minimum"),  # type: ignore[arg-type]
        pytest.param(spec(min_value=D("NaN")), ValueError, id="nan_minimum"),
        pytest.param(spec(ItemRuleSpec("whitelist", "sku", "S", 1.5)), TypeError, id="float_multiplier"),  # type: ignore[arg-type]
        pytest.param(
            spec(ItemRuleSpec("whitelist", "sku", "S", D("1"), D("Infinity"))), ValueError, id="inf_bonus"
        ),
        pytest.param(spec(ItemRuleSpec("blacklist", "sku", 5)), TypeError, id="non_str_value"),  # type: ignore[arg-type]
    ],
)
def test_compile_rejects_malformed_specs(bad_spec: CampaignSpec, error: type[Exception]) -> None:
    with pytest.raises(error):
        compile_campaign(bad_spec)


def test_same_value_in_blacklist_and_whitelist_is_allowed() -> None:
    # (kind, match, value) is the unique key: different kinds may share a value.
    compile_campaign(spec(bl("sku", "S"), wl("sku", "S")))


def test_compile_accepts_int_amounts_exactly() -> None:
    campaign_spec = spec(ItemRuleSpec("whitelist", "sku", "S", 2, 1), min_value=5)  # type: ignore[arg-type]
    assert str(run(campaign_spec, purchase(line("S", None, 1, "3"))).eligible_value) == "7.00"


def test_compiled_campaign_is_reusable_and_rule_order_irrelevant() -> None:
    rules = (bl("sku", "B"), wl("sku", "W", "2"), wl("category", "c", "3"), bl("category", "x"))
    facts = purchase(
        line("B", "c", 1, "1"), line("W", "c", 1, "1"), line("Q", "x", 1, "1"), line("R", None, 1, "1")
    )
    first = compile_campaign(spec(*rules))
    second = compile_campaign(spec(*reversed(rules)))
    assert first.evaluate(facts) == first.evaluate(facts) == second.evaluate(facts)
    assert str(first.evaluate(facts).eligible_value) == "4.00"  # 0 + 3 + 0 + 1


def test_engine_module_is_pure_python() -> None:
    """No Django (or any I/O library) in the engine: it must run without an app registry."""
    root = Path(__file__).resolve().parents[2]
    # The customer DSL's tree (pydantic models) and its Python compiler are pure too (SPEC §11).
    for name in ("campaigns/rules.py", "core/money.py", "customers/dsl_python.py", "customers/dsl.py"):
        tree = ast.parse((root / name).read_text())
        imported: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                # core.money is checked by this same loop; the rest of core is not pure.
                pure = ("core.money", "customers.dsl", "customers.dsl_python")
                imported.add(node.module if node.module in pure else node.module.split(".")[0])
        assert imported <= {
            "core.money",
            "customers.dsl",
            "customers.dsl_python",
            "pydantic",
            "math",
            "operator",
            "collections",
            "__future__",
            "dataclasses",
            "datetime",
            "decimal",
            "enum",
            "threading",
            "typing",
        }, imported


# ---------------------------------------------------------------- currencies


def test_currency_table() -> None:
    expected = {"EUR": 2, "USD": 2, "GBP": 2, "JPY": 0, "KRW": 0, "ISK": 0, "BHD": 3, "KWD": 3, "JOD": 3,
                "OMR": 3, "TND": 3, "IQD": 3, "LYD": 3, "CLF": 4, "UYW": 4, "UYI": 0, "CLP": 0, "XAF": 0,
                "XOF": 0, "XPF": 0, "VND": 0, "CHF": 2, "XCG": 2, "ZWG": 2, "SLE": 2, "VED": 2}  # fmt: skip
    for code, units in expected.items():
        assert ISO_4217_MINOR_UNITS[code] == units, code
    assert len(ISO_4217_MINOR_UNITS) == 165
    assert all(len(code) == 3 and code.isalpha() and code.isupper() for code in ISO_4217_MINOR_UNITS)
    assert set(ISO_4217_MINOR_UNITS.values()) == {0, 2, 3, 4}
    for gone in ("XAU", "XDR", "XTS", "XXX", "HRK", "ANG", "CUC", "SLL", "ZWL", "VEF"):
        assert gone not in ISO_4217_MINOR_UNITS, gone


def test_is_iso_4217() -> None:
    assert is_iso_4217("EUR") and is_iso_4217("JPY") and is_iso_4217("UYW")
    assert (
        not is_iso_4217("eur") and not is_iso_4217("XAU") and not is_iso_4217("") and not is_iso_4217("EURO")
    )


def test_quantum_for() -> None:
    assert same_decimal(quantum_for("EUR"), D("0.01"))
    assert same_decimal(quantum_for("JPY"), D("1"))
    assert same_decimal(quantum_for("BHD"), D("0.001"))
    assert same_decimal(quantum_for("CLF"), D("0.0001"))
    for code, units in ISO_4217_MINOR_UNITS.items():
        assert quantum_for(code) == Decimal(1).scaleb(-units)
        assert quantum_for(code).as_tuple().exponent == -units
    with pytest.raises(ValueError):
        quantum_for("XXX")


# ------------------------------------------------------------ property tests

# Small pools so that rules and lines collide often (a line matching both a sku and
# a category whitelist rule, or a blacklist and a whitelist rule, is the point).
SKUS = ["A", "B", "C"]
CATEGORIES = ["x", "y"]
CURRENCIES = ["EUR", "JPY", "BHD", "CLF", "KWD", "USD"]
CHANNELS = ["in_store", "ecommerce"]
WHITELIST_KEYS = [(m, v) for m in ("sku", "category") for v in (SKUS if m == "sku" else CATEGORIES)]
ZONES = [
    timezone(timedelta(hours=h, minutes=m)) for h, m in [(0, 0), (2, 0), (-5, 0), (5, 30), (-9, -30), (14, 0)]
]


def decimals(low: str, high: str, max_places: int = 4) -> st.SearchStrategy[Decimal]:
    return st.integers(0, max_places).flatmap(
        lambda places: st.decimals(
            Decimal(low), Decimal(high), places=places, allow_nan=False, allow_infinity=False
        )
    )


def in_zone(draw: st.DrawFn, moment: datetime) -> datetime:
    return moment.astimezone(draw(st.sampled_from(ZONES)))


@st.composite
def campaign_specs(draw: st.DrawFn) -> CampaignSpec:
    whitelist = draw(st.lists(st.sampled_from(WHITELIST_KEYS), unique=True, max_size=len(WHITELIST_KEYS)))
    blacklist = draw(st.lists(st.sampled_from(WHITELIST_KEYS), unique=True, max_size=2))
    rules = [
        ItemRuleSpec("whitelist", match, value, draw(decimals("0", "5", 3)), draw(decimals("-1", "10", 4)))
        for match, value in whitelist
    ] + [ItemRuleSpec("blacklist", match, value) for match, value in blacklist]
    starts_at = T0 + timedelta(minutes=draw(st.integers(-5, 5)))
    # Mostly a real window; sometimes empty or inverted.
    length = draw(st.integers(1, 60) if draw(st.integers(0, 9)) else st.integers(-2, 0))
    channels = draw(
        st.one_of(st.just(frozenset(CHANNELS)), st.sets(st.sampled_from(CHANNELS)).map(frozenset))
    )
    return CampaignSpec(
        id=draw(st.integers(1, 10**6)),
        version=draw(st.integers(1, 50)),
        status=draw(st.sampled_from(["active"] * 6 + ["completed"] * 3 + ["paused"])),
        starts_at=in_zone(draw, starts_at),
        ends_at=in_zone(draw, starts_at + timedelta(minutes=length)),
        purchase_channels=channels,
        currency=draw(st.sampled_from(CURRENCIES)),
        min_purchase_value=draw(st.one_of(st.just(Decimal(0)), decimals("0", "300", 4))),
        item_rules=tuple(rules),
    )


def tie_prices(places: int) -> st.SearchStrategy[Decimal]:
    """Prices exactly half a minor unit off the grid (x.xx5 for EUR, x.5 for JPY):
    where half-up and half-even disagree."""
    return st.integers(-20, 20000).map(lambda n: Decimal(2 * n + 1).scaleb(-(places + 1)))


@st.composite
def purchases_for(draw: st.DrawFn, campaign: CampaignSpec) -> PurchaseFacts:
    places = ISO_4217_MINOR_UNITS[campaign.currency]
    prices = st.one_of(
        decimals("0", "100", 4), decimals("-5", "5", 4), decimals("0", "10", 0), tie_prices(places)
    )
    lines = draw(
        st.lists(
            st.builds(
                PurchaseLine,
                sku=st.sampled_from([*SKUS, "E"]),
                category=st.sampled_from([*CATEGORIES, None, "w"]),
                quantity=st.integers(0, 20),
                unit_price=prices,
            ),
            min_size=1,
            max_size=6,
        )
    )
    # Mostly inside the window (so the value is computed), often exactly on a bound.
    start = campaign.starts_at
    end = campaign.ends_at
    micro = timedelta(microseconds=1)
    span_us = (end - start) // micro
    if span_us > 0 and draw(st.integers(0, 9)) < 7:
        moment = start + micro * draw(st.integers(0, span_us - 1))
    else:
        bounds = [start, start - micro, end, end - micro, start - timedelta(days=1), end + timedelta(hours=1)]
        moment = draw(st.sampled_from(bounds))
    allowed = sorted(campaign.purchase_channels)
    channel = draw(
        st.sampled_from(allowed) if allowed and draw(st.integers(0, 9)) else st.sampled_from(CHANNELS)
    )
    currency = campaign.currency if draw(st.integers(0, 9)) else draw(st.sampled_from(CURRENCIES))
    return PurchaseFacts(in_zone(draw, moment), channel, currency, tuple(lines))


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[CampaignSpec, PurchaseFacts]:
    campaign = draw(campaign_specs())
    return campaign, draw(purchases_for(campaign))


PROPERTY_SETTINGS = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(scenarios())
def test_property_engine_matches_naive_reference(scenario: tuple[CampaignSpec, PurchaseFacts]) -> None:
    campaign_spec, facts = scenario
    result = compile_campaign(campaign_spec).evaluate(facts)
    assert_matches_reference(campaign_spec, facts, result)


@PROPERTY_SETTINGS
@given(scenarios(), st.randoms(use_true_random=False))
def test_property_rule_and_line_order_do_not_matter(
    scenario: tuple[CampaignSpec, PurchaseFacts], rnd: random.Random
) -> None:
    campaign_spec, facts = scenario
    rules = list(campaign_spec.item_rules)
    lines = list(facts.lines)
    rnd.shuffle(rules)
    rnd.shuffle(lines)
    shuffled_spec = dataclasses.replace(campaign_spec, item_rules=tuple(rules))
    shuffled_facts = dataclasses.replace(facts, lines=tuple(lines))
    a = compile_campaign(campaign_spec).evaluate(facts)
    b = compile_campaign(shuffled_spec).evaluate(shuffled_facts)
    assert a == b and same_decimal(a.eligible_value, b.eligible_value)


@PROPERTY_SETTINGS
@given(scenarios())
def test_property_result_invariants(scenario: tuple[CampaignSpec, PurchaseFacts]) -> None:
    campaign_spec, facts = scenario
    result = compile_campaign(campaign_spec).evaluate(facts)
    places = ISO_4217_MINOR_UNITS[campaign_spec.currency]
    assert (result.reason is None) is result.eligible
    assert result.reason is None or isinstance(result.reason, Reason)
    assert result.eligible_value.as_tuple().exponent == -places
    if result.reason in {
        Reason.CAMPAIGN_NOT_ACTIVE,
        Reason.OUTSIDE_VALIDITY,
        Reason.CHANNEL_NOT_ALLOWED,
        Reason.CURRENCY_MISMATCH,
        Reason.NO_ELIGIBLE_ITEMS,
    }:
        assert same_decimal(result.eligible_value, Decimal(0).scaleb(-places))
    elif result.reason is Reason.BELOW_MINIMUM:
        assert result.eligible_value < campaign_spec.min_purchase_value and result.eligible_value != 0
    else:
        assert result.eligible_value >= campaign_spec.min_purchase_value and result.eligible_value != 0


@settings(max_examples=200, deadline=None)
@given(scenarios(), st.integers(1, 6), st.sampled_from([ROUND_DOWN, ROUND_HALF_EVEN]))
def test_property_ambient_context_is_irrelevant(
    scenario: tuple[CampaignSpec, PurchaseFacts], precision: int, rounding: str
) -> None:
    campaign_spec, facts = scenario
    campaign = compile_campaign(campaign_spec)
    expected = campaign.evaluate(facts)
    with localcontext(prec=precision, rounding=rounding) as ambient:
        assert campaign.evaluate(facts) == expected
        assert getcontext() is ambient and ambient.prec == precision


@PROPERTY_SETTINGS
@given(scenarios())
def test_property_minimum_threshold_is_inclusive_on_the_rounded_value(
    scenario: tuple[CampaignSpec, PurchaseFacts],
) -> None:
    """Move the minimum onto the (reference) rounded value: exactly that is enough,
    one quantum more is not. Catches comparing the unrounded sum with the minimum."""
    campaign_spec, facts = scenario
    _, value, reason = reference_evaluate(
        dataclasses.replace(campaign_spec, min_purchase_value=Decimal(0)), facts
    )
    if reason is not None:  # checks 1-5 decide; the minimum plays no part
        return
    at_value = compile_campaign(dataclasses.replace(campaign_spec, min_purchase_value=value)).evaluate(facts)
    assert at_value.eligible and same_decimal(at_value.eligible_value, value)
    one_more = value + quantum_for(campaign_spec.currency)
    above = compile_campaign(dataclasses.replace(campaign_spec, min_purchase_value=one_more)).evaluate(facts)
    assert above.reason is Reason.BELOW_MINIMUM and same_decimal(above.eligible_value, value)


# --------------------------------------------------------------------- revalue (refunds, ADR 0025)


def test_revalue_runs_only_the_value_checks_on_the_lines_left():
    compiled = compile_campaign(
        spec(bl("sku", "X"), wl("category", "toys", "2"), min_value=D("30"), status="paused")
    )
    # Paused: a refund still values what is left (checks 1-4 are not run again).
    assert compiled.revalue((line("A", "toys", 1, "20.00"),)) == EvaluationResult(
        7, 3, True, D("40.00"), None
    )
    assert compiled.revalue((line("A", "food", 1, "20.00"),)) == EvaluationResult(
        7, 3, False, D("20.00"), Reason.BELOW_MINIMUM
    )
    nothing = compiled.revalue((line("X", "toys", 3, "20.00"),))
    assert (nothing.eligible, nothing.reason, str(nothing.eligible_value)) == (
        False,
        Reason.NO_ELIGIBLE_ITEMS,
        "0.00",
    )
    assert compiled.revalue(()).reason == Reason.NO_ELIGIBLE_ITEMS


def test_revalue_agrees_with_evaluate_for_an_active_campaign_in_scope():
    compiled = compile_campaign(spec(wl("sku", "A", "1.5", "0.25"), min_value=D("25")))
    for lines in [(line("A", None, 2, "9.99"),), (line("B", None, 1, "24.99"),), (line("A", None, 1, "30"),)]:
        assert compiled.revalue(lines) == compiled.evaluate(purchase(*lines))


def test_max_rewards_per_customer_is_carried_and_checked():
    assert compile_campaign(spec()).max_rewards_per_customer is None
    from dataclasses import replace

    assert compile_campaign(replace(spec(), max_rewards_per_customer=3)).max_rewards_per_customer == 3
    with pytest.raises(ValueError, match="max_rewards_per_customer"):
        compile_campaign(replace(spec(), max_rewards_per_customer=0))
