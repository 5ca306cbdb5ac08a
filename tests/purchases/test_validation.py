"""The canonical JSON of a purchase is byte-identical to the standard library's (stored hashes keep matching)."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from core.money import is_iso_4217, quantum_for
from purchases import validation
from purchases.validation import canonical_amount, canonical_json, validate_purchase

# What a canonical purchase holds: text (any code point but lone surrogates, which cannot be UTF-8),
# integers, None, and lists / objects of them.
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)))
VALUES = st.recursive(
    st.none() | st.integers(min_value=-(2**63), max_value=2**63 - 1) | TEXT,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(TEXT, children, max_size=5),
    max_leaves=20,
)


def reference(document: dict) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(TEXT, VALUES, max_size=8))
def test_canonical_json_is_the_standard_librarys_bytes(document):
    assert canonical_json(document) == reference(document)


def test_control_characters_quotes_and_non_ascii_are_written_the_same_way():
    document = {"é": 'tab\there "quoted" back\\slash \x00\x1f\x7f \u2028 😀', "n": [1, None, -7]}
    assert canonical_json(document) == reference(document)


def test_the_body_hash_is_the_sha256_of_the_reference_canonical_form():
    body = {
        "external_id": "ext-1",
        "customer_id": "cust-ü",
        "channel": "in_store",
        "purchased_at": "2026-11-21T10:00:00+01:00",
        "currency": "EUR",
        "items": [{"sku": "S1", "category": "toys", "quantity": 2, "unit_price": "12.5"}],
    }
    purchase, errors = validate_purchase(body)
    assert errors == {}
    canonical = {
        "external_id": "ext-1",
        "customer_id": "cust-ü",
        "channel": "in_store",
        "purchased_at": "2026-11-21T09:00:00+00:00",
        "currency": "EUR",
        "store_id": "",
        "items": [{"sku": "S1", "category": "toys", "quantity": 2, "unit_price": "12.50"}],
        "total": "25",
    }
    assert purchase.body_hash == hashlib.sha256(reference(canonical)).hexdigest()


# --- the fast paths of amounts give what the full checks give


def reference_canonical_amount(value: Decimal, currency: str) -> str:
    """canonical_amount as written before its fast path (normalise, then at least the minor unit)."""
    normalized = value.normalize()
    if normalized == 0:
        normalized = Decimal(0)
    quantum = quantum_for(currency) if is_iso_4217(currency) else Decimal("0.01")
    if normalized.as_tuple().exponent > quantum.as_tuple().exponent:
        normalized = normalized.quantize(quantum)
    return format(normalized, "f")


AMOUNTS = st.decimals(min_value=0, max_value=Decimal(10) ** 14 - 1, places=None, allow_nan=False).filter(
    lambda d: d.as_tuple().exponent >= -6
)


@settings(max_examples=500, deadline=None)
@given(
    AMOUNTS | st.decimals(min_value=0, max_value=10**6, places=2),
    st.sampled_from(["EUR", "JPY", "BHD", "XXX1"]),
)
def test_canonical_amount_is_the_reference(value, currency):
    assert canonical_amount(value, currency) == reference_canonical_amount(value, currency)


def test_canonical_amount_of_a_negative_zero_is_canonical():
    assert canonical_amount(Decimal("-0.00"), "EUR") == "0.00"


AMOUNT_TEXT = st.from_regex(r"\A[ ]?[-+]?[0-9]{0,16}(\.[0-9]{0,6})?([eE][-+]?[0-9])?[ ]?\Z") | st.text(
    max_size=8
)


@settings(max_examples=1000, deadline=None)
@given(AMOUNT_TEXT)
def test_amount_strings_get_the_same_answer_as_the_full_checks(text):
    fast_errors, slow_errors = {}, {}
    fast = validation._decimal(text, errors=fast_errors, field="unit_price")
    # The full checks, reached by the same value given as a str subclass (the fast path takes `str` only).
    slow = validation._decimal(Text(text), errors=slow_errors, field="unit_price")
    assert (fast, bool(fast_errors)) == (slow, bool(slow_errors))
    if fast is not None:
        assert fast.as_tuple() == slow.as_tuple()


class Text(str):
    pass
