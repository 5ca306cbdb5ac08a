"""The DSL's SQL compiler: a parsed tree → a `Q` on `Customer` (ORM expressions and `Exists`).

Semantics: see `customers.dsl`. Every leaf is wrapped in `COALESCE(…, false)`: a missing value
makes the leaf false rather than NULL, so `not` negates exactly what the Python compiler negates.
Stats are read through the `stats` one-to-one (every customer has its row). JSON values compare
as `jsonb` (numbers numerically, types never equal each other); text compares `COLLATE "C"`
(code point order, as Python does).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import BooleanField, Count, Exists, Expression, F, OuterRef, Q, Subquery

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
from customers.dsl_python import EARTH_RADIUS_KM


class P:
    """A literal parameter inside a `Sql` expression."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class Sql(Expression):
    """SQL written as tokens: text, ORM expressions (columns, subqueries) and `P` parameters."""

    output_field = BooleanField()

    def __init__(self, *tokens: Any, output_field: Any = None) -> None:
        super().__init__(output_field=output_field)
        self.tokens = list(tokens)

    def get_source_expressions(self) -> list[Any]:
        return [token for token in self.tokens if hasattr(token, "resolve_expression")]

    def set_source_expressions(self, exprs: list[Any]) -> None:
        replacements = iter(exprs)
        self.tokens = [next(replacements) if hasattr(t, "resolve_expression") else t for t in self.tokens]

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        parts: list[str] = []
        params: list[Any] = []
        for token in self.tokens:
            if isinstance(token, str):
                parts.append(token)
            elif isinstance(token, P):
                parts.append("%s")
                params.append(token.value)
            else:
                sql, token_params = compiler.compile(token)
                parts.append(sql)
                params.extend(token_params)
        return "".join(parts), params


def _q(*tokens: Any) -> Q:
    return Q(Sql("COALESCE((", *tokens, "), false)"))


def _jsonb(value: Any) -> P:
    return P(json.dumps(value))


_ORDER = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def _json_leaf(column: str, keys: list[str], node: Attr) -> Q:
    path = P(keys)
    jv = ("(", F(column), " #> ", path, "::text[])")
    jt = ("(", F(column), " #>> ", P(keys), "::text[])")
    typeof = ("jsonb_typeof(", F(column), " #> ", P(keys), "::text[])")
    op, value = node.op, node.value
    present = (*typeof, " <> 'null'")
    if op == "exists":
        return _q(*present) if value is not False else ~_q(*present)
    if op == "eq":
        return _q(*jv, " = ", _jsonb(value), "::jsonb")
    if op == "ne":
        return _q(*present, " AND ", *jv, " <> ", _jsonb(value), "::jsonb")
    if op in ("in", "not_in"):
        any_of = ("(", *jv, ") = ANY(", P([json.dumps(v) for v in value]), "::jsonb[])")
        return _q(*any_of) if op == "in" else _q(*present, " AND NOT ", *any_of)
    if op == "contains":
        array = ("(", *typeof, " = 'array' AND ", *jv, " @> ", _jsonb([value]), "::jsonb)")
        if isinstance(value, str):
            return _q("(", *typeof, " = 'string' AND strpos(", *jt, ", ", P(value), ") > 0) OR ", *array)
        return _q(*array)

    def ordered(symbol: str, bound: Any) -> tuple:
        if is_number(bound):
            return ("(", *typeof, " = 'number' AND ", *jv, f" {symbol} ", _jsonb(bound), "::jsonb)")
        return ("(", *typeof, " = 'string' AND ", *jt, f' COLLATE "C" {symbol} ', P(bound), ")")

    if op == "between":
        low, high = value
        return _q(*ordered(">=", low), " AND ", *ordered("<=", high))
    return _q(*ordered(_ORDER[op], value))


def _column_leaf(column: str, kind: str, node: Attr) -> Q:
    op, value = node.op, node.value
    col: tuple = (F(column),)
    present: tuple = (*col, " <> ''") if kind == "text" else (*col, " IS NOT NULL")
    if op == "exists":
        return _q(*present) if value is not False else ~_q(*present)

    def literal(v: Any) -> Any:
        if kind == "datetime":
            return parse_datetime_value(v)
        if kind == "number":
            return Decimal(str(v))
        return v

    if kind == "text":
        col = (*col, ' COLLATE "C"')
    guard = (*present, " AND ") if kind == "text" else ()
    if op in ("eq", "ne"):
        return _q(*guard, *col, " = " if op == "eq" else " <> ", P(literal(value)))
    if op in ("in", "not_in"):
        values = P([literal(v) for v in value])
        return (
            _q(*guard, *col, " = ANY(", values, ")")
            if op == "in"
            else _q(*present, " AND NOT (", *col, " = ANY(", values, "))")
        )
    if op == "contains":
        return _q(*guard, "strpos(", F(column), ", ", P(value), ") > 0")
    if op == "between":
        low, high = value
        return _q(*guard, *col, " BETWEEN ", P(literal(low)), " AND ", P(literal(high)))
    return _q(*guard, *col, f" {_ORDER[op]} ", P(literal(value)))


def _attr(node: Attr, *, event: bool) -> Q:
    kind = path_kind(node.attr, purchase=False, event=event)
    head, _, rest = node.attr.partition(".")
    if kind == "json":
        return _json_leaf(head, rest.split("."), node)
    column = f"stats__{rest}" if head == "stats" else node.attr
    return _column_leaf(column, kind, node)


_COUNT = {"eq": "=", "ne": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def _event(node: EventCondition, now: datetime) -> Q:
    from customers.models import Event

    events = Event.objects.filter(
        customer_id=OuterRef("pk"), name=node.event, occurred_at__gte=now - timedelta(days=node.within_days)
    )
    if node.where is not None:
        events = events.filter(compile_sql(node.where, now=now, event=True))
    op, wanted = node.count.op, node.count.value
    if (op, wanted) in (("gte", 1), ("gt", 0), ("ne", 0)):
        return Q(Exists(events))
    if (op, wanted) in (("eq", 0), ("lt", 1), ("lte", 0)):
        return ~Q(Exists(events))
    counted = Subquery(events.order_by().values("customer_id").annotate(n=Count("id")).values("n"))
    return _q("COALESCE((", counted, "), 0) ", _COUNT[op], " ", P(wanted))


def _geo(node: Geo) -> Q:
    lat, lon, km = node.geo.lat, node.geo.lon, node.geo.within_km
    # Term for term as customers.dsl_python.distance_km computes it.
    return _q(
        "2 * ",
        P(EARTH_RADIUS_KM),
        "::float8 * asin(least(1.0::float8, sqrt(power(sin(radians(",
        P(lat),
        "::float8 - ",
        F("lat"),
        ") / 2), 2) + cos(radians(",
        F("lat"),
        ")) * cos(radians(",
        P(lat),
        "::float8)) * power(sin(radians(",
        P(lon),
        "::float8 - ",
        F("lon"),
        ") / 2), 2)))) <= ",
        P(km),
        "::float8",
    )


def compile_sql(node: Any, *, now: datetime, event: bool = False) -> Q:
    """The `Q` (on `Customer`, or on `Event` inside an event's `where`) of a parsed tree."""
    if isinstance(node, All):
        q = Q()
        for child in node.all:
            q &= compile_sql(child, now=now, event=event)
        return q
    if isinstance(node, AnyOf):
        children = [compile_sql(child, now=now, event=event) for child in node.any]
        q = children[0]
        for child in children[1:]:
            q |= child
        return q
    if isinstance(node, Not):
        return ~Q(compile_sql(node.not_, now=now, event=event))
    if isinstance(node, Attr):
        return _attr(node, event=event)
    if isinstance(node, EventCondition):
        return _event(node, now)
    if isinstance(node, Geo):
        return _geo(node)
    raise TypeError(f"not a DSL node: {node!r}")
