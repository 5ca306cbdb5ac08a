"""Benchmark: campaigns.rules engine vs. `business-rules` and `panzi-json-logic`.

Not a test, and no database. Run from the project root (`make bench BENCH=rules` installs
bench/requirements.txt first):

    .venv/bin/pip install -r bench/requirements.txt
    .venv/bin/python bench/rules.py [--purchases 3000]

One campaign (EUR, in-store only, min 50.00) with 1,000 blacklisted SKUs,
1,000 whitelisted SKUs in five multiplier/bonus tiers, a blacklisted category and
two whitelisted categories, evaluated on random purchases of 1-10 lines (fixed
seed). The same campaign is expressed in each library as naturally as that library
allows; every purchase must get the SAME (eligible, eligible_value, reason) from
all three or the script fails loudly. Then it prints evaluations/s and the ratios;
the last line is

    RESULT evals_per_s=<int> vs_business_rules=<x.y> vs_json_logic=<x.y>
           customer_evals_per_s=<int> customer_vs_business_rules=<x.y> customer_vs_json_logic=<x.y>
           rule_alone_vs_business_rules=<x.y> rule_alone_vs_json_logic=<x.y> loadavg=…

(ratio = engine speed / library speed). The customer-rules case (SPEC §11) gives the same
campaign an eligibility rule of 5 conditions (an attribute, two stats, the country, a distance
from a point) and each purchase a customer; all three must agree on every purchase again. It
also times the eligibility rule alone: the engine's compiled predicate against each library's
rule on the same customers, which is the harder comparison (no item rules to amortise). Two json-logic formulations are timed
(rule lists inline in the rule vs. passed in the data; see make_json_logic); the
RESULT line uses the FASTER one, so the claimed ratio is the conservative one.

Fairness choices (the point is not a strawman):
* each library gets its input in its own native form, built BEFORE timing
  (json-logic: plain dicts; business-rules: Variables objects wrapping the
  purchase, which is how that library is used); the engine gets PurchaseFacts;
* business-rules: whitelisted SKUs are grouped into one rule per tier (5 rules)
  instead of 1,000 one-SKU rules, and membership uses the library's fastest fitting
  operator;
* what a library cannot express is done in plain Python around it, and each place
  says so: neither library has Decimal arithmetic or rounding, so the money maths
  (line_total * multiplier + quantity * bonus, the max, the sum, ROUND_HALF_UP) is
  Python in both; the libraries decide which rules apply and which check fails.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

# Run as a script from anywhere: make the project root importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

try:
    from business_rules import run_all
    from business_rules.actions import BaseActions, rule_action
    from business_rules.fields import FIELD_NUMERIC, FIELD_TEXT
    from business_rules.variables import (
        BaseVariables,
        numeric_rule_variable,
        select_multiple_rule_variable,
        string_rule_variable,
    )
    from json_logic import jsonLogic
except ImportError as error:
    raise SystemExit(
        f"{error}: the libraries this bench compares against are in bench/requirements.txt"
        " (`make bench BENCH=rules`, or `.venv/bin/pip install -r bench/requirements.txt`)"
    ) from None

from _report import result

from campaigns.rules import (
    CampaignSpec,
    CompiledCampaign,
    ItemRuleSpec,
    PurchaseFacts,
    PurchaseLine,
    compile_campaign,
)
from customers.dsl import parse_tree
from customers.dsl_python import CustomerSnapshot, compile_python, distance_km

SEED = 20240601
N_PURCHASES = 3000  # every one is checked on all three libraries and the engine (--purchases)
ENGINE_REPEATS = 50  # engine timed as best of N passes over the same purchases
JSON_LOGIC_REPEATS = 2

Outcome = tuple[bool, str, str | None]  # (eligible, str(eligible_value), reason)

# --------------------------------------------------------------------------- data

STARTS_AT = datetime(2025, 3, 1, tzinfo=UTC)
ENDS_AT = datetime(2025, 9, 1, tzinfo=UTC)
CURRENCY = "EUR"
QUANTUM = Decimal("0.01")
MIN_VALUE = Decimal("50.00")
CHANNELS = frozenset({"in_store"})

BLACKLISTED_SKUS = [f"BL-{i:05d}" for i in range(1000)]
WHITELISTED_SKUS = [f"WL-{i:05d}" for i in range(1000)]
OTHER_SKUS = [f"SKU-{i:05d}" for i in range(3000)]
TIERS: list[tuple[Decimal, Decimal]] = [  # (multiplier, bonus_per_unit)
    (Decimal("1.5"), Decimal("0")),
    (Decimal("2"), Decimal("0")),
    (Decimal("1"), Decimal("0.25")),
    (Decimal("1.25"), Decimal("0.10")),
    (Decimal("3"), Decimal("1.00")),
]
CATEGORY_RULES = [
    ItemRuleSpec("blacklist", "category", "tobacco"),
    ItemRuleSpec("whitelist", "category", "toys", Decimal("1.2"), Decimal("0")),
    ItemRuleSpec("whitelist", "category", "books", Decimal("1"), Decimal("0.50")),
]
CATEGORIES: list[str | None] = ["toys", "books", "food", "tobacco", None]
CATEGORY_WEIGHTS = [20, 15, 30, 10, 25]


def make_campaign(rng: random.Random, status: str = "active") -> CampaignSpec:
    rules: list[ItemRuleSpec] = [ItemRuleSpec("blacklist", "sku", sku) for sku in BLACKLISTED_SKUS]
    for sku in WHITELISTED_SKUS:
        multiplier, bonus = rng.choice(TIERS)
        rules.append(ItemRuleSpec("whitelist", "sku", sku, multiplier, bonus))
    rules.extend(CATEGORY_RULES)
    return CampaignSpec(
        id=1,
        version=3,
        status=status,
        starts_at=STARTS_AT,
        ends_at=ENDS_AT,
        purchase_channels=CHANNELS,
        currency=CURRENCY,
        min_purchase_value=MIN_VALUE,
        item_rules=tuple(rules),
    )


def make_purchase(rng: random.Random) -> PurchaseFacts:
    """A realistic mix: most purchases in scope, some failing checks 2-4; lines hit
    the blacklist (~25%), the whitelist (~30%) or neither, with categories that
    sometimes add a category rule on top (so "largest wins" and "blacklist beats
    whitelist" happen), and cheap lines so that some totals fall below minimum."""
    r = rng.random()
    span = int((ENDS_AT - STARTS_AT).total_seconds())
    if r < 0.04:
        purchased_at = STARTS_AT - timedelta(seconds=rng.randint(1, 86400 * 30))
    elif r < 0.08:
        purchased_at = ENDS_AT + timedelta(seconds=rng.randint(0, 86400 * 30))
    elif r < 0.09:
        purchased_at = STARTS_AT  # inclusive bound
    elif r < 0.10:
        purchased_at = ENDS_AT - timedelta(microseconds=1)  # exclusive bound, just inside
    else:
        purchased_at = STARTS_AT + timedelta(seconds=rng.randint(0, span - 1))
    channel = "ecommerce" if rng.random() < 0.08 else "in_store"
    currency = "USD" if rng.random() < 0.05 else CURRENCY
    lines = []
    for _ in range(rng.randint(1, 10)):
        r = rng.random()
        if r < 0.25:
            sku = rng.choice(BLACKLISTED_SKUS)
        elif r < 0.55:
            sku = rng.choice(WHITELISTED_SKUS)
        else:
            sku = rng.choice(OTHER_SKUS)
        category = rng.choices(CATEGORIES, CATEGORY_WEIGHTS)[0]
        cents = rng.randint(1, 300) if rng.random() < 0.3 else rng.randint(1, 15000)
        lines.append(PurchaseLine(sku, category, rng.randint(1, 5), Decimal(cents).scaleb(-2)))
    return PurchaseFacts(purchased_at, channel, currency, tuple(lines))


def to_us(moment: datetime) -> int:
    """Integer microseconds since the epoch.

    Neither library has a datetime type we can trust: business-rules compares
    numbers with an epsilon of 1e-6 and json-logic turns datetimes into float
    milliseconds, both of which blur microsecond boundaries. Integers compare
    exactly in both."""
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def round_money(total: Decimal) -> Decimal:
    # Neither library can round Decimals: done in Python, as the spec says
    # (half-up, once, at the end).
    return total.quantize(QUANTUM, ROUND_HALF_UP)


def best_boost(quantity: int, line_total: Decimal, boosts: Sequence[tuple[Decimal, Decimal]]) -> Decimal:
    # Money arithmetic in Python for both libraries (no Decimal support in either).
    return max(line_total * m + quantity * b for m, b in boosts)


# ------------------------------------------------------------------ business-rules


class LineVariables(BaseVariables):
    """Facts about one purchase line, as business-rules variables."""

    def __init__(self, line: PurchaseLine) -> None:
        self.line = line

    # select_multiple so that the rule can test membership in a list of SKUs;
    # the library has no "string in list" operator for string variables.
    @select_multiple_rule_variable(label="SKU")
    def sku(self) -> list[str]:
        return [self.line.sku]

    @select_multiple_rule_variable(label="Category")
    def category(self) -> list[str]:
        return [] if self.line.category is None else [self.line.category]


class LineActions(BaseActions):
    """Collects what the line rules decided; the Decimal maths is Python (see top)."""

    def __init__(self) -> None:
        self.excluded = False
        self.boosts: list[tuple[Decimal, Decimal]] = []

    @rule_action()
    def exclude_line(self) -> None:
        self.excluded = True

    @rule_action(params={"multiplier": FIELD_NUMERIC, "bonus_per_unit": FIELD_NUMERIC})
    def apply_whitelist(self, multiplier: Decimal, bonus_per_unit: Decimal) -> None:
        self.boosts.append((multiplier, bonus_per_unit))


class PurchaseVariables(BaseVariables):
    """Facts about the purchase (and the campaign status) for the check rules."""

    def __init__(self, status: str, purchase: PurchaseFacts, engine: BusinessRulesEngine) -> None:
        self.status = status
        self.purchase = purchase
        self.engine = engine
        self.value: Decimal | None = None

    @string_rule_variable
    def campaign_status(self) -> str:
        return self.status

    @numeric_rule_variable
    def purchased_at_us(self) -> int:
        return to_us(self.purchase.purchased_at)

    @select_multiple_rule_variable()
    def channel(self) -> list[str]:
        return [self.purchase.channel]

    @select_multiple_rule_variable()
    def currency(self) -> list[str]:
        return [self.purchase.currency]

    @numeric_rule_variable
    def eligible_value(self) -> Decimal:
        # Variables are computed on demand, so with stop_on_first_trigger the line
        # rules only run when checks 1-4 passed -- the same short-circuit as the
        # engine. Cached because rules 5 and 6 both read it.
        if self.value is None:
            self.value = self.engine.eligible_value(self.purchase)
        return self.value


class PurchaseActions(BaseActions):
    def __init__(self) -> None:
        self.reason: str | None = None

    @rule_action(params={"reason": FIELD_TEXT})
    def reject(self, reason: str) -> None:
        self.reason = reason


def cond(name: str, operator: str, value: Any) -> dict[str, Any]:
    return {"name": name, "operator": operator, "value": value}


def reject(reason: str) -> list[dict[str, Any]]:
    return [{"name": "reject", "params": {"reason": reason}}]


class BusinessRulesEngine:
    """The campaign as business-rules rule sets (JSON, loaded with Decimal numbers)."""

    def __init__(self, spec: CampaignSpec) -> None:
        self.spec = spec
        bl_skus = [r.value for r in spec.item_rules if r.kind == "blacklist" and r.match == "sku"]
        bl_cats = [r.value for r in spec.item_rules if r.kind == "blacklist" and r.match == "category"]
        tiers: dict[tuple[str, Decimal, Decimal], list[str]] = {}
        for r in spec.item_rules:
            if r.kind == "whitelist":
                tiers.setdefault((r.match, r.multiplier, r.bonus_per_unit), []).append(r.value)
        # NB: the library's select operators compare case-insensitively; the engine
        # is case-sensitive. The bench data never has two values differing only in
        # case, so results agree.
        blacklist_rules = [
            {
                "conditions": {
                    "any": [
                        # is_contained_by scans the list and stops at a hit; it is
                        # ~2.5x faster here than shares_at_least_one_element_with.
                        # SKU is always a one-element list, so the two agree.
                        cond("sku", "is_contained_by", bl_skus),
                        # category may be [] (None): is_contained_by would be true for
                        # the empty list, so use shares_at_least_one_element_with.
                        cond("category", "shares_at_least_one_element_with", bl_cats),
                    ]
                },
                "actions": [{"name": "exclude_line", "params": {}}],
            }
        ]
        whitelist_rules = [
            {
                "conditions": {
                    "all": [
                        cond(
                            match,
                            "is_contained_by" if match == "sku" else "shares_at_least_one_element_with",
                            values,
                        )
                    ]
                },
                "actions": [
                    {
                        "name": "apply_whitelist",
                        "params": {"multiplier": float(m), "bonus_per_unit": float(b)},
                    }
                ],
            }
            for (match, m, b), values in tiers.items()
        ]
        purchase_rules = [
            {
                "conditions": {"all": [cond("campaign_status", "equal_to", "paused")]},
                "actions": reject("campaign_not_active"),
            },
            {
                "conditions": {
                    "any": [
                        cond("purchased_at_us", "less_than", to_us(spec.starts_at)),
                        cond("purchased_at_us", "greater_than_or_equal_to", to_us(spec.ends_at)),
                    ]
                },
                "actions": reject("outside_validity"),
            },
            {
                "conditions": {
                    "all": [cond("channel", "shares_no_elements_with", sorted(spec.purchase_channels))]
                },
                "actions": reject("channel_not_allowed"),
            },
            {
                # No "not equal" operator for strings: one-element lists instead.
                "conditions": {"all": [cond("currency", "shares_no_elements_with", [spec.currency])]},
                "actions": reject("currency_mismatch"),
            },
            {
                "conditions": {"all": [cond("eligible_value", "equal_to", 0)]},
                "actions": reject("no_eligible_items"),
            },
            {
                "conditions": {"all": [cond("eligible_value", "less_than", float(spec.min_purchase_value))]},
                "actions": reject("below_minimum"),
            },
        ]
        # Round-trip through JSON as a stored rule set would be; parse_float=Decimal
        # makes multipliers, bonuses and the minimum exact Decimals (the floats above
        # print as their shortest decimal form, e.g. 1.25, so nothing is lost).
        self.blacklist_rules = json.loads(json.dumps(blacklist_rules), parse_float=Decimal)
        self.whitelist_rules = json.loads(json.dumps(whitelist_rules), parse_float=Decimal)
        self.purchase_rules = json.loads(json.dumps(purchase_rules), parse_float=Decimal)

    def line_value(self, line: PurchaseLine) -> Decimal:
        variables = LineVariables(line)
        actions = LineActions()
        # Blacklist beats whitelist: the whitelist rule set only runs when no
        # blacklist rule fired. Every whitelist rule runs (largest one wins).
        run_all(self.blacklist_rules, variables, actions, stop_on_first_trigger=True)
        if actions.excluded:
            return Decimal(0)
        line_total = line.quantity * line.unit_price
        run_all(self.whitelist_rules, variables, actions, stop_on_first_trigger=False)
        if actions.boosts:
            return best_boost(line.quantity, line_total, actions.boosts)
        return line_total

    def eligible_value(self, purchase: PurchaseFacts) -> Decimal:
        return round_money(sum((self.line_value(line) for line in purchase.lines), Decimal(0)))

    def prepare(self, purchase: PurchaseFacts) -> PurchaseFacts:
        return purchase  # business-rules variables wrap the purchase object itself

    def evaluate(self, purchase: PurchaseFacts) -> Outcome:
        variables = PurchaseVariables(self.spec.status, purchase, self)
        actions = PurchaseActions()
        # Checks in spec order; the first rule that fires is the reason.
        run_all(self.purchase_rules, variables, actions, stop_on_first_trigger=True)
        value = variables.value if variables.value is not None else round_money(Decimal(0))
        return (actions.reason is None, str(value), actions.reason)


# ------------------------------------------------------------------------ json-logic


class JsonLogicEngine:
    """The campaign as json-logic rules: a gate rule per purchase (checks 1-4), a
    line rule per line (which item rules apply), a value rule per purchase
    (checks 5-6).

    ``lists_in_data=False`` is the textbook form: the SKU lists are literals in the
    rule. json-logic's interpreter re-walks every literal list element on every
    evaluation, so ``lists_in_data=True`` also times the faster form in which the
    rule reads the lists from the data with ``var``.
    """

    def __init__(self, spec: CampaignSpec, lists_in_data: bool) -> None:
        self.spec = spec
        bl_skus = [r.value for r in spec.item_rules if r.kind == "blacklist" and r.match == "sku"]
        bl_cats = [r.value for r in spec.item_rules if r.kind == "blacklist" and r.match == "category"]
        tiers: dict[tuple[str, Decimal, Decimal], list[str]] = {}
        for r in spec.item_rules:
            if r.kind == "whitelist":
                tiers.setdefault((r.match, r.multiplier, r.bonus_per_unit), []).append(r.value)
        self.lists: dict[str, list[str]] = {"bl_skus": bl_skus, "bl_cats": bl_cats}

        def listref(name: str, values: list[str]) -> Any:
            self.lists[name] = values
            return {"var": f"rules.{name}"} if lists_in_data else values

        def tier_chain(match: str) -> dict[str, Any]:
            # if in tier 1 -> [[m, b]], elif in tier 2 -> ..., else [] -- at most one
            # tier can match a given sku/category (rules are unique).
            chain: list[Any] = []
            for i, ((m_match, m, b), values) in enumerate(tiers.items()):
                if m_match != match:
                    continue
                chain.append({"in": [{"var": f"line.{match}"}, listref(f"wl_{match}_{i}", values)]})
                # Boosts as strings: JSON numbers are floats in json-logic, strings
                # keep the exact decimal for the Python side.
                chain.append([[str(m), str(b)]])
            chain.append([])
            return {"if": chain}

        # Returns null when a blacklist rule matches (line counts 0), else the list
        # of matching whitelist boosts (empty: the line counts its total).
        self.line_rule: dict[str, Any] = {
            "if": [
                {
                    "or": [
                        {"in": [{"var": "line.sku"}, listref("bl_skus", bl_skus)]},
                        {"in": [{"var": "line.category"}, listref("bl_cats", bl_cats)]},
                    ]
                },
                None,
                {"merge": [tier_chain("sku"), tier_chain("category")]},
            ]
        }
        self.gate_rule: dict[str, Any] = {
            "if": [
                {"==": [{"var": "campaign.status"}, "paused"]},
                "campaign_not_active",
                {
                    "!": {
                        "and": [
                            {"<=": [to_us(spec.starts_at), {"var": "purchased_at_us"}]},
                            {"<": [{"var": "purchased_at_us"}, to_us(spec.ends_at)]},
                        ]
                    }
                },
                "outside_validity",
                {"!": {"in": [{"var": "channel"}, sorted(spec.purchase_channels)]}},
                "channel_not_allowed",
                {"!=": [{"var": "currency"}, spec.currency]},
                "currency_mismatch",
                None,
            ]
        }
        # json-logic numbers are floats: the value is compared as a float. A rounded
        # amount and the 2-decimal minimum (< 16 significant digits) keep their
        # order as floats, so the comparison is right; the VALUE itself stays Decimal.
        self.value_rule: dict[str, Any] = {
            "if": [
                {"==": [{"var": "eligible_value"}, 0]},
                "no_eligible_items",
                {"<": [{"var": "eligible_value"}, float(spec.min_purchase_value)]},
                "below_minimum",
                None,
            ]
        }
        # Rules are JSON documents; make sure these are.
        self.line_rule = json.loads(json.dumps(self.line_rule))
        self.gate_rule = json.loads(json.dumps(self.gate_rule))
        self.value_rule = json.loads(json.dumps(self.value_rule))
        self.rules_data = self.lists if lists_in_data else {}
        self.campaign_data = {"status": spec.status}

    def prepare(self, purchase: PurchaseFacts) -> dict[str, Any]:
        """The purchase as json-logic data (built before timing). Quantities and
        prices stay Decimal for the Python-side maths; rules never read them."""
        return {
            "campaign": self.campaign_data,
            "purchased_at_us": to_us(purchase.purchased_at),
            "channel": purchase.channel,
            "currency": purchase.currency,
            "lines": [
                {
                    "line": {"sku": line.sku, "category": line.category},
                    "rules": self.rules_data,
                    "quantity": line.quantity,
                    "unit_price": line.unit_price,
                }
                for line in purchase.lines
            ],
        }

    def evaluate(self, data: dict[str, Any]) -> Outcome:
        reason = jsonLogic(self.gate_rule, data)
        if reason is not None:
            return (False, str(round_money(Decimal(0))), reason)
        total = Decimal(0)
        for line in data["lines"]:
            boosts = jsonLogic(self.line_rule, line)
            if boosts is None:  # blacklisted
                continue
            line_total = line["quantity"] * line["unit_price"]
            if boosts:
                # Decimal maths in Python (see top of file).
                total += best_boost(
                    line["quantity"], line_total, [(Decimal(m), Decimal(b)) for m, b in boosts]
                )
            else:
                total += line_total
        value = round_money(total)
        reason = jsonLogic(self.value_rule, {"eligible_value": float(value)})
        return (reason is None, str(value), reason)


# ------------------------------------------------------------- the customer-rules case
#
# The same campaign with an eligibility rule of 5 conditions on who the customer is
# (SPEC §11): one attribute, two stats, the country and a location.
# Every engine checks it after the currency and before the value, as SPEC §3 orders it.
# Each library gets the customer in its native form, as the purchase; the great-circle
# distance, which neither library can compute, is Python inside the timed evaluation for
# both (business-rules: a variable, computed on demand; json-logic: a data field filled in
# just before the call).

MADRID = (40.4168, -3.7038)
WITHIN_KM = 50.0
TIERS_WANTED = ["gold", "platinum"]
COUNTRIES_WANTED = ["ES", "PT"]
MIN_ORDERS = 3
MIN_SPEND = Decimal("200")
ELIGIBILITY = {
    "all": [
        {"attr": "attributes.tier", "op": "in", "value": TIERS_WANTED},
        {"attr": "stats.orders_total", "op": "gte", "value": MIN_ORDERS},
        {"attr": "stats.spend_total", "op": "gte", "value": int(MIN_SPEND)},
        {"attr": "country", "op": "in", "value": COUNTRIES_WANTED},
        {"geo": {"lat": MADRID[0], "lon": MADRID[1], "within_km": WITHIN_KM}},
    ]
}


def make_customer(rng: random.Random, n: int) -> CustomerSnapshot:
    """Most customers pass most conditions, so every condition decides some purchases."""
    tier = rng.choices(["gold", "platinum", "silver", None], [45, 25, 20, 10])[0]
    near = rng.random() < 0.8
    located = rng.random() < 0.95
    lat = MADRID[0] + (rng.uniform(-0.3, 0.3) if near else rng.uniform(-5, 5))
    lon = MADRID[1] + (rng.uniform(-0.3, 0.3) if near else rng.uniform(-5, 5))
    return CustomerSnapshot(
        customer_id=f"c-{n}",
        country=rng.choices(["ES", "PT", "FR"], [80, 10, 10])[0],
        lat=lat if located else None,
        lon=lon if located else None,
        attributes={} if tier is None else {"tier": tier},
        stats={
            "orders_total": rng.choices([rng.randint(0, 2), rng.randint(3, 40)], [15, 85])[0],
            "spend_total": Decimal(rng.randint(0, 200_000)).scaleb(-2) + (200 if rng.random() < 0.7 else 0),
        },
    )


def customer_facts(customer: CustomerSnapshot) -> dict[str, Any]:
    """What the libraries read of a customer: the same values, as plain data."""
    return {
        "tier": customer.attributes.get("tier"),
        "orders_total": customer.stats["orders_total"],
        "spend_total": customer.stats["spend_total"],
        "country": customer.country,
        "lat": customer.lat,
        "lon": customer.lon,
    }


# No known location: farther than any area (business-rules cannot take an infinite number).
NOWHERE_KM = 1e9


def distance_to_area(facts: dict[str, Any]) -> float:
    if facts["lat"] is None or facts["lon"] is None:
        return NOWHERE_KM
    return distance_km(facts["lat"], facts["lon"], *MADRID)


class CustomerVariables(PurchaseVariables):
    """The purchase variables plus the customer's, for the eligibility rule."""

    def __init__(self, status: str, purchase: PurchaseFacts, engine: BusinessRulesEngine) -> None:
        super().__init__(status, purchase, engine)
        self.customer = customer_facts(purchase.customer)  # type: ignore[arg-type]

    @select_multiple_rule_variable()
    def tier(self) -> list[str]:
        return [] if self.customer["tier"] is None else [self.customer["tier"]]

    @numeric_rule_variable
    def orders_total(self) -> int:
        return self.customer["orders_total"]

    @numeric_rule_variable
    def spend_total(self) -> Decimal:
        return self.customer["spend_total"]

    @select_multiple_rule_variable()
    def country(self) -> list[str]:
        return [self.customer["country"]]

    @numeric_rule_variable
    def distance_km(self) -> float:
        return distance_to_area(self.customer)


class BusinessRulesCustomerEngine(BusinessRulesEngine):
    """The campaign's rule sets with one more check rule: any failed condition rejects."""

    def __init__(self, spec: CampaignSpec) -> None:
        super().__init__(spec)
        eligibility_rule = {
            "conditions": {
                "any": [
                    cond("tier", "shares_no_elements_with", TIERS_WANTED),
                    cond("orders_total", "less_than", MIN_ORDERS),
                    cond("spend_total", "less_than", int(MIN_SPEND)),
                    cond("country", "shares_no_elements_with", COUNTRIES_WANTED),
                    cond("distance_km", "greater_than", WITHIN_KM),
                ]
            },
            "actions": reject("customer_not_eligible"),
        }
        rules = self.purchase_rules[:4] + json.loads(json.dumps([eligibility_rule]), parse_float=Decimal)
        self.purchase_rules = rules + self.purchase_rules[4:]
        self.eligibility_rules = [rules[-1]]

    def evaluate(self, purchase: PurchaseFacts) -> Outcome:
        variables = CustomerVariables(self.spec.status, purchase, self)
        actions = PurchaseActions()
        run_all(self.purchase_rules, variables, actions, stop_on_first_trigger=True)
        value = variables.value if variables.value is not None else round_money(Decimal(0))
        return (actions.reason is None, str(value), actions.reason)

    def accepts(self, purchase: PurchaseFacts) -> bool:
        """The eligibility rule alone (the rule-only timing)."""
        actions = PurchaseActions()
        run_all(self.eligibility_rules, CustomerVariables(self.spec.status, purchase, self), actions, True)
        return actions.reason is None


class JsonLogicCustomerEngine(JsonLogicEngine):
    """The gate rule gains the eligibility check after the currency."""

    def __init__(self, spec: CampaignSpec, lists_in_data: bool) -> None:
        super().__init__(spec, lists_in_data)
        self.eligibility_rule: dict[str, Any] = {
            "and": [
                {"in": [{"var": "customer.tier"}, TIERS_WANTED]},
                {">=": [{"var": "customer.orders_total"}, MIN_ORDERS]},
                {">=": [{"var": "customer.spend_total"}, int(MIN_SPEND)]},
                {"in": [{"var": "customer.country"}, COUNTRIES_WANTED]},
                {"<=": [{"var": "customer.distance_km"}, WITHIN_KM]},
            ]
        }
        gate = self.gate_rule["if"]
        self.gate_rule = {"if": [*gate[:-1], {"!": self.eligibility_rule}, "customer_not_eligible", gate[-1]]}
        self.gate_rule = json.loads(json.dumps(self.gate_rule))
        self.eligibility_rule = json.loads(json.dumps(self.eligibility_rule))

    def prepare(self, purchase: PurchaseFacts) -> dict[str, Any]:
        data = super().prepare(purchase)
        data["customer"] = customer_facts(purchase.customer)  # type: ignore[arg-type]
        return data

    def evaluate(self, data: dict[str, Any]) -> Outcome:
        data["customer"]["distance_km"] = distance_to_area(data["customer"])
        return super().evaluate(data)

    def accepts(self, data: dict[str, Any]) -> bool:
        data["customer"]["distance_km"] = distance_to_area(data["customer"])
        return bool(jsonLogic(self.eligibility_rule, data))


# --------------------------------------------------------------------------- driver


def engine_outcome(campaign: CompiledCampaign, purchase: PurchaseFacts) -> Outcome:
    result = campaign.evaluate(purchase)
    return (
        result.eligible,
        str(result.eligible_value),
        None if result.reason is None else str(result.reason),
    )


def timed(fn: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def check_same(
    name: str, expected: list[Outcome], got: list[Outcome], purchases: list[PurchaseFacts]
) -> None:
    for i, (e, g) in enumerate(zip(expected, got, strict=True)):
        if e != g:
            raise AssertionError(
                f"{name} disagrees with the engine on purchase {i}: engine={e} {name}={g}\n{purchases[i]}"
            )


def customer_case(spec: CampaignSpec, purchases: list[PurchaseFacts], rng: random.Random) -> dict[str, float]:
    """The customer-rules case: the same purchases, each by a customer, against the campaign
    with the eligibility rule. Returns evaluations/s for the whole purchase and for the rule alone."""
    targeted_spec = replace(spec, eligibility=parse_tree(ELIGIBILITY, purchase=True, field="eligibility"))
    targeted = [replace(p, customer=make_customer(rng, i)) for i, p in enumerate(purchases)]
    campaign = compile_campaign(targeted_spec)
    br = BusinessRulesCustomerEngine(targeted_spec)
    jl = JsonLogicCustomerEngine(targeted_spec, lists_in_data=True)
    jl_inputs = [jl.prepare(p) for p in targeted]

    expected = [engine_outcome(campaign, p) for p in targeted]
    br_results: list[Outcome] = []
    br_time = timed(lambda: br_results.extend([br.evaluate(p) for p in targeted]), 1)
    check_same("business-rules (customer rules)", expected, br_results, targeted)
    jl_results: list[Outcome] = []
    jl_time = timed(
        lambda: jl_results.__setitem__(slice(None), [jl.evaluate(x) for x in jl_inputs]), JSON_LOGIC_REPEATS
    )
    check_same("json-logic (customer rules)", expected, jl_results, targeted)
    rejected = sum(1 for o in expected if o[2] == "customer_not_eligible")
    print(
        f"customer rules: {rejected} of {len(targeted)} purchases customer_not_eligible;"
        " all three agree on every purchase"
    )

    # The rule alone: the engine's compiled predicate against each library's rule, same customers.
    rule = compile_python(targeted_spec.eligibility)
    now = STARTS_AT
    rule_expected = [rule(p.customer, p, now) for p in targeted]
    assert rule_expected == [br.accepts(p) for p in targeted], "business-rules disagrees on the rule alone"
    assert rule_expected == [jl.accepts(x) for x in jl_inputs], "json-logic disagrees on the rule alone"
    engine_time = timed(lambda: [campaign.evaluate(p) for p in targeted], ENGINE_REPEATS)
    rule_time = timed(lambda: [rule(p.customer, p, now) for p in targeted], ENGINE_REPEATS)
    br_rule_time = timed(lambda: [br.accepts(p) for p in targeted], 1)
    jl_rule_time = timed(lambda: [jl.accepts(x) for x in jl_inputs], JSON_LOGIC_REPEATS)
    n = len(targeted)
    rates = {
        "engine": n / engine_time,
        "business-rules": n / br_time,
        "json-logic": n / jl_time,
        "engine rule alone": n / rule_time,
        "business-rules rule alone": n / br_rule_time,
        "json-logic rule alone": n / jl_rule_time,
    }
    for name, rate in rates.items():
        base = rates["engine rule alone" if "rule alone" in name else "engine"]
        ratio = "" if name.startswith("engine") else f"  engine is x{base / rate:,.1f}"
        print(f"{name:<27} {rate:>12,.0f} evals/s  ({1e6 / rate:9.2f} us/eval){ratio}")
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--purchases", type=int, default=N_PURCHASES, help="purchases evaluated (≥ 50)")
    options = parser.parse_args()
    rng = random.Random(SEED)
    spec = make_campaign(rng)
    purchases = [make_purchase(rng) for _ in range(options.purchases)]
    campaign = compile_campaign(spec)
    br = BusinessRulesEngine(spec)
    jl_inline = JsonLogicEngine(spec, lists_in_data=False)
    jl_data = JsonLogicEngine(spec, lists_in_data=True)

    # ---- correctness: all three agree on every purchase (and on a paused copy).
    expected = [engine_outcome(campaign, p) for p in purchases]
    br_inputs = [br.prepare(p) for p in purchases]
    jl_inline_inputs = [jl_inline.prepare(p) for p in purchases]
    jl_data_inputs = [jl_data.prepare(p) for p in purchases]

    br_results: list[Outcome] = []
    br_time = timed(lambda: br_results.extend([br.evaluate(x) for x in br_inputs]), 1)
    check_same("business-rules", expected, br_results, purchases)

    jl_inline_results: list[Outcome] = []
    jl_inline_time = timed(
        lambda: jl_inline_results.__setitem__(slice(None), [jl_inline.evaluate(x) for x in jl_inline_inputs]),
        JSON_LOGIC_REPEATS,
    )
    check_same("json-logic (inline lists)", expected, jl_inline_results, purchases)

    jl_data_results: list[Outcome] = []
    jl_data_time = timed(
        lambda: jl_data_results.__setitem__(slice(None), [jl_data.evaluate(x) for x in jl_data_inputs]),
        JSON_LOGIC_REPEATS,
    )
    check_same("json-logic (lists in data)", expected, jl_data_results, purchases)

    paused_spec = replace(spec, status="paused")
    paused = compile_campaign(paused_spec)
    sample = purchases[:50]
    paused_expected = [engine_outcome(paused, p) for p in sample]
    assert all(o[2] == "campaign_not_active" for o in paused_expected)
    check_same(
        "business-rules (paused)",
        paused_expected,
        [BusinessRulesEngine(paused_spec).evaluate(p) for p in sample],
        sample,
    )
    jl_paused = JsonLogicEngine(paused_spec, lists_in_data=True)
    check_same(
        "json-logic (paused)",
        paused_expected,
        [jl_paused.evaluate(jl_paused.prepare(p)) for p in sample],
        sample,
    )

    reasons: dict[str | None, int] = {}
    for _, _, reason in expected:
        reasons[reason] = reasons.get(reason, 0) + 1
    lines = sum(len(p.lines) for p in purchases)
    print(f"purchases={len(purchases)} lines={lines} (mean {lines / len(purchases):.1f}/purchase)")
    print(
        "outcomes: "
        + ", ".join(f"{k or 'eligible'}={v}" for k, v in sorted(reasons.items(), key=lambda kv: str(kv[0])))
    )
    print("all three agree on (eligible, eligible_value, reason) for every purchase")

    # ---- speed.
    evaluate = campaign.evaluate
    engine_time = timed(lambda: [evaluate(p) for p in purchases], ENGINE_REPEATS)

    n = len(purchases)
    engine_rate = n / engine_time
    br_rate = n / br_time
    jl_inline_rate = n / jl_inline_time
    jl_data_rate = n / jl_data_time
    jl_rate = max(jl_inline_rate, jl_data_rate)  # conservative: the faster formulation
    rows = [
        ("engine", engine_rate),
        ("business-rules", br_rate),
        ("json-logic (inline lists)", jl_inline_rate),
        ("json-logic (lists in data)", jl_data_rate),
    ]
    for name, rate in rows:
        ratio = "" if name == "engine" else f"  engine is x{engine_rate / rate:,.1f}"
        print(f"{name:<27} {rate:>12,.0f} evals/s  ({1e6 / rate:9.1f} us/eval){ratio}")
    customer = customer_case(spec, purchases, random.Random(SEED + 1))
    result(
        evals_per_s=int(engine_rate),
        vs_business_rules=f"{engine_rate / br_rate:.1f}",
        vs_json_logic=f"{engine_rate / jl_rate:.1f}",
        customer_evals_per_s=int(customer["engine"]),
        customer_vs_business_rules=f"{customer['engine'] / customer['business-rules']:.1f}",
        customer_vs_json_logic=f"{customer['engine'] / customer['json-logic']:.1f}",
        rule_alone_vs_business_rules=f"{customer['engine rule alone'] / customer['business-rules rule alone']:.1f}",
        rule_alone_vs_json_logic=f"{customer['engine rule alone'] / customer['json-logic rule alone']:.1f}",
    )


if __name__ == "__main__":
    main()
