"""Starter definitions the admin's segment editor offers (so nobody writes a tree from nothing)."""

from __future__ import annotations

STARTER_DEFINITIONS = [
    (
        "Viewed but didn't buy in 7 days",
        {"all": [{"event": "view", "within_days": 7}, {"not": {"event": "conversion", "within_days": 7}}]},
    ),
    (
        "High value: bought recently, often, and high value (R, F, M ≥ 4)",
        {
            "all": [
                {"attr": "stats.r", "op": "gte", "value": 4},
                {"attr": "stats.f", "op": "gte", "value": 4},
                {"attr": "stats.m", "op": "gte", "value": 4},
            ]
        },
    ),
    ("Customers in a country", {"attr": "country", "op": "in", "value": ["ES", "PT"]}),
    ("Never bought", {"attr": "stats.orders_total", "op": "eq", "value": 0}),
    ("Spent at least 100 in 90 days", {"attr": "stats.spend_90d", "op": "gte", "value": 100}),
    ("An attribute has a value", {"attr": "attributes.tier", "op": "eq", "value": "gold"}),
    ("Within 10 km of a place", {"geo": {"lat": 40.4168, "lon": -3.7038, "within_km": 10}}),
]
