"""Item rules as CSV: reading a file a CRM person saved from a spreadsheet, writing one back.

Pure: text in, rules or errors out; no ORM, no I/O (the services read and write the rows).
Hand-written on the csv module (docs/adr/0012-item-rules-csv-by-hand.md says why not
django-import-export).

What a spreadsheet hands us, and what is accepted:

* UTF-8, with or without a byte-order mark (Excel writes one);
* `,`, `;` (what Excel writes where the decimal separator is a comma) or tab between
  columns, found from the first line (`detect_delimiter`); with `;` or tab, `1,5` is 1.5;
* an optional header line naming the columns (`kind,match,value,multiplier,bonus_per_unit`,
  any order, any case, `Bonus per unit` too); without it the columns are positional;
* values written as the admin's dropdowns show them, in any case: `Blacklist`, `SKU`,
  `Category`, as well as `blacklist`, `sku`, `category`.

Every bad line is reported by its line number in the file, each problem a sentence that
names the column by its label: `Line 3: Value is required. Multiplier must be a number (got "x").`
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from campaigns.models import ItemRule
from campaigns.rules import ItemRuleSpec
from core.exceptions import ApplicationError

CSV_COLUMNS = ("kind", "match", "value", "multiplier", "bonus_per_unit")
CSV_REQUIRED_COLUMNS = ("kind", "match", "value")
CSV_MAX_ROWS = 100_000
DELIMITERS = (",", ";", "\t")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
_QUOTED = re.compile(r'"[^"]*"')

# The column labels people read (the admin's inline headers).
COLUMN_LABELS = {
    "kind": "Kind",
    "match": "Match",
    "value": "Value",
    "multiplier": "Multiplier",
    "bonus_per_unit": "Bonus per unit",
    "row": "Line",
}

RULE_VALUE_MAX_LENGTH = ItemRule._meta.get_field("value").max_length
# Code or label, any case → code: "Blacklist" / "blacklist" → "blacklist", "SKU" → "sku".
_KIND_WORDS = {word.lower(): code for code, label in ItemRule.Kind.choices for word in (code, label)}
_MATCH_WORDS = {word.lower(): code for code, label in ItemRule.Match.choices for word in (code, label)}
KIND_LABELS = " or ".join(label for _code, label in ItemRule.Kind.choices)
MATCH_LABELS = " or ".join(label for _code, label in ItemRule.Match.choices)
# (max_digits, decimal_places) of the model fields: bad values are a 400, never a database error.
_MULTIPLIER_DIGITS = (12, 4)
_BONUS_DIGITS = (18, 4)

TEMPLATE_CSV = (
    "kind,match,value,multiplier,bonus_per_unit\r\n"
    "blacklist,category,tobacco,,\r\n"
    "whitelist,sku,SKU-12345,2,0.50\r\n"
    "whitelist,category,toys,1.5,0\r\n"
)


class CsvImportError(ApplicationError):
    """The file as a whole, or some of its rows, are not valid: nothing was imported (400)."""

    default_code = "invalid_csv"


# --------------------------------------------------------------------------- one rule


def _decimal_problem(value: Decimal, *, label: str, minimum: Decimal, digits: tuple[int, int]) -> str | None:
    if not value.is_finite():
        return f"{label} must be a finite number."
    if value < minimum:
        return f"{label} must be at least {minimum}."
    max_digits, decimal_places = digits
    exponent = value.normalize().as_tuple().exponent
    places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    if places > decimal_places:
        return f"{label} must have at most {decimal_places} decimal places."
    whole_digits = max(value.adjusted() + 1, 0)
    if whole_digits > max_digits - decimal_places:
        return f"{label} must have at most {max_digits - decimal_places} digits before the decimal point."
    return None


def clean_rule(
    kind: Any,
    match: Any,
    value: Any,
    multiplier: Any,
    bonus_per_unit: Any,
    *,
    decimal_comma: bool = False,
) -> tuple[ItemRuleSpec | None, dict[str, list[str]]]:
    """Validate one rule's raw values; returns (spec, {}) or (None, {field: [sentence, …]}).

    `kind` and `match` may be codes or labels in any case. `decimal_comma` reads `1,5` as 1.5
    (files separated by `;` or tabs).
    """
    errors: dict[str, list[str]] = {}
    kind_code = _KIND_WORDS.get(kind.strip().lower()) if isinstance(kind, str) else None
    if kind_code is None:
        shown = "nothing" if kind in (None, "") else f'"{kind}"'
        errors["kind"] = [f"Kind must be {KIND_LABELS} (got {shown})."]
    match_code = _MATCH_WORDS.get(match.strip().lower()) if isinstance(match, str) else None
    if match_code is None:
        shown = "nothing" if match in (None, "") else f'"{match}"'
        errors["match"] = [f"Match must be {MATCH_LABELS} (got {shown})."]
    value = value.strip() if isinstance(value, str) else value
    if not isinstance(value, str) or not value:
        errors["value"] = ["Value is required."]
    elif len(value) > RULE_VALUE_MAX_LENGTH:
        errors["value"] = [f"Value is longer than {RULE_VALUE_MAX_LENGTH} characters."]
    parsed: dict[str, Decimal] = {}
    for name, raw, default, minimum, digits in (
        ("multiplier", multiplier, Decimal(1), Decimal(1), _MULTIPLIER_DIGITS),
        ("bonus_per_unit", bonus_per_unit, Decimal(0), Decimal(0), _BONUS_DIGITS),
    ):
        label = COLUMN_LABELS[name]
        if raw is None or (isinstance(raw, str) and raw.strip() == ""):
            parsed[name] = default
            continue
        text = str(raw).strip()
        if decimal_comma and isinstance(raw, str):
            text = text.replace(",", ".")
        try:
            number = raw if isinstance(raw, Decimal) else Decimal(text)
        except (InvalidOperation, ValueError):
            errors[name] = [f'{label} must be a number (got "{raw}").']
            continue
        problem = _decimal_problem(number, label=label, minimum=minimum, digits=digits)
        if problem:
            errors[name] = [problem]
        else:
            parsed[name] = number
    if errors:
        return None, errors
    return ItemRuleSpec(kind_code, match_code, value, parsed["multiplier"], parsed["bonus_per_unit"]), {}


def duplicate_message(spec: ItemRuleSpec) -> str:
    return f'This campaign already has a {spec.kind} rule for {spec.match} "{spec.value}".'


def row_error_text(errors: dict[str, list[str]]) -> str:
    """One line's problems as one readable text: `Value is required. Multiplier must be a number.`"""
    return " ".join(message for messages in errors.values() for message in messages)


# --------------------------------------------------------------------------- reading a file


@dataclass(frozen=True)
class ParsedCsv:
    rules: list[tuple[int, ItemRuleSpec]]  # (line number in the file, rule)
    delimiter: str

    @property
    def delimiter_name(self) -> str:
        return DELIMITER_NAMES[self.delimiter]


def decode_csv(content: bytes | str) -> str:
    if isinstance(content, str):
        return content.lstrip("\ufeff")
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvImportError(
            f"The file is not UTF-8 text (byte {exc.start} cannot be read). In a spreadsheet, save it as "
            '"CSV UTF-8".',
            fields={"file": ["The file is not UTF-8 text."]},
        ) from None


def detect_delimiter(text: str) -> str:
    """`,`, `;` or tab: the one the first non-empty line has most of, outside quotes (`,` when none).

    Not csv.Sniffer: on a single line every character is "consistent" and it falls back to
    preferring `,`, so `Blacklist;Category;tobacco, cigars` would read as comma-separated.
    A tie goes to `;`, then tab: a value is likelier to hold a comma than a semicolon.
    """
    first = next((line for line in text.splitlines() if line.strip()), "")
    unquoted = _QUOTED.sub("", first)
    counts = {delimiter: unquoted.count(delimiter) for delimiter in (";", "\t", ",")}
    best = max(counts, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ","


def _header_name(cell: str) -> str:
    return cell.strip().lower().replace(" ", "_").replace("-", "_")


def parse_item_rules_csv(content: bytes | str) -> ParsedCsv:
    """Parse and validate every line; returns the rules with their line numbers or raises CsvImportError.

    With a header the columns may come in any order and the last two may be left out; without one
    they are positional. Empty lines are skipped. A line repeating an earlier one is an error of
    that line. Errors are under `fields.rows` as {line: {column: [sentence]}}.
    """
    text = decode_csv(content)
    delimiter = detect_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    positions = {name: index for index, name in enumerate(CSV_COLUMNS)}
    row_errors: dict[str, dict[str, list[str]]] = {}
    rules: list[tuple[int, ItemRuleSpec]] = []
    first_line_of: dict[tuple[str, str, str], int] = {}
    header_seen = False
    line = 0
    try:
        for row in reader:
            line_start = line + 1
            line = reader.line_num
            if not row or all(not cell.strip() for cell in row):
                continue
            if not header_seen and not rules and not row_errors:
                header_seen = True
                names = [_header_name(cell) for cell in row]
                if set(names) & set(CSV_REQUIRED_COLUMNS) and set(names) <= set(CSV_COLUMNS):
                    missing = [name for name in CSV_REQUIRED_COLUMNS if name not in names]
                    if missing or len(set(names)) != len(names):
                        raise CsvImportError(
                            "The first line must name the columns kind, match and value once each "
                            "(and, if you want them, multiplier and bonus_per_unit).",
                            fields={"header": [f"The first line names {', '.join(names)}."]},
                        )
                    positions = {name: index for index, name in enumerate(names)}
                    continue
            if len(rules) + len(row_errors) >= CSV_MAX_ROWS:
                raise CsvImportError(
                    f"The file has more than {CSV_MAX_ROWS} rows.",
                    fields={"file": [f"More than {CSV_MAX_ROWS} rows."]},
                )
            if len(row) > len(positions):
                row_errors[str(line_start)] = {
                    "row": [
                        f"Expected at most {len(positions)} columns ({', '.join(positions)}), got {len(row)}."
                    ]
                }
                continue
            cells = {name: (row[index] if index < len(row) else None) for name, index in positions.items()}
            spec, errors = clean_rule(
                cells.get("kind"),
                cells.get("match"),
                cells.get("value"),
                cells.get("multiplier"),
                cells.get("bonus_per_unit"),
                decimal_comma=delimiter != ",",
            )
            if errors:
                row_errors[str(line_start)] = errors
                continue
            earlier = first_line_of.get(spec.key)
            if earlier is not None:
                row_errors[str(line_start)] = {
                    "value": [f'Repeats line {earlier} ({spec.kind} {spec.match} "{spec.value}").']
                }
                continue
            first_line_of[spec.key] = line_start
            rules.append((line_start, spec))
    except csv.Error as exc:
        raise CsvImportError(
            f"The file is not valid CSV near line {reader.line_num}: {exc}.",
            fields={"rows": {str(reader.line_num): {"row": [f"Not valid CSV: {exc}."]}}},
        ) from None
    if row_errors:
        raise CsvImportError(
            f"{len(row_errors)} line(s) are not valid; nothing was imported.", fields={"rows": row_errors}
        )
    if not rules:
        raise CsvImportError("The file has no rules to import.", fields={"file": ["The file has no rules."]})
    return ParsedCsv(rules=rules, delimiter=delimiter)


def error_lines(error: CsvImportError) -> list[str]:
    """The error as lines a person reads: the summary, then `Line 3: Value is required. …`."""
    lines = [error.message]
    for line, errors in (error.fields.get("rows") or {}).items():
        lines.append(f"Line {line}: {row_error_text(errors)}")
    for key in ("file", "header"):
        lines.extend(error.fields.get(key) or [])
    return lines


# --------------------------------------------------------------------------- what an import changes


@dataclass(frozen=True)
class RuleChange:
    rule_id: int
    before: ItemRuleSpec
    after: ItemRuleSpec


@dataclass(frozen=True)
class ImportPlan:
    """What applying a file does to a campaign's rules; `digest` tells a preview from a later state."""

    added: list[ItemRuleSpec] = field(default_factory=list)
    changed: list[RuleChange] = field(default_factory=list)
    removed: list[tuple[int, ItemRuleSpec]] = field(default_factory=list)
    unchanged: int = 0

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.changed or self.removed)

    @property
    def digest(self) -> str:
        text = repr(
            (
                [spec_row(spec) for spec in self.added],
                [
                    (change.rule_id, spec_row(change.before), spec_row(change.after))
                    for change in self.changed
                ],
                [(rule_id, spec_row(spec)) for rule_id, spec in self.removed],
            )
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def plan_import(
    existing: Iterable[tuple[int, ItemRuleSpec]], incoming: Sequence[ItemRuleSpec], *, remove_missing: bool
) -> ImportPlan:
    """Compare the file's rules with the campaign's: a rule with the same kind, match and value is the
    same rule (changed when its multiplier or bonus differ); `remove_missing` removes the others."""
    current = {spec.key: (rule_id, spec) for rule_id, spec in existing}
    added: list[ItemRuleSpec] = []
    changed: list[RuleChange] = []
    unchanged = 0
    for spec in incoming:
        found = current.get(spec.key)
        if found is None:
            added.append(spec)
        elif (found[1].multiplier, found[1].bonus_per_unit) != (spec.multiplier, spec.bonus_per_unit):
            changed.append(RuleChange(rule_id=found[0], before=found[1], after=spec))
        else:
            unchanged += 1
    incoming_keys = {spec.key for spec in incoming}
    removed = (
        [(rule_id, spec) for key, (rule_id, spec) in current.items() if key not in incoming_keys]
        if remove_missing
        else []
    )
    return ImportPlan(added=added, changed=changed, removed=removed, unchanged=unchanged)


# --------------------------------------------------------------------------- writing a file


def number_text(value: Decimal) -> str:
    """`2` for 2.0000, `0.5` for 0.5000: what a person types, and what the parser reads back."""
    return format(value.normalize(), "f")


def spec_row(spec: ItemRuleSpec) -> tuple[str, str, str, str, str]:
    return (spec.kind, spec.match, spec.value, number_text(spec.multiplier), number_text(spec.bonus_per_unit))


def rules_csv(specs: Iterable[ItemRuleSpec]) -> str:
    """The rules as a CSV file the import reads back unchanged (header line, comma-separated, CRLF)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for spec in specs:
        writer.writerow(spec_row(spec))
    return out.getvalue()
