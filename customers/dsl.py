"""The segment and eligibility DSL (SPEC §11): its pydantic model, parsing and validation.

Pure (pydantic and the standard library only): `campaigns.rules` compiles these trees.

One parsed tree (`Node`) feeds two compilers: `customers.dsl_sql` (ORM `Q`/`Exists`, for segments)
and `customers.dsl_python` (pure Python, for per-purchase eligibility in `campaigns.rules`).

    {"all": [...]}  {"any": [...]}  {"not": {...}}
    {"attr": "<path>", "op": "eq|ne|in|not_in|gt|gte|lt|lte|between|exists|contains", "value": ...}
    {"event": "<name>", "within_days": n, "count": {"op": "gte", "value": 1}, "where": {...}}
    {"geo": {"lat": .., "lon": .., "within_km": ..}}

Semantics, shared by both compilers (and checked by a property test that they agree):

* A missing value (no such attribute, JSON null, an empty text field, a null stat) fails every
  comparison, `ne` and `not_in` included; only `{"op": "exists", "value": false}` and `not` match it.
* Values compare only with values of the same JSON type (numbers numerically, text by code point);
  `true` is not `1`. `contains` is a substring test on text and a membership test on arrays.
* `between` is inclusive: `[low, high]`.
* An event condition counts the customer's events of that name that occurred at most `within_days`
  days before the evaluation (and match `where`, a tree on `properties.<key>`), and compares the
  count with `count` (default `{"op": "gte", "value": 1}`).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, model_validator

OPS = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between", "exists", "contains")
COUNT_OPS = ("eq", "ne", "gt", "gte", "lt", "lte")
TEXT_PATHS = frozenset({"country", "locale"})
STATS_NUMBERS = frozenset({"orders_total", "spend_total", "orders_90d", "spend_90d", "r", "f", "m"})
STATS_DATETIMES = frozenset({"first_purchase_at", "last_purchase_at"})
PURCHASE_PATHS = {"purchase.total": "number", "purchase.store_id": "text", "purchase.channel": "text"}
MAX_DEPTH = 12
MAX_LIST = 1000

Kind = Literal["text", "number", "datetime", "json"]


def path_kind(path: str, *, purchase: bool, event: bool) -> Kind:
    """What a path holds; ValueError for a path the context does not offer."""
    if event:
        if path.startswith("properties.") and all(path.split(".")[1:]):
            return "json"
        raise ValueError("inside `where`, paths are properties.<key>")
    if path in TEXT_PATHS:
        return "text"
    head, _, rest = path.partition(".")
    if head == "attributes" and rest and all(rest.split(".")):
        return "json"
    if head == "stats" and rest in STATS_NUMBERS:
        return "number"
    if head == "stats" and rest in STATS_DATETIMES:
        return "datetime"
    if path in PURCHASE_PATHS:
        if not purchase:
            raise ValueError("purchase.* paths exist only in a campaign's eligibility rule, not in a segment")
        return PURCHASE_PATHS[path]  # type: ignore[return-value]
    stats = ", ".join(sorted(STATS_NUMBERS | STATS_DATETIMES))
    raise ValueError(
        f"unknown path {path!r}: use country, locale, attributes.<key>, stats.<field> ({stats})"
        + (", purchase.total, purchase.store_id, purchase.channel" if purchase else "")
    )


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _scalar_ok(kind: Kind, value: Any) -> str | None:
    """Why `value` cannot be compared with a value of `kind` (None when it can)."""
    if kind == "text":
        return None if isinstance(value, str) else "must be text"
    if kind == "number":
        return None if is_number(value) else "must be a number"
    if kind == "datetime":
        if isinstance(value, str):
            parsed = parse_datetime(value)
            if parsed is not None and parsed.tzinfo is not None:
                return None
        return "must be an ISO 8601 date-time with its offset, e.g. 2026-01-31T00:00:00Z"
    return (
        None if isinstance(value, (str, bool)) or is_number(value) else "must be text, a number or a boolean"
    )


def parse_datetime(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def parse_datetime_value(value: str) -> datetime:
    parsed = parse_datetime(value)
    if parsed is None:
        raise ValueError(f"not an ISO 8601 date-time: {value!r}")
    return parsed


class Attr(BaseModel):
    """A comparison of one value of the customer (or of the purchase, in an eligibility rule)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    attr: str = Field(
        description="country, locale, attributes.<key>, stats.<field>; purchase.total|store_id|"
        "channel in an eligibility rule; properties.<key> inside an event's `where`."
    )
    op: Literal["eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between", "exists", "contains"]
    value: Any = Field(
        default=None,
        description="A scalar; a list for in/not_in; [low, high] for between; "
        "a boolean (default true) for exists.",
    )

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> Attr:
        context = info.context or {}
        kind = path_kind(
            self.attr, purchase=context.get("purchase", False), event=context.get("event", False)
        )
        op, value = self.op, self.value
        if op == "exists":
            if value is not None and not isinstance(value, bool):
                raise ValueError("exists takes true or false")
            return self
        if op in ("in", "not_in"):
            if not isinstance(value, list) or not value or len(value) > MAX_LIST:
                raise ValueError(f"{op} takes a list of 1 to {MAX_LIST} values")
            for item in value:
                if problem := _scalar_ok(kind, item):
                    raise ValueError(f"every value of {op} on {self.attr} {problem}")
            return self
        if op == "between":
            if not isinstance(value, list) or len(value) != 2:
                raise ValueError("between takes [low, high]")
            for item in value:
                if problem := _scalar_ok(kind, item):
                    raise ValueError(f"the bounds of between on {self.attr} {problem}")
                if kind == "json" and isinstance(item, bool):
                    raise ValueError("between compares numbers or text")
            low, high = value
            if kind == "json" and is_number(low) != is_number(high):
                raise ValueError("both bounds of between must be numbers, or both text")
            if kind == "datetime":
                low, high = parse_datetime_value(low), parse_datetime_value(high)
            if low > high:
                raise ValueError("between: low must not be above high")
            return self
        if value is None:
            raise ValueError(f"{op} needs a value")
        if op == "contains" and kind in ("number", "datetime"):
            raise ValueError(f"contains applies to text and to attributes, not to {self.attr}")
        if problem := _scalar_ok(kind, value):
            raise ValueError(f"the value for {self.attr} {problem}")
        if op in ("gt", "gte", "lt", "lte") and kind == "json" and isinstance(value, bool):
            raise ValueError(f"{op} compares numbers or text, not booleans")
        return self


class Count(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    op: Literal["eq", "ne", "gt", "gte", "lt", "lte"] = "gte"
    value: int = Field(default=1, ge=0, le=1_000_000)


class EventCondition(BaseModel):
    """How many events of a name the customer had in the last `within_days` days."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    event: str = Field(
        min_length=1, max_length=100, description="view, click, open, conversion or a brand's name"
    )
    within_days: int = Field(ge=1, le=3650)
    count: Count = Count()
    # Validated as a tree on properties.<key> (the model validator below), hence `Any` here.
    where: Any = Field(default=None, description="A condition tree on properties.<key> of the event.")

    @model_validator(mode="after")
    def _where_on_properties(self, info: ValidationInfo) -> EventCondition:
        if self.where is not None and isinstance(self.where, dict):
            context = {**(info.context or {}), "event": True}
            where = _NODE.validate_python(self.where, context=context)
            if not _only_attrs(where):
                raise ValueError("inside `where`, only all/any/not and attr conditions on properties.<key>")
            object.__setattr__(self, "where", where)
        return self


class Area(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    within_km: float = Field(gt=0, le=20_038)


class Geo(BaseModel):
    """The customer's last known position is within `within_km` of a point (great-circle distance)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    geo: Area


class All(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    all: list[Node] = Field(min_length=1, max_length=100)


class AnyOf(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, title="Any")
    any: list[Node] = Field(min_length=1, max_length=100)


class Not(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    not_: Node = Field(alias="not")


Node = Annotated[All | AnyOf | Not | Attr | EventCondition | Geo, Field(union_mode="left_to_right")]

from pydantic import TypeAdapter  # noqa: E402 - after Node exists

for _model in (EventCondition, All, AnyOf, Not):
    _model.model_rebuild()
_NODE: TypeAdapter = TypeAdapter(Node)


def _only_attrs(node: Any) -> bool:
    if isinstance(node, All):
        return all(_only_attrs(child) for child in node.all)
    if isinstance(node, AnyOf):
        return all(_only_attrs(child) for child in node.any)
    if isinstance(node, Not):
        return _only_attrs(node.not_)
    return isinstance(node, Attr)


def _depth(node: Any) -> int:
    if isinstance(node, All):
        return 1 + max(_depth(child) for child in node.all)
    if isinstance(node, AnyOf):
        return 1 + max(_depth(child) for child in node.any)
    if isinstance(node, Not):
        return 1 + _depth(node.not_)
    if isinstance(node, EventCondition) and node.where is not None:
        return 1 + _depth(node.where)
    return 1


_KEYS = {"all": All, "any": AnyOf, "not": Not, "attr": Attr, "event": EventCondition, "geo": Geo}


def _explain(data: Any, context: dict, where: str) -> list[str]:
    """Readable messages for a tree pydantic refused: the first problem on each branch, with its place."""
    if not isinstance(data, dict):
        return [f'{where}: expected a condition object ({{"all"|"any"|"not"|"attr"|"event"|"geo": …}})']
    keys = [key for key in _KEYS if key in data]
    if len(keys) != 1:
        return [
            f"{where}: a condition has exactly one of all, any, not, attr, event, geo (got {sorted(data)})"
        ]
    key = keys[0]
    if key in ("all", "any"):
        items = data[key]
        if not isinstance(items, list) or not items:
            return [f"{where}.{key}: a non-empty list of conditions"]
        problems = [p for i, item in enumerate(items) for p in _explain(item, context, f"{where}.{key}[{i}]")]
        return problems or [f"{where}: only all/any/not with their list or object"]
    if key == "not":
        problems = _explain(data["not"], context, f"{where}.not")
        return problems or [f"{where}: only `not` with one condition"]
    if key == "event" and data.get("where") is not None:
        outer = _explain({k: v for k, v in data.items() if k != "where"}, context, where)
        return outer or _explain(data["where"], {**context, "event": True}, f"{where}.where")
    try:
        _KEYS[key].model_validate(data, context=context)
    except ValidationError as error:
        messages = []
        for item in error.errors():
            place = ".".join(str(part) for part in item["loc"])
            text = item["msg"].removeprefix("Value error, ")
            messages.append(f"{where}{'.' + place if place else ''}: {text}")
        return messages[:3]
    return []


class DefinitionError(ValueError):
    """A tree that is not a valid definition; `fields` = `{field: [readable messages]}`."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        super().__init__("; ".join(message for messages in fields.values() for message in messages))
        self.fields = fields


def parse_tree(data: Any, *, purchase: bool = False, field: str = "definition") -> Any:
    """The parsed tree of `data`, or `DefinitionError` with readable messages under `field`.

    `purchase=True` for a campaign's eligibility rule (purchase.* paths allowed).
    """
    context = {"purchase": purchase}
    try:
        node = _NODE.validate_python(data, context=context)
    except ValidationError:
        raise DefinitionError({field: _explain(data, context, field) or ["Not a valid condition."]}) from None
    if _depth(node) > MAX_DEPTH:
        raise DefinitionError({field: [f"Conditions nest at most {MAX_DEPTH} levels deep."]})
    return node


def event_names(node: Any) -> set[str]:
    """The event names a tree looks at, and the widest window: what a snapshot must load."""
    if isinstance(node, All):
        return set().union(*(event_names(child) for child in node.all))
    if isinstance(node, AnyOf):
        return set().union(*(event_names(child) for child in node.any))
    if isinstance(node, Not):
        return event_names(node.not_)
    if isinstance(node, EventCondition):
        return {node.event}
    return set()


def max_window_days(node: Any) -> int:
    if isinstance(node, All):
        return max(max_window_days(child) for child in node.all)
    if isinstance(node, AnyOf):
        return max(max_window_days(child) for child in node.any)
    if isinstance(node, Not):
        return max_window_days(node.not_)
    if isinstance(node, EventCondition):
        return node.within_days
    return 0


def definition_json_schema() -> dict[str, Any]:
    """The JSON Schema of a definition, its sub-schemas as OpenAPI components (`Dsl…`)."""
    return _NODE.json_schema(ref_template="#/components/schemas/Dsl{model}")
