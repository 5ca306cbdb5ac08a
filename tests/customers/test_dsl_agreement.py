"""Property: on random definitions and random customers, the SQL and the Python compilers agree."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from customers.definitions import parse_definition
from customers.dsl_python import compile_python
from customers.dsl_sql import compile_sql
from customers.models import Customer
from customers.snapshots import customer_snapshots
from tests.customers.conftest import make_customer

NOW = timezone.now().replace(microsecond=0)
EVENT_NAMES = ["view", "conversion", "click"]

text = st.sampled_from(["", "a", "B", "es", "es-ES", "fr", "Zoë", "zz", "ab"])
number = st.one_of(st.integers(-3, 12), st.sampled_from([0.5, 2.5, 7.25, -1.5]))
scalar = st.one_of(text, number, st.booleans())
json_value = st.one_of(scalar, st.none(), st.lists(scalar, max_size=3), st.fixed_dictionaries({"x": scalar}))
instants = st.integers(0, 20).map(lambda days: (NOW - timedelta(days=days)).isoformat())

customers = st.fixed_dictionaries(
    {
        "country": st.sampled_from(["", "ES", "FR", "DE"]),
        "locale": st.sampled_from(["", "es", "es-ES", "fr", "de-AT"]),
        "position": st.one_of(
            st.none(),
            st.tuples(st.floats(39.0, 42.0, allow_nan=False), st.floats(-5.0, -2.0, allow_nan=False)),
        ),
        "attributes": st.dictionaries(st.sampled_from(["a", "b", "c"]), json_value, max_size=3),
        "stats": st.fixed_dictionaries(
            {
                "orders_total": st.integers(0, 6),
                "spend_total": st.integers(0, 5000).map(lambda cents: Decimal(cents) / 100),
                "r": st.one_of(st.none(), st.integers(1, 5)),
                "m": st.one_of(st.none(), st.integers(1, 5)),
                "last_purchase_at": st.one_of(
                    st.none(), st.integers(0, 20).map(lambda d: NOW - timedelta(days=d))
                ),
            }
        ),
        "events": st.lists(
            st.tuples(
                st.sampled_from(EVENT_NAMES),
                st.integers(0, 12),
                st.dictionaries(st.sampled_from(["sku", "price"]), scalar, max_size=2),
            ),
            max_size=4,
        ),
    }
)


def attr_conditions(paths):
    def for_path(path):
        kind = "json"
        if path in ("country", "locale"):
            values = text
            kind = "text"
        elif path in ("stats.orders_total", "stats.spend_total", "stats.r", "stats.m"):
            values = number
            kind = "number"
        elif path == "stats.last_purchase_at":
            values = instants
            kind = "datetime"
        else:
            values = scalar
        ordered = values if kind != "json" else st.one_of(text, number)
        options = [
            st.builds(
                lambda op, v: {"attr": path, "op": op, "value": v}, st.sampled_from(["eq", "ne"]), values
            ),
            st.builds(
                lambda op, v: {"attr": path, "op": op, "value": v},
                st.sampled_from(["gt", "gte", "lt", "lte"]),
                ordered,
            ),
            st.builds(
                lambda op, v: {"attr": path, "op": op, "value": v},
                st.sampled_from(["in", "not_in"]),
                st.lists(values, min_size=1, max_size=3),
            ),
            st.builds(lambda v: {"attr": path, "op": "exists", "value": v}, st.booleans()),
            st.builds(
                lambda a, b: {
                    "attr": path,
                    "op": "between",
                    "value": sorted([a, b]) if kind != "json" else [a, b],
                },
                ordered,
                ordered,
            ),
        ]
        if kind in ("text", "json"):
            options.append(
                st.builds(
                    lambda v: {"attr": path, "op": "contains", "value": v}, text if kind == "text" else scalar
                )
            )
        return st.one_of(options)

    return st.sampled_from(paths).flatmap(for_path)


customer_leaf = attr_conditions(
    [
        "country",
        "locale",
        "attributes.a",
        "attributes.b",
        "attributes.c.x",
        "stats.orders_total",
        "stats.spend_total",
        "stats.r",
        "stats.m",
        "stats.last_purchase_at",
    ]
)
property_leaf = attr_conditions(["properties.sku", "properties.price"])
event_leaf = st.builds(
    lambda name, days, op, n, where: {
        "event": name,
        "within_days": days,
        "count": {"op": op, "value": n},
        **({"where": where} if where else {}),
    },
    st.sampled_from(EVENT_NAMES),
    st.integers(1, 10),
    st.sampled_from(["eq", "ne", "gt", "gte", "lt", "lte"]),
    st.integers(0, 3),
    st.one_of(st.none(), property_leaf),
)
geo_leaf = st.builds(
    lambda km: {"geo": {"lat": 40.4, "lon": -3.7, "within_km": km}}, st.sampled_from([10, 100, 250])
)

definitions = st.recursive(
    st.one_of(customer_leaf, customer_leaf, event_leaf, geo_leaf),
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=3).map(lambda items: {"all": items}),
        st.lists(children, min_size=1, max_size=3).map(lambda items: {"any": items}),
        children.map(lambda child: {"not": child}),
    ),
    max_leaves=6,
)


def valid(definition) -> bool:
    try:
        parse_definition(definition)
    except Exception:
        return False
    return True


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
@given(definition=definitions.filter(valid), population=st.lists(customers, min_size=3, max_size=6))
def test_sql_and_python_compilers_agree(brand_a, definition, population):
    node = parse_definition(definition)
    with transaction.atomic():
        ids = []
        for index, person in enumerate(population):
            position = person["position"]
            customer = make_customer(
                f"prop-{index}",
                country=person["country"],
                locale=person["locale"],
                lat=position[0] if position else None,
                lon=position[1] if position else None,
                attributes=person["attributes"],
                stats=person["stats"],
                events=[(name, days, props) for name, days, props in person["events"]],
                now=NOW,
            )
            ids.append(customer.customer_id)
        sql = set(
            Customer.objects.filter(customer_id__in=ids)
            .filter(compile_sql(node, now=NOW))
            .values_list("customer_id", flat=True)
        )
        snapshots = customer_snapshots(
            customer_ids=ids, event_names=EVENT_NAMES, events_since=NOW - timedelta(days=30)
        )
        predicate = compile_python(node)
        python = {cid for cid, snapshot in snapshots.items() if predicate(snapshot, None, NOW)}
        transaction.set_rollback(True)
    event(f"selected {'none' if not sql else 'all' if len(sql) == len(ids) else 'some'}")
    assert sql == python, definition
