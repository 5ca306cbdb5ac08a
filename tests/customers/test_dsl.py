"""The DSL: every operator in both compilers (SQL for segments, Python for eligibility), validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from core.exceptions import ValidationFailed
from customers.definitions import parse_definition
from customers.dsl import DefinitionError, parse_tree, path_kind
from customers.dsl_python import CustomerSnapshot, PurchaseContext, compile_python
from customers.dsl_sql import compile_sql
from customers.models import Customer
from customers.snapshots import customer_snapshots
from tests.customers.conftest import make_customer

NOW = timezone.now()


@pytest.fixture
def people(brand_a):
    last = NOW - timedelta(days=3)
    make_customer(
        "ana",
        country="ES",
        locale="es-ES",
        lat=40.4168,
        lon=-3.7038,
        attributes={
            "tier": "gold",
            "age": 31,
            "vip": True,
            "tags": ["new", "app"],
            "score": 7.5,
            "address": {"city": "Madrid"},
            "nick": "Anita",
        },
        stats={
            "orders_total": 5,
            "spend_total": Decimal("250.50"),
            "orders_90d": 2,
            "spend_90d": Decimal("80"),
            "r": 5,
            "f": 4,
            "m": 4,
            "first_purchase_at": NOW - timedelta(days=200),
            "last_purchase_at": last,
        },
        events=[("view", 1, {"sku": "A"}), ("view", 2, {"sku": "B"}), ("view", 20, {"sku": "A"})],
        now=NOW,
    )
    make_customer(
        "bob",
        country="FR",
        locale="fr",
        lat=48.8566,
        lon=2.3522,
        attributes={"tier": "silver", "age": "31", "vip": 1, "tags": ["app"], "score": 3, "nick": "bobby"},
        stats={
            "orders_total": 1,
            "spend_total": Decimal("20"),
            "orders_90d": 1,
            "spend_90d": Decimal("20"),
            "r": 2,
            "f": 1,
            "m": 1,
            "first_purchase_at": last,
            "last_purchase_at": last,
        },
        events=[("view", 1, {"sku": "A"}), ("conversion", 1, {"sku": "A"})],
        now=NOW,
    )
    make_customer("cid", attributes={"tier": None}, events=[("view", 10, {})], now=NOW)  # knows nothing else
    return ["ana", "bob", "cid"]


def both(definition, purchase=None):
    """The customers each compiler selects (SQL over the table, Python over the loaded snapshots)."""
    node = parse_definition(definition, purchase=purchase is not None)
    ids = ["ana", "bob", "cid"]
    if purchase is None:
        sql = set(
            Customer.objects.filter(customer_id__in=ids)
            .filter(compile_sql(node, now=NOW))
            .values_list("customer_id", flat=True)
        )
    else:
        sql = None
    predicate = compile_python(node)
    snapshots = customer_snapshots(
        customer_ids=ids, event_names={"view", "conversion"}, events_since=NOW - timedelta(days=365)
    )
    python = {cid for cid, snapshot in snapshots.items() if predicate(snapshot, purchase, NOW)}
    return sql, python


CASES = [
    # text columns
    ({"attr": "country", "op": "eq", "value": "ES"}, {"ana"}),
    ({"attr": "country", "op": "ne", "value": "ES"}, {"bob"}),  # missing never matches ne
    ({"attr": "country", "op": "in", "value": ["ES", "FR"]}, {"ana", "bob"}),
    ({"attr": "country", "op": "not_in", "value": ["ES"]}, {"bob"}),
    ({"attr": "locale", "op": "gt", "value": "es-ES"}, {"bob"}),
    ({"attr": "locale", "op": "gte", "value": "es-ES"}, {"ana", "bob"}),
    ({"attr": "locale", "op": "lt", "value": "fr"}, {"ana"}),
    ({"attr": "locale", "op": "lte", "value": "fr"}, {"ana", "bob"}),
    ({"attr": "locale", "op": "between", "value": ["a", "f"]}, {"ana"}),
    ({"attr": "country", "op": "exists"}, {"ana", "bob"}),
    ({"attr": "country", "op": "exists", "value": False}, {"cid"}),
    ({"attr": "locale", "op": "contains", "value": "-"}, {"ana"}),
    # attributes (JSON): types never equal each other, "31" is not 31, 1 is not true
    ({"attr": "attributes.tier", "op": "eq", "value": "gold"}, {"ana"}),
    ({"attr": "attributes.age", "op": "eq", "value": 31}, {"ana"}),
    ({"attr": "attributes.age", "op": "eq", "value": 31.0}, {"ana"}),
    ({"attr": "attributes.vip", "op": "eq", "value": True}, {"ana"}),
    ({"attr": "attributes.tier", "op": "ne", "value": "gold"}, {"bob"}),  # cid's null is missing
    ({"attr": "attributes.age", "op": "in", "value": [31, "x"]}, {"ana"}),
    ({"attr": "attributes.vip", "op": "in", "value": [1]}, {"bob"}),  # ana's true is not 1
    ({"attr": "attributes.age", "op": "in", "value": [True, 31.0]}, {"ana"}),  # 31 is 31.0, not true
    ({"attr": "attributes.tier", "op": "not_in", "value": ["silver"]}, {"ana"}),
    ({"attr": "attributes.score", "op": "gt", "value": 3}, {"ana"}),
    ({"attr": "attributes.score", "op": "gte", "value": 3}, {"ana", "bob"}),
    ({"attr": "attributes.score", "op": "lt", "value": 7.5}, {"bob"}),
    ({"attr": "attributes.score", "op": "lte", "value": 7.5}, {"ana", "bob"}),
    ({"attr": "attributes.nick", "op": "gt", "value": "Z"}, {"bob"}),  # code point order: "b" > "Z"
    ({"attr": "attributes.age", "op": "gt", "value": 30}, {"ana"}),  # bob's "31" is text
    ({"attr": "attributes.score", "op": "between", "value": [3, 7]}, {"bob"}),
    ({"attr": "attributes.nick", "op": "between", "value": ["A", "B"]}, {"ana"}),
    ({"attr": "attributes.tier", "op": "exists"}, {"ana", "bob"}),
    ({"attr": "attributes.tier", "op": "exists", "value": False}, {"cid"}),
    ({"attr": "attributes.tags", "op": "contains", "value": "new"}, {"ana"}),
    ({"attr": "attributes.tags", "op": "contains", "value": "app"}, {"ana", "bob"}),
    ({"attr": "attributes.nick", "op": "contains", "value": "obb"}, {"bob"}),
    ({"attr": "attributes.address.city", "op": "eq", "value": "Madrid"}, {"ana"}),
    # stats columns (every customer has a row; zeros until a purchase, null quintiles)
    ({"attr": "stats.orders_total", "op": "eq", "value": 0}, {"cid"}),
    ({"attr": "stats.orders_total", "op": "ne", "value": 5}, {"bob", "cid"}),
    ({"attr": "stats.r", "op": "ne", "value": 5}, {"bob"}),  # a null quintile is missing
    ({"attr": "stats.spend_total", "op": "gt", "value": 20}, {"ana"}),
    ({"attr": "stats.spend_total", "op": "gte", "value": 20}, {"ana", "bob"}),
    ({"attr": "stats.spend_total", "op": "lt", "value": 250.5}, {"bob", "cid"}),
    ({"attr": "stats.spend_total", "op": "lte", "value": 250.5}, {"ana", "bob", "cid"}),
    ({"attr": "stats.m", "op": "between", "value": [1, 3]}, {"bob"}),
    ({"attr": "stats.f", "op": "in", "value": [4, 5]}, {"ana"}),
    ({"attr": "stats.f", "op": "not_in", "value": [4]}, {"bob"}),
    ({"attr": "stats.r", "op": "exists"}, {"ana", "bob"}),
    (
        {"attr": "stats.last_purchase_at", "op": "gte", "value": (NOW - timedelta(days=7)).isoformat()},
        {"ana", "bob"},
    ),
    (
        {"attr": "stats.first_purchase_at", "op": "lt", "value": (NOW - timedelta(days=7)).isoformat()},
        {"ana"},
    ),
    # events
    ({"event": "view", "within_days": 7}, {"ana", "bob"}),
    ({"event": "view", "within_days": 30, "count": {"op": "gte", "value": 3}}, {"ana"}),
    ({"event": "view", "within_days": 30, "count": {"op": "eq", "value": 1}}, {"bob", "cid"}),
    ({"event": "conversion", "within_days": 7, "count": {"op": "eq", "value": 0}}, {"ana", "cid"}),
    (
        {"event": "view", "within_days": 7, "where": {"attr": "properties.sku", "op": "eq", "value": "B"}},
        {"ana"},
    ),
    # "viewed but didn't buy in 7 days"
    (
        {"all": [{"event": "view", "within_days": 7}, {"not": {"event": "conversion", "within_days": 7}}]},
        {"ana"},
    ),
    # geo: Madrid within 10 km; Paris is ~1,050 km away
    ({"geo": {"lat": 40.42, "lon": -3.70, "within_km": 10}}, {"ana"}),
    ({"geo": {"lat": 40.42, "lon": -3.70, "within_km": 1100}}, {"ana", "bob"}),
    # logic
    (
        {
            "any": [
                {"attr": "country", "op": "eq", "value": "FR"},
                {"attr": "stats.r", "op": "gte", "value": 5},
            ]
        },
        {"ana", "bob"},
    ),
    ({"not": {"attr": "country", "op": "eq", "value": "ES"}}, {"bob", "cid"}),  # not includes the missing
    ({"not": {"attr": "attributes.tier", "op": "ne", "value": "gold"}}, {"ana", "cid"}),
]


@pytest.mark.parametrize(("definition", "expected"), CASES, ids=[str(i) for i in range(len(CASES))])
def test_every_operator_in_both_compilers(people, definition, expected):
    sql, python = both(definition)
    assert sql == expected, "SQL"
    assert python == expected, "Python"


def test_purchase_paths_in_an_eligibility_rule(people):
    purchase = PurchaseContext(total=Decimal("60.00"), store_id="store-9", channel="in_store")
    _, python = both(
        {
            "all": [
                {"attr": "purchase.total", "op": "gte", "value": 50},
                {"attr": "purchase.store_id", "op": "in", "value": ["store-9"]},
                {"attr": "purchase.channel", "op": "eq", "value": "in_store"},
                {"attr": "country", "op": "eq", "value": "ES"},
            ]
        },
        purchase=purchase,
    )
    assert python == {"ana"}
    _, python = both({"attr": "purchase.total", "op": "gt", "value": 60}, purchase=purchase)
    assert python == set()


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ({"attr": "stats.nope", "op": "eq", "value": 1}, "unknown path 'stats.nope'"),
        ({"attr": "country", "op": "gt", "value": 3}, "definition: the value for country must be text"),
        ({"all": []}, "definition.all: a non-empty list of conditions"),
        (
            {
                "all": [
                    {"attr": "country", "op": "eq", "value": "ES"},
                    {"attr": "country", "op": "like", "value": "E"},
                ]
            },
            "definition.all[1].op",
        ),
        ({"event": "view", "within_days": 0}, "definition.within_days"),
        ({"attr": "purchase.total", "op": "gt", "value": 1}, "only in a campaign's eligibility rule"),
        ({"attr": "attributes.a", "op": "between", "value": [5, 1]}, "low must not be above high"),
        ({"attr": "attributes.a", "op": "in", "value": []}, "in takes a list"),
        ({"attr": "stats.r", "op": "contains", "value": 1}, "contains applies to text"),
        (
            {"event": "view", "within_days": 3, "where": {"attr": "country", "op": "eq", "value": "ES"}},
            "definition.where: inside `where`, paths are properties.<key>",
        ),
        ({"geo": {"lat": 91, "lon": 0, "within_km": 1}}, "definition.geo.lat"),
        ("all", "expected a condition object"),
        ({"attr": "country", "op": "eq", "value": "ES", "extra": 1}, "extra"),
    ],
)
def test_bad_definitions_get_readable_messages(definition, message):
    with pytest.raises(ValidationFailed) as error:
        parse_definition(definition)
    messages = " | ".join(error.value.message_dict["definition"])
    assert message in messages, messages


def test_definition_schema_is_in_the_openapi_document(crm_client):
    schema = crm_client.get("/api/schema/?format=json").json()
    components = schema["components"]["schemas"]
    assert {"DslAttr", "DslAll", "DslAnyOf", "DslNot", "DslEventCondition", "DslGeo"} <= set(components)
    assert components["DslAttr"]["properties"]["op"]["enum"][:3] == ["eq", "ne", "in"]


_ODD_VALUES = st.one_of(
    st.none(), st.just(""), st.booleans(), st.integers(-5, 50), st.floats(-5, 50, allow_nan=False),
    st.decimals(-5, 50, places=2, allow_nan=False), st.sampled_from(["ES", "PT", "FR", "gold", "x"]),
)  # fmt: skip


@given(
    leaf=st.one_of(
        st.builds(
            lambda op, v: {"attr": "stats.orders_total", "op": op, "value": v},
            st.sampled_from(["gt", "gte", "lt", "lte"]),
            st.integers(0, 40),
        ),
        st.builds(
            lambda op, v: {"attr": "stats.spend_total", "op": op, "value": v},
            st.sampled_from(["gt", "gte", "lt", "lte"]),
            st.decimals(0, 40, places=2).map(float),
        ),
        st.builds(
            lambda path, op, v: {"attr": path, "op": op, "value": v},
            st.sampled_from(["country", "locale"]),
            st.sampled_from(["in", "not_in"]),
            st.lists(st.sampled_from(["ES", "PT", "es"]), min_size=1),
        ),
        st.builds(
            lambda op, v: {"attr": "attributes.tier", "op": op, "value": v},
            st.sampled_from(["eq", "ne", "in", "not_in", "gt", "lte", "contains"]),
            st.sampled_from(["gold", 3, 2.5, True]),
        ),
        st.just({"attr": "attributes.tier", "op": "exists"}),
    ),
    stat=_ODD_VALUES.filter(lambda v: not isinstance(v, (bool, str)) or v == ""),
    country=st.sampled_from(["", "ES", "PT", "FR"]),
    tier=_ODD_VALUES,
    attributes_kind=st.sampled_from(["dict", "missing", "none"]),
)
@settings(max_examples=500, deadline=None)
def test_a_leaf_read_and_tested_in_one_call_agrees_with_the_general_path(
    leaf, stat, country, tier, attributes_kind
):
    from customers.dsl_python import _generic_attr

    if leaf["op"] in ("in", "not_in") and not isinstance(leaf["value"], list):
        leaf = {**leaf, "value": [leaf["value"]]}
    try:
        node = parse_tree(leaf, purchase=True, field="rule")
    except DefinitionError:
        return  # a leaf the validator refuses never reaches a compiler
    attributes = {"dict": {"tier": tier}, "missing": {}, "none": {"tier": None}}[attributes_kind]
    customer = CustomerSnapshot(
        customer_id="c", country=country, locale=country.lower(), attributes=attributes,
        stats={"orders_total": stat, "spend_total": stat},
    )  # fmt: skip
    kind = path_kind(node.attr, purchase=True, event=False)
    now = datetime(2026, 1, 1, tzinfo=UTC)

    def outcome(predicate):
        try:
            return predicate(customer, None, now)
        except TypeError:
            return TypeError

    assert outcome(compile_python(node)) == outcome(_generic_attr(node, kind))
