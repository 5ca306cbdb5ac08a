"""`CompiledCampaign.explain`: the evaluation line by line, checked against `evaluate` itself.

Pure (no database). The property reuses test_rules' random campaigns and purchases; the
attribution of each line is checked against a plain reading of SPEC §3 over the raw rule list.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given

from campaigns.rules import (
    COUNTED_AS_IS,
    CampaignSpec,
    ItemRuleSpec,
    PurchaseFacts,
    PurchaseLine,
    Reason,
    compile_campaign,
    explain_purchase,
)
from tests.campaigns.test_rules import PROPERTY_SETTINGS, scenarios

T0 = datetime(2025, 1, 1, tzinfo=UTC)
T1 = datetime(2025, 2, 1, tzinfo=UTC)
INSIDE = datetime(2025, 1, 15, tzinfo=UTC)

TOBACCO = ItemRuleSpec("blacklist", "category", "tobacco")
DOUBLE_SKU = ItemRuleSpec("whitelist", "sku", "SKU-9", Decimal(2), Decimal("0.5"))
DRINKS = ItemRuleSpec("whitelist", "category", "drinks", Decimal("1.5"), Decimal(0))


def campaign(*rules: ItemRuleSpec, status: str = "active", min_value: str = "0") -> CampaignSpec:
    return CampaignSpec(
        id=1,
        version=4,
        status=status,
        starts_at=T0,
        ends_at=T1,
        purchase_channels=frozenset({"in_store"}),
        currency="EUR",
        min_purchase_value=Decimal(min_value),
        item_rules=rules,
    )


def facts(*lines: PurchaseLine, channel: str = "in_store") -> PurchaseFacts:
    return PurchaseFacts(INSIDE, channel, "EUR", lines)


def test_each_line_says_which_rule_decided_it() -> None:
    explanation = compile_campaign(campaign(TOBACCO, DOUBLE_SKU, DRINKS)).explain(
        facts(
            PurchaseLine("CIG-1", "tobacco", 2, Decimal("8.00")),
            PurchaseLine("SKU-9", "drinks", 3, Decimal("1.10")),  # sku ×2 +0.5/unit = 8.10 beats ×1.5 = 4.95
            PurchaseLine("BREAD", "bakery", 1, Decimal("2.345")),
        )
    )
    blacklisted, whitelisted, as_is = explanation.lines
    assert (blacklisted.decided_by, blacklisted.rule, blacklisted.counted_value) == ("blacklist", TOBACCO, 0)
    assert blacklisted.line_total == Decimal("16.00")
    assert (whitelisted.decided_by, whitelisted.rule) == ("whitelist", DOUBLE_SKU)
    assert whitelisted.counted_value == Decimal("8.10")
    assert (as_is.decided_by, as_is.rule, as_is.counted_value) == (COUNTED_AS_IS, None, Decimal("2.345"))
    # 8.10 + 2.345 = 10.445, rounded once, half up.
    assert explanation.counted_total == Decimal("10.45")
    assert explanation.lines_counted
    assert explanation.result.eligible and explanation.result.eligible_value == Decimal("10.45")


def test_the_whitelist_rule_that_gives_more_decides() -> None:
    explanation = compile_campaign(campaign(DOUBLE_SKU, DRINKS)).explain(
        facts(
            PurchaseLine("SKU-9", "drinks", 1, Decimal("100"))
        )  # sku: ×2 + 0.5 = 200.5; category: ×1.5 = 150
    )
    (only,) = explanation.lines
    assert only.rule == DOUBLE_SKU and only.counted_value == Decimal("200.5")
    explanation = compile_campaign(campaign(ItemRuleSpec("whitelist", "sku", "SKU-9"), DRINKS)).explain(
        facts(PurchaseLine("SKU-9", "drinks", 1, Decimal("100")))
    )
    assert explanation.lines[0].rule == DRINKS and explanation.lines[0].counted_value == Decimal("150.0")


def test_below_minimum_keeps_the_counted_lines() -> None:
    explanation = compile_campaign(campaign(DRINKS, min_value="50")).explain(
        facts(PurchaseLine("COLA", "drinks", 2, Decimal("3.00")))
    )
    assert explanation.result.reason == Reason.BELOW_MINIMUM
    assert explanation.lines_counted and explanation.counted_total == Decimal("9.00")


def test_out_of_scope_purchases_are_not_counted() -> None:
    explanation = compile_campaign(campaign(DRINKS)).explain(
        facts(PurchaseLine("COLA", "drinks", 2, Decimal("3.00")), channel="ecommerce")
    )
    assert explanation.result.reason == Reason.CHANNEL_NOT_ALLOWED
    assert not explanation.lines_counted
    assert explanation.result.eligible_value == Decimal("0.00")


def _plain_attribution(spec: CampaignSpec, line: PurchaseLine) -> str:
    def matches(rule: ItemRuleSpec) -> bool:
        return rule.value == (line.sku if rule.match == "sku" else line.category)

    if any(rule.kind == "blacklist" and matches(rule) for rule in spec.item_rules):
        return "blacklist"
    if any(rule.kind == "whitelist" and matches(rule) for rule in spec.item_rules):
        return "whitelist"
    return COUNTED_AS_IS


@PROPERTY_SETTINGS
@given(scenarios())
def test_property_explained_lines_add_up_to_the_engines_eligible_value(
    scenario: tuple[CampaignSpec, PurchaseFacts],
) -> None:
    spec, purchase = scenario
    compiled = compile_campaign(spec)
    explanation = explain_purchase(compiled, purchase)
    assert explanation.result == compiled.evaluate(purchase)
    if explanation.lines_counted:
        assert explanation.counted_total == explanation.result.eligible_value
        assert str(explanation.counted_total) == str(explanation.result.eligible_value)  # same exponent
    assert [line.line for line in explanation.lines] == list(purchase.lines)
    for explained in explanation.lines:
        assert explained.decided_by == _plain_attribution(spec, explained.line)
        assert explained.line_total == explained.line.quantity * explained.line.unit_price
        if explained.decided_by == "whitelist":
            rule = explained.rule
            assert rule is not None and rule in spec.item_rules
            assert explained.counted_value == explained.line_total * rule.multiplier + (
                explained.line.quantity * rule.bonus_per_unit
            )
