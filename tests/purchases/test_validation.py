"""The canonical JSON of a purchase is byte-identical to the standard library's (stored hashes keep matching)."""

from __future__ import annotations

import hashlib
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from purchases.validation import canonical_json, validate_purchase

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
