"""Validation of what the mobile backend sends about customers and events (SPEC §11).

Pure: bodies in, `(valid value, errors)` out, errors shaped `{"field": ["message", ...]}` like the
purchase validation's, so a batch reports them per item and a bad item never rejects the others.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib.resources import files
from typing import Any

import phonenumbers
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.utils.dateparse import parse_datetime

ID_MAX_LENGTH = 200
EVENT_NAME_MAX_LENGTH = 100
# BCP 47 as apps send it: en, en-GB, pt-BR, zh-Hant-TW (underscores are normalised to hyphens).
LOCALE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")

CUSTOMER_FIELDS = ("email", "phone", "locale", "timezone", "country", "lat", "lon", "attributes")
EVENT_FIELDS = ("event_id", "customer_id", "name", "properties", "occurred_at")

Errors = dict[str, list[str]]


@cache
def country_codes() -> frozenset[str]:
    """ISO 3166-1 alpha-2 codes, from the IANA time zone database's iso3166.tab (tzdata)."""
    text = (files("tzdata.zoneinfo") / "iso3166.tab").read_text(encoding="utf-8")
    return frozenset(
        line.split("\t", 1)[0] for line in text.splitlines() if line and not line.startswith("#")
    )


@cache
def timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def e164(text: str) -> str | None:
    """`text` as an E.164 number (`+34600123456`), or None when it is not a valid number.

    International form only (a leading +): the mobile backend serves many countries, so a
    national number has no region to be read in. Spaces, dashes and brackets are allowed and
    dropped. Validity is libphonenumber's: the length and prefixes its metadata gives the country.
    """
    if not text.startswith("+") or len(text) > 40:
        return None
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _text_id(value: Any, name: str, errors: Errors) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        errors[name] = ["This field is required and must be a string."]
        return None
    text = str(value)
    if not text or len(text) > ID_MAX_LENGTH or "\x00" in text or text != text.strip():
        errors[name] = [f"Must be 1 to {ID_MAX_LENGTH} characters, without surrounding spaces."]
        return None
    return text


def customer_id_error(value: Any) -> Errors:
    errors: Errors = {}
    _text_id(value, "customer_id", errors)
    return errors


def _optional_text(value: Any, name: str, errors: Errors) -> str | None:
    if value is None:
        return ""
    if not isinstance(value, str) or "\x00" in value:
        errors[name] = ["Must be a string or null."]
        return None
    return value.strip()


def _coordinate(value: Any, name: str, bound: float, errors: Errors) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or (not isinstance(value, (int, float)) and not _is_decimal(value)):
        errors[name] = ["Must be a number or null."]
        return None
    number = float(value)
    if not -bound <= number <= bound:
        errors[name] = [f"Must be between -{bound:g} and {bound:g}."]
        return None
    return number


def _is_decimal(value: Any) -> bool:
    from decimal import Decimal

    return isinstance(value, Decimal) and value.is_finite()


def _json_safe(value: Any) -> Any:
    """Decimals (the API parses JSON numbers exactly) become ints or floats for the JSON column."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return value


def validate_customer(body: Any, *, customer_id: Any = None) -> tuple[dict[str, Any] | None, Errors]:
    """A customer upsert: `({"customer_id", <given fields>}, {})` or `(None, errors)`.

    Only the fields present are written (a partial update); `attributes` are merged key by key and
    a key sent as null is removed. `customer_id` comes from the URL of a PUT (a different one in the
    body is an error) or from the body of a batch item.
    """
    if not isinstance(body, dict):
        return None, {"non_field_errors": ["Expected a JSON object."]}
    errors: Errors = {}
    unknown = sorted(set(body) - {"customer_id", *CUSTOMER_FIELDS})
    for name in unknown:
        errors[name] = ["Unknown or read-only field."]
    if customer_id is not None and "customer_id" in body and str(body["customer_id"]) != str(customer_id):
        errors["customer_id"] = ["Must be the customer_id of the URL (or left out)."]
    the_id = _text_id(
        customer_id if customer_id is not None else body.get("customer_id"), "customer_id", errors
    )
    data: dict[str, Any] = {"customer_id": the_id}
    if "email" in body:
        email = _optional_text(body["email"], "email", errors)
        if email:
            try:
                validate_email(email)
            except DjangoValidationError:
                errors["email"] = ["Enter a valid email address."]
        data["email"] = (email or "").lower()
    if "phone" in body:
        phone = _optional_text(body["phone"], "phone", errors)
        if phone:
            phone = e164(phone)
            if phone is None:
                errors["phone"] = ["Must be a valid phone number in international form, e.g. +34600123456."]
        data["phone"] = phone or ""
    if "locale" in body:
        locale = (_optional_text(body["locale"], "locale", errors) or "").replace("_", "-")
        if locale and (not LOCALE.match(locale) or len(locale) > 35):
            errors["locale"] = ["Must be a BCP 47 language tag, e.g. en or pt-BR."]
        data["locale"] = locale
    if "timezone" in body:
        name = _optional_text(body["timezone"], "timezone", errors)
        if name and name not in timezones():
            errors["timezone"] = ["Must be an IANA time zone, e.g. Europe/Madrid."]
        data["timezone"] = name or ""
    if "country" in body:
        country = (_optional_text(body["country"], "country", errors) or "").upper()
        if country and country not in country_codes():
            errors["country"] = ["Must be an ISO 3166-1 alpha-2 code, e.g. ES."]
        data["country"] = country
    if "lat" in body:
        data["lat"] = _coordinate(body["lat"], "lat", 90, errors)
    if "lon" in body:
        data["lon"] = _coordinate(body["lon"], "lon", 180, errors)
    if ("lat" in data) != ("lon" in data) or (data.get("lat") is None) != (data.get("lon") is None):
        errors.setdefault("lat", ["lat and lon go together: send both, or both null."])
    if "attributes" in body:
        attributes = body["attributes"]
        if not isinstance(attributes, dict) or any(not key for key in attributes):
            errors["attributes"] = ["Must be a JSON object with non-empty keys."]
        else:
            data["attributes"] = _json_safe(attributes)
    return (None, errors) if errors else (data, {})


@dataclass(frozen=True)
class ValidEvent:
    event_id: str
    customer_id: str
    name: str
    properties: dict[str, Any]
    occurred_at: datetime


def validate_event(body: Any) -> tuple[ValidEvent | None, Errors]:
    if not isinstance(body, dict):
        return None, {"non_field_errors": ["Expected a JSON object."]}
    errors: Errors = {}
    for name in sorted(set(body) - set(EVENT_FIELDS)):
        errors[name] = ["Unknown field."]
    event_id = _text_id(body.get("event_id"), "event_id", errors)
    customer_id = _text_id(body.get("customer_id"), "customer_id", errors)
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > EVENT_NAME_MAX_LENGTH or "\x00" in name:
        errors["name"] = [
            f"Required: 1 to {EVENT_NAME_MAX_LENGTH} characters (view, click, open, conversion…)."
        ]
    properties = body.get("properties", {})
    if properties is None:
        properties = {}
    if not isinstance(properties, dict):
        errors["properties"] = ["Must be a JSON object."]
    occurred_at = None
    raw = body.get("occurred_at")
    if not isinstance(raw, str):
        errors["occurred_at"] = ["Required: an ISO 8601 date-time with its offset."]
    else:
        try:
            occurred_at = parse_datetime(raw)
        except ValueError:
            occurred_at = None
        if occurred_at is None or occurred_at.tzinfo is None:
            errors["occurred_at"] = [
                "Must be an ISO 8601 date-time with its offset, e.g. 2026-05-01T10:00:00Z."
            ]
    if errors:
        return None, errors
    return (
        ValidEvent(event_id, customer_id, name.strip(), _json_safe(properties), occurred_at),  # type: ignore[arg-type]
        {},
    )
