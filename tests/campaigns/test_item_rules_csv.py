"""The item-rule CSV reader and writer (pure: campaigns/item_rules_csv.py), as spreadsheets write files."""

from __future__ import annotations

from decimal import Decimal

import pytest

from campaigns.item_rules_csv import (
    TEMPLATE_CSV,
    CsvImportError,
    detect_delimiter,
    error_lines,
    parse_item_rules_csv,
    plan_import,
    rules_csv,
)
from campaigns.rules import ItemRuleSpec


def specs(content) -> list[tuple]:
    return [
        (line, spec.kind, spec.match, spec.value, spec.multiplier, spec.bonus_per_unit)
        for line, spec in parse_item_rules_csv(content).rules
    ]


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_each_delimiter_is_detected(delimiter):
    text = delimiter.join(["kind", "match", "value", "multiplier"]) + "\n"
    text += delimiter.join(["whitelist", "sku", "A", "2"]) + "\n"
    parsed = parse_item_rules_csv(text)
    assert parsed.delimiter == delimiter
    assert [spec.value for _line, spec in parsed.rules] == ["A"]


def test_a_semicolon_file_from_a_spreadsheet_with_bom_labels_and_decimal_commas():
    content = "\ufeffKind;Match;Value;Multiplier;Bonus per unit\r\nBlacklist;Category;tobacco;;\r\nWHITELIST;SKU;X-1;1,5;0,25\r\n"
    assert specs(content.encode("utf-8")) == [
        (2, "blacklist", "category", "tobacco", Decimal(1), Decimal(0)),
        (3, "whitelist", "sku", "X-1", Decimal("1.5"), Decimal("0.25")),
    ]


def test_a_comma_in_a_quoted_value_does_not_make_the_file_comma_separated():
    assert detect_delimiter('Blacklist;Category;"tobacco, cigars"\n') == ";"
    assert detect_delimiter("Blacklist;Category;tobacco, cigars, pipes\n") == ";"
    assert detect_delimiter("blacklist,sku,A\n") == ","
    assert detect_delimiter("single\n") == ","


def test_errors_read_as_sentences_with_line_numbers_and_labels():
    with pytest.raises(CsvImportError) as raised:
        parse_item_rules_csv(
            "kind,match,value,multiplier\nblacklist,sku,A\nwhitelist,sku,,x\ngreylist,SKU,B\n"
        )
    lines = error_lines(raised.value)
    assert lines == [
        "2 line(s) are not valid; nothing was imported.",
        'Line 3: Value is required. Multiplier must be a number (got "x").',
        'Line 4: Kind must be Blacklist or Whitelist (got "greylist").',
    ]
    assert "got 'kind" not in " ".join(lines)


def test_a_repeated_line_and_a_bad_header_are_errors():
    with pytest.raises(CsvImportError) as raised:
        parse_item_rules_csv("blacklist,sku,A\nBlacklist,SKU,A\n")
    assert error_lines(raised.value)[1] == 'Line 2: Repeats line 1 (blacklist sku "A").'
    with pytest.raises(CsvImportError) as raised:
        parse_item_rules_csv("kind;value\nblacklist;A\n")
    assert "header" in raised.value.fields


def test_not_utf8_and_empty_files_are_errors():
    with pytest.raises(CsvImportError) as raised:
        parse_item_rules_csv(b"\xff\xfe\x00bad")
    assert "file" in raised.value.fields
    with pytest.raises(CsvImportError):
        parse_item_rules_csv("\n\n")


def test_export_reads_back_unchanged_and_the_template_parses():
    rules = [
        ItemRuleSpec("whitelist", "sku", "A,1", Decimal("2.0000"), Decimal("0.5000")),
        ItemRuleSpec("blacklist", "category", "tobacco", Decimal(1), Decimal(0)),
    ]
    text = rules_csv(rules)
    assert text.splitlines()[1] == 'whitelist,sku,"A,1",2,0.5'
    assert [spec for _line, spec in parse_item_rules_csv(text).rules] == rules
    assert len(parse_item_rules_csv(TEMPLATE_CSV).rules) == 3


def test_the_plan_says_what_is_added_changed_removed():
    existing = [
        (1, ItemRuleSpec("whitelist", "sku", "A", Decimal(2), Decimal(0))),
        (2, ItemRuleSpec("blacklist", "sku", "B")),
        (3, ItemRuleSpec("blacklist", "sku", "C")),
    ]
    incoming = [
        ItemRuleSpec("whitelist", "sku", "A", Decimal(3), Decimal(0)),
        ItemRuleSpec("blacklist", "sku", "B"),
        ItemRuleSpec("blacklist", "sku", "D"),
    ]
    keep = plan_import(existing, incoming, remove_missing=False)
    assert [spec.value for spec in keep.added] == ["D"]
    assert [(c.rule_id, c.before.multiplier, c.after.multiplier) for c in keep.changed] == [(1, 2, 3)]
    assert keep.removed == [] and keep.unchanged == 1
    replace = plan_import(existing, incoming, remove_missing=True)
    assert [rule_id for rule_id, _spec in replace.removed] == [3]
    assert keep.digest != replace.digest
    assert plan_import(existing, [spec for _id, spec in existing], remove_missing=True).is_empty
