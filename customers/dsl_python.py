"""The DSL's pure-Python compiler: a parsed tree → a predicate on a customer snapshot (no I/O).

Used per purchase by `campaigns.rules` (eligibility rules and dynamic segments), on snapshots the
evaluation loads for the whole batch in one query. Semantics: see `customers.dsl`; the SQL compiler
(`customers.dsl_sql`) must agree, which tests/customers/test_dsl_agreement.py checks on random
trees and customers.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from customers.dsl import (
    All,
    AnyOf,
    Attr,
    EventCondition,
    Geo,
    Not,
    is_number,
    parse_datetime_value,
    path_kind,
)

EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True, slots=True)
class EventFact:
    name: str
    occurred_at: datetime
    properties: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class CustomerSnapshot:
    """What the rules know of a customer: profile, stats, recent events of the names they look at."""

    customer_id: str
    country: str = ""
    locale: str = ""
    lat: float | None = None
    lon: float | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    stats: Mapping[str, Any] = field(default_factory=dict)
    events: tuple[EventFact, ...] = ()
    # Static segments the customer belongs to.
    segment_ids: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class PurchaseContext:
    total: Decimal
    store_id: str
    channel: str


Predicate = Callable[[CustomerSnapshot, PurchaseContext | None, datetime], bool]
_Getter = Callable[[Any, Any], Any]
_MISSING = object()


def distance_from(lat2: float, lon2: float) -> Callable[[float, float], float]:
    """The haversine distance in km to a fixed point, its terms written as `dsl_sql` writes them so
    both round alike; the point's cosine is computed once (the same float every time)."""
    cos_lat2 = math.cos(math.radians(lat2))
    sin, cos, radians, pow_, asin, sqrt = math.sin, math.cos, math.radians, math.pow, math.asin, math.sqrt

    def distance(lat1: float, lon1: float) -> float:
        a = pow_(sin(radians(lat2 - lat1) / 2), 2) + cos(radians(lat1)) * cos_lat2 * pow_(
            sin(radians(lon2 - lon1) / 2), 2
        )
        return 2 * EARTH_RADIUS_KM * asin(min(1.0, sqrt(a)))

    return distance


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine, written term for term as `dsl_sql` writes it so both round alike."""
    return distance_from(lat2, lon2)(lat1, lon1)


def _json_type(value: Any) -> str:
    if value is None or value is _MISSING:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float, Decimal)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _num(value: Any) -> Decimal:
    return (
        value
        if isinstance(value, Decimal)
        else Decimal(str(value))
        if isinstance(value, float)
        else Decimal(value)
    )


def _json_eq(stored: Any, value: Any) -> bool:
    kind = _json_type(stored)
    if kind != _json_type(value):
        return False
    if kind == "number":
        return _num(stored) == _num(value)
    return bool(stored == value)


def _json_order(stored: Any, value: Any) -> tuple[Any, Any] | None:
    """The pair to compare, or None when the types differ (then every order comparison fails)."""
    kind = _json_type(stored)
    if kind != _json_type(value) or kind not in ("number", "string"):
        return None
    return (_num(stored), _num(value)) if kind == "number" else (stored, value)


def _getter(path: str) -> _Getter:
    """(customer, purchase) → the value at `path`, or _MISSING."""
    head, _, rest = path.partition(".")
    if path in ("country", "locale"):
        return lambda customer, purchase: getattr(customer, path) or _MISSING
    if head == "stats":
        return lambda customer, purchase: _present(customer.stats.get(rest))
    if head == "purchase":
        return lambda customer, purchase: (
            _present(getattr(purchase, rest)) if purchase is not None else _MISSING
        )
    keys = tuple(rest.split("."))
    if head == "attributes":
        return lambda customer, purchase: _dig(customer.attributes, keys)
    # properties.<key>: `customer` is the event's properties here
    return lambda properties, purchase: _dig(properties, keys)


def _present(value: Any) -> Any:
    return _MISSING if value is None or (value.__class__ is str and not value) else value


def _dig(document: Any, keys: tuple[str, ...]) -> Any:
    for key in keys:
        if not isinstance(document, Mapping) or key not in document:
            return _MISSING
        document = document[key]
    return _MISSING if document is None else document


def _leaf(node: Attr, kind: str) -> Callable[[Any], bool]:
    """A test on the value found (_MISSING when there is none)."""
    op, value = node.op, node.value
    if op == "exists":
        wanted = value is not False
        return lambda x: (x is not _MISSING) == wanted
    if kind == "datetime":
        value = (
            [parse_datetime_value(v) for v in value]
            if isinstance(value, list)
            else parse_datetime_value(value)
        )
    elif kind == "number":
        value = [_num(v) for v in value] if isinstance(value, list) else _num(value)
    if kind != "json":
        # Columns: one type, the validator checked it.
        if op == "eq":
            return lambda x: x is not _MISSING and _cmp(x, kind) == value
        if op == "ne":
            return lambda x: x is not _MISSING and _cmp(x, kind) != value
        if op == "in":
            options = list(value)
            return lambda x: x is not _MISSING and _cmp(x, kind) in options
        if op == "not_in":
            options = list(value)
            return lambda x: x is not _MISSING and _cmp(x, kind) not in options
        if op == "between":
            low, high = value
            return lambda x: x is not _MISSING and low <= _cmp(x, kind) <= high
        if op == "contains":
            return lambda x: x is not _MISSING and value in x
        compare = _ORDER[op]
        if kind == "number":
            return lambda x: x is not _MISSING and compare(x if x.__class__ is not float else _num(x), value)
        return lambda x: x is not _MISSING and compare(x, value)
    if op == "eq":
        return _json_matcher([value])
    if op == "ne":
        equal = _json_matcher([value])
        return lambda x: x is not _MISSING and not equal(x)
    if op == "in":
        return _json_matcher(value)
    if op == "not_in":
        member = _json_matcher(value)
        return lambda x: x is not _MISSING and not member(x)
    if op == "contains":

        def contains(x: Any) -> bool:
            if isinstance(x, str):
                return isinstance(value, str) and value in x
            if isinstance(x, list):
                return any(_json_eq(item, value) for item in x)
            return False

        return contains
    if op == "between":
        low, high = value

        def between(x: Any) -> bool:
            lower, upper = _json_order(x, low), _json_order(x, high)
            return lower is not None and upper is not None and lower[0] >= lower[1] and upper[0] <= upper[1]

        return between
    compare = {
        "gt": lambda a, b: a > b,
        "gte": lambda a, b: a >= b,
        "lt": lambda a, b: a < b,
        "lte": lambda a, b: a <= b,
    }[op]

    def ordered(x: Any) -> bool:
        pair = _json_order(x, value)
        return pair is not None and compare(*pair)

    return ordered


_ORDER = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}
_NUMBER_CLASSES = (int, float, Decimal)


def _json_matcher(options: list[Any]) -> Callable[[Any], bool]:
    """`any(_json_eq(x, option) for option in options)`, by set lookups per JSON type.

    Sets compare as `_json_eq` does: text with text, booleans with booleans (a bool is only looked
    up among the booleans, so `true` never finds `1`), numbers by value (equal Decimals and ints
    hash alike). A value of another type (an array, an object, a missing one) takes the general path.
    """
    if any(option.__class__ not in (str, bool, *_NUMBER_CLASSES) for option in options):
        # Options of another type (the validator allows only scalars; kept general for safety).
        return lambda x: any(_json_eq(x, option) for option in options)
    texts = frozenset(option for option in options if option.__class__ is str)
    booleans = frozenset(option for option in options if option.__class__ is bool)
    numbers = frozenset(_num(option) for option in options if option.__class__ in _NUMBER_CLASSES)

    def member(x: Any) -> bool:
        kind = x.__class__
        if kind is str:
            return x in texts
        if kind is bool:
            return x in booleans
        if kind in _NUMBER_CLASSES:
            return _num(x) in numbers
        return any(_json_eq(x, option) for option in options)

    return member


def _cmp(x: Any, kind: str) -> Any:
    # Column values are ints and Decimals (exact), and Python compares them with a Decimal exactly:
    # no conversion on the hot path. Only a float (never a column's type) is converted.
    return _num(x) if kind == "number" and isinstance(x, float) else x


_COUNT = {
    "eq": lambda n, v: n == v,
    "ne": lambda n, v: n != v,
    "gt": lambda n, v: n > v,
    "gte": lambda n, v: n >= v,
    "lt": lambda n, v: n < v,
    "lte": lambda n, v: n <= v,
}


def _generic_attr(node: Attr, kind: str) -> Predicate:
    get = _getter(node.attr)
    test = _leaf(node, kind)
    return lambda c, p, now: test(get(c, p))


def _attr_predicate(node: Attr, kind: str) -> Predicate:
    """One closure per leaf for the common shapes (a stat compared with a number, the country or
    locale in a list, a top-level attribute): the value is read and tested in one call, as
    `_generic_attr` would read (`_getter`) and test (`_leaf`) it. Every other shape is generic."""
    head, _, rest = node.attr.partition(".")
    op, value = node.op, node.value
    if head == "stats" and kind == "number" and op in _ORDER and is_number(value):
        compare, limit = _ORDER[op], _num(value)

        def stat(c: CustomerSnapshot, p: Any, now: datetime) -> bool:
            x = c.stats.get(rest)
            if x is None or (x.__class__ is str and not x):
                return False
            return compare(_num(x) if x.__class__ is float else x, limit)

        return stat
    if node.attr in ("country", "locale") and op in ("in", "not_in") and isinstance(value, list):
        options, inside = frozenset(value), op == "in"

        def column(c: CustomerSnapshot, p: Any, now: datetime) -> bool:
            x = getattr(c, node.attr)
            return bool(x) and (x in options) is inside

        return column
    if head == "attributes" and rest and "." not in rest:
        test = _leaf(node, kind)
        keys = (rest,)

        def attribute(c: CustomerSnapshot, p: Any, now: datetime) -> bool:
            attributes = c.attributes
            if attributes.__class__ is dict:
                x = attributes.get(rest)
                return test(_MISSING if x is None else x)
            return test(_dig(attributes, keys))

        return attribute
    return _generic_attr(node, kind)


def compile_python(node: Any, *, event: bool = False) -> Predicate:
    """The predicate of a parsed tree: `predicate(customer, purchase, now) -> bool`."""
    if isinstance(node, All):
        children = tuple(compile_python(child, event=event) for child in node.all)

        def all_of(c: Any, p: Any, now: datetime) -> bool:
            for child in children:
                if not child(c, p, now):
                    return False
            return True

        return all_of
    if isinstance(node, AnyOf):
        children = tuple(compile_python(child, event=event) for child in node.any)

        def any_of(c: Any, p: Any, now: datetime) -> bool:
            for child in children:
                if child(c, p, now):
                    return True
            return False

        return any_of
    if isinstance(node, Not):
        child = compile_python(node.not_, event=event)
        return lambda c, p, now: not child(c, p, now)
    if isinstance(node, Attr):
        kind = path_kind(node.attr, purchase=True, event=event)
        return _attr_predicate(node, kind) if not event else _generic_attr(node, kind)
    if isinstance(node, EventCondition):
        name, days = node.event, timedelta(days=node.within_days)
        where = compile_python(node.where, event=True) if node.where is not None else None
        count_test, wanted = _COUNT[node.count.op], node.count.value

        def counted(c: CustomerSnapshot, p: PurchaseContext | None, now: datetime) -> bool:
            since = now - days
            n = 0
            for fact in c.events:
                if (
                    fact.name == name
                    and fact.occurred_at >= since
                    and (
                        where is None or where(fact.properties, p, now)  # type: ignore[arg-type]
                    )
                ):
                    n += 1
            return count_test(n, wanted)

        return counted
    if isinstance(node, Geo):
        lat, lon, km = node.geo.lat, node.geo.lon, node.geo.within_km
        # The great-circle distance is at least R·|Δlat| (in radians): far latitudes fail without
        # the haversine. The margin keeps every case near the edge on the exact path.
        max_lat_degrees = math.degrees(km * (1 + 1e-6) / EARTH_RADIUS_KM) + 1e-6

        distance = distance_from(lat, lon)

        def within(c: CustomerSnapshot, p: Any, now: datetime) -> bool:
            c_lat, c_lon = c.lat, c.lon
            if c_lat is None or c_lon is None or abs(c_lat - lat) > max_lat_degrees:
                return False
            return distance(c_lat, c_lon) <= km

        return within
    raise TypeError(f"not a DSL node: {node!r}")


__all__ = [
    "CustomerSnapshot",
    "EventFact",
    "Predicate",
    "PurchaseContext",
    "compile_python",
    "distance_km",
    "is_number",
]
