"""Phone numbers (SPEC §11): validated with phonenumbers, stored in E.164."""

import pytest

from customers.validation import e164, validate_customer


@pytest.mark.parametrize(
    "given, stored",
    [
        ("+34600123456", "+34600123456"),  # a Spanish mobile
        ("+34 600 12 34 56", "+34600123456"),  # spaces dropped
        ("+1 (415) 555-2671", "+14155552671"),  # brackets and dashes dropped
        ("+447911123456", "+447911123456"),  # a UK mobile
        ("+4930123456", "+4930123456"),  # a Berlin number (German numbers vary in length)
    ],
)
def test_valid_numbers_are_stored_in_e164(given, stored):
    data, errors = validate_customer({"phone": given}, customer_id="c-1")
    assert errors == {}
    assert data["phone"] == stored


@pytest.mark.parametrize(
    "given",
    [
        "600123456",  # national form: no country to read it in
        "+34 123",  # too short for Spain
        "+346001234567890",  # too long
        "+999123456789",  # no such country code
        "+34 6OO 123 456",  # letters
        "+" + "1" * 60,  # absurdly long
    ],
)
def test_invalid_numbers_are_refused_with_a_message(given):
    data, errors = validate_customer({"phone": given}, customer_id="c-1")
    assert data is None
    assert errors["phone"] == ["Must be a valid phone number in international form, e.g. +34600123456."]


def test_an_empty_or_null_phone_clears_it():
    assert validate_customer({"phone": None}, customer_id="c-1")[0]["phone"] == ""
    assert validate_customer({"phone": ""}, customer_id="c-1")[0]["phone"] == ""


def test_e164_fits_the_column():
    # The longest E.164 number is 15 digits plus the sign: Customer.phone is 16 characters.
    assert len(e164("+8613800138000")) <= 16
