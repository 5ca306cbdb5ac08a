"""core.money: the one rounding (half up to the currency's minor unit) and the one wire format of amounts."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaigns.rules import CampaignSpec, PurchaseFacts, PurchaseLine, compile_campaign
from core.money import ISO_4217_MINOR_UNITS, money_str, to_minor_unit

D = Decimal


def reference_money_str(value: Decimal, places: int) -> str:
    """Half up (ties away from zero) with exact rational arithmetic, written out by hand."""
    scaled = Fraction(value) * 10**places
    units = math.floor(abs(scaled) + Fraction(1, 2))
    sign = "-" if scaled < 0 and units else ""
    digits = str(units).rjust(places + 1, "0")
    return sign + (f"{digits[:-places]}.{digits[-places:]}" if places else digits)


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        # two decimals
        ("0.125", "EUR", "0.13"),
        ("0.135", "EUR", "0.14"),
        ("0.1249", "EUR", "0.12"),
        ("0.005", "EUR", "0.01"),
        ("0.0049", "EUR", "0.00"),
        ("12.5", "EUR", "12.50"),
        ("60", "EUR", "60.00"),
        ("60.0000", "EUR", "60.00"),
        ("0", "EUR", "0.00"),
        ("1E+3", "EUR", "1000.00"),
        ("99999999999999.9999", "EUR", "100000000000000.00"),
        # no decimals
        ("5", "JPY", "5"),
        ("5.0000", "JPY", "5"),
        ("2.5", "JPY", "3"),
        ("3.5", "JPY", "4"),
        ("0.4999", "JPY", "0"),
        # three decimals
        ("1.2345", "BHD", "1.235"),
        ("1.2344", "BHD", "1.234"),
        ("7", "BHD", "7.000"),
        # four decimals
        ("1.23455", "CLF", "1.2346"),
    ],
)
def test_money_str_rounds_half_up_to_exactly_the_minor_unit(value, currency, expected):
    assert money_str(D(value), currency) == expected
    rounded = to_minor_unit(D(value), currency)
    assert format(rounded, "f") == expected
    assert rounded.as_tuple().exponent == -ISO_4217_MINOR_UNITS[currency]


def test_never_decimals_default_half_even():
    # Half-even (Decimal's default) would give 0.12 and 2: a caller's rounding must not leak in.
    with localcontext(rounding=ROUND_HALF_EVEN):
        assert money_str(D("0.125"), "EUR") == "0.13"
        assert money_str(D("2.5"), "JPY") == "3"


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        ("-0.125", "EUR", "-0.13"),
        ("-0.124", "EUR", "-0.12"),
        ("-2.5", "JPY", "-3"),
        ("-1.2345", "BHD", "-1.235"),
        # An amount that rounds to nothing has no sign.
        ("-0.004", "EUR", "0.00"),
        ("-0.00", "EUR", "0.00"),
        ("-0.4", "JPY", "0"),
    ],
)
def test_negative_amounts_round_away_from_zero_on_ties(value, currency, expected):
    assert money_str(D(value), currency) == expected
    assert to_minor_unit(D(value), currency).is_signed() == expected.startswith("-")


def test_integers_are_accepted():
    assert money_str(7, "BHD") == "7.000"
    assert to_minor_unit(5, "JPY") == D(5)


@pytest.mark.parametrize("value", [0.125, True, "0.125", None])
def test_floats_and_other_types_are_refused(value):
    with pytest.raises(TypeError):
        money_str(value, "EUR")


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "sNaN"])
def test_non_finite_amounts_are_refused(value):
    with pytest.raises(ValueError):
        money_str(D(value), "EUR")


@pytest.mark.parametrize("currency", ["XXX", "eur", "", "EURO", "XAU"])
def test_an_unknown_currency_is_refused_rather_than_guessed(currency):
    with pytest.raises(ValueError):
        money_str(D("1"), currency)
    with pytest.raises(ValueError):
        to_minor_unit(D("1"), currency)


def test_the_callers_decimal_context_changes_nothing():
    with localcontext(prec=3, rounding=ROUND_DOWN) as ambient:
        assert money_str(D("12345.675"), "EUR") == "12345.68"
        assert to_minor_unit(D("0.125"), "EUR") == D("0.13")
        assert ambient.prec == 3 and ambient.rounding == ROUND_DOWN


AMOUNTS = st.decimals(
    min_value=D("-1E14"), max_value=D("1E14"), places=None, allow_nan=False, allow_infinity=False
).filter(lambda d: d.as_tuple().exponent >= -8)
CURRENCIES = st.sampled_from(sorted(ISO_4217_MINOR_UNITS))


@settings(max_examples=1000, deadline=None)
@given(AMOUNTS, CURRENCIES)
def test_money_str_is_the_exact_half_up_reference(value, currency):
    places = ISO_4217_MINOR_UNITS[currency]
    assert money_str(value, currency) == reference_money_str(value, places)


@settings(max_examples=500, deadline=None)
@given(AMOUNTS, CURRENCIES)
def test_to_minor_unit_is_idempotent_and_money_str_is_its_text(value, currency):
    once = to_minor_unit(value, currency)
    assert to_minor_unit(once, currency) == once
    assert money_str(once, currency) == money_str(value, currency) == format(once, "f")
    assert abs(once - value) <= D(1).scaleb(-ISO_4217_MINOR_UNITS[currency]) / 2


# The rules engine keeps its own fast Decimal context; its final rounding must be this one.

_NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 50), st.integers(0, 10**8).map(lambda n: D(n).scaleb(-4))),
        min_size=1,
        max_size=5,
    ),
    st.sampled_from(["EUR", "JPY", "BHD"]),
)
def test_the_rules_engine_rounds_like_to_minor_unit(lines, currency):
    spec = CampaignSpec(
        id=1,
        version=1,
        status="active",
        starts_at=_NOW - timedelta(days=1),
        ends_at=_NOW + timedelta(days=1),
        purchase_channels=frozenset({"in_store"}),
        currency=currency,
        min_purchase_value=D(0),
        item_rules=(),
    )
    facts = PurchaseFacts(
        purchased_at=_NOW,
        channel="in_store",
        currency=currency,
        lines=tuple(PurchaseLine(f"SKU-{i}", None, q, p) for i, (q, p) in enumerate(lines)),
    )
    result = compile_campaign(spec).evaluate(facts)
    exact = sum((q * p for q, p in lines), D(0))
    assert result.eligible_value == to_minor_unit(exact, currency)
    assert money_str(result.eligible_value, currency) == money_str(exact, currency)
