"""The guard rails of generated content (SPEC §17): a draft in, a filter report out. Pure: no I/O.

Each rail is a named reason in the report; a draft passes when every rail passes:

* `channel_length` — SMS within `sms_max_segments` segments (160 GSM-7 / 70 UCS-2 characters each,
  counted as notifications counts them); push title ≤ 50, push body ≤ 178; email subject ≤ 78;
  in-app title ≤ 80, body ≤ 1,000. Template variables count as their sample values.
* `unknown_template_variable` — only the variables of the message and notification templates (§8,
  §14), in the sandbox's tags.
* `invented_fact` — every number, price, percentage, date and time in the text appears in `facts`
  (also spelled-out ones before a unit: "twenty percent"; ambiguous separators count when either
  reading is a fact; full-width and other Unicode digits and zero-width characters are normalised
  first). A price's currency must be one the facts name, when they name any.
* `disallowed_link` — links (scheme URLs, `www.`, bare domains, `href`/`src`) only to the allowed hosts
  or their subdomains, over http(s) or `mailto:`.
* `unsafe_html` — the email HTML is sanitised with nh3 (the report's `html` is the clean one); markup
  nh3 had to remove, or markup in a plain-text field, fails.
* `blocked_term` — the brand's block list (words or phrases, case and accents ignored).
* `profanity` — the word lists of every locale (a brand's copy in one language can still swear in
  another), with common letter swaps (f*ck, sh1t) and stretched letters (shiiit).
* `misleading_subject` — a subject or title posing as a reply or a forward (Re:, Fwd:, RV:, Enc:).

`compile_policy` does the per-request work once (the facts' values, the block list's pattern), so
checking each of many drafts costs only the scans of its own text.
"""

from __future__ import annotations

import html as html_lib
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

import nh3

from content.wordlists import CLAIM_UNITS, MONTHS, NUMBER_WORDS, PROFANITY
from core.templating import (
    MESSAGE_TEMPLATE_VARIABLES,
    TEMPLATE_VARIABLES,
    known_variable_paths,
    template_variable_problems,
)
from notifications.channels import sms_segments

CHANNEL_LENGTH = "channel_length"
UNKNOWN_VARIABLE = "unknown_template_variable"
INVENTED_FACT = "invented_fact"
DISALLOWED_LINK = "disallowed_link"
UNSAFE_HTML = "unsafe_html"
BLOCKED_TERM = "blocked_term"
PROFANITY_REASON = "profanity"
MISLEADING_SUBJECT = "misleading_subject"
REASONS = (CHANNEL_LENGTH, UNKNOWN_VARIABLE, INVENTED_FACT, DISALLOWED_LINK, UNSAFE_HTML, BLOCKED_TERM,
           PROFANITY_REASON, MISLEADING_SUBJECT)  # fmt: skip

CHANNELS = ("email", "sms", "push", "in_app")
# (title limit, body limit) in characters; SMS bodies are limited in segments instead.
LENGTH_LIMITS: dict[str, tuple[int | None, int | None]] = {
    "email": (78, 100_000),
    "sms": (None, None),
    "push": (50, 178),
    "in_app": (80, 1000),
}
TITLE_NAMES = {"email": "subject", "push": "title", "in_app": "title", "sms": "title"}

KNOWN_VARIABLES = known_variable_paths(MESSAGE_TEMPLATE_VARIABLES, TEMPLATE_VARIABLES)
SAMPLE_VALUES = {
    path: sample for path, (_meaning, sample) in {**TEMPLATE_VARIABLES, **MESSAGE_TEMPLATE_VARIABLES}.items()
}

# Tags and attributes nh3 keeps in email HTML; everything else is removed.
HTML_TAGS = frozenset(
    "a abbr b blockquote br caption center code col colgroup dd div dl dt em font h1 h2 h3 h4 h5 h6 hr i "
    "img li ol p pre s small span strong sub sup table tbody td tfoot th thead tr u ul".split()
)
HTML_ATTRIBUTES = {
    "*": {"align", "style", "class", "width", "height", "title", "dir", "lang"},
    "a": {"href", "target"},
    "img": {"src", "alt", "border"},
    "td": {"colspan", "rowspan", "valign", "bgcolor"},
    "th": {"colspan", "rowspan", "valign", "bgcolor"},
    "table": {"cellpadding", "cellspacing", "border", "bgcolor"},
    "font": {"color", "face", "size"},
}
HTML_URL_SCHEMES = {"http", "https", "mailto"}


# ----------------------------------------------------------------------------- input and output


@dataclass(frozen=True)
class DraftText:
    channel: str
    title: str = ""  # the email subject, push or in-app title; unused for SMS
    body: str = ""
    html: str = ""  # email only


@dataclass(frozen=True)
class Check:
    reason: str
    passed: bool
    detail: str = ""


@dataclass(frozen=True)
class FilterReport:
    checks: tuple[Check, ...]
    html: str = ""  # the sanitised email HTML

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def failed_reasons(self) -> list[str]:
        return [check.reason for check in self.checks if not check.passed]

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "failed": self.failed_reasons,
            "checks": [{"reason": c.reason, "passed": c.passed, "detail": c.detail} for c in self.checks],
        }


# ----------------------------------------------------------------------------- text normalisation

_ZERO_WIDTH = re.compile(
    "["
    + "".join(re.escape(chr(i)) for i in range(0x3000) if unicodedata.category(chr(i)) == "Cf")
    + "\ufeff]"
)
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_TEMPLATE_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
_HTML_TAG = re.compile(r"<[^>]*>")


def normalise(text: str) -> str:
    """NFKC (full-width and other compatibility digits become ASCII), without zero-width characters."""
    if text.isascii():
        return text  # NFKC leaves ASCII as it is, and it holds no zero-width character
    return _ZERO_WIDTH.sub("", unicodedata.normalize("NFKC", text))


def fold(text: str) -> str:
    """Lower case without accents: 'Março' → 'marco'."""
    if text.isascii():
        return text.lower()
    return _COMBINING.sub("", unicodedata.normalize("NFKD", text.casefold()))


def _without_templates(text: str) -> str:
    return _TEMPLATE_TAG.sub(" ", text)


def visible_text(html: str) -> str:
    """The words of an HTML document a reader sees (tags out, entities decoded)."""
    return html_lib.unescape(_HTML_TAG.sub(" ", html))


# ----------------------------------------------------------------------------- claims: numbers, dates

_MONTH_NAMES = "|".join(sorted(MONTHS, key=len, reverse=True))
_ISO_DATE = re.compile(
    r"(?<!\d)(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?(?!\d)"
)
_SLASH_DATE = re.compile(r"(?<!\d)(\d{1,2})/(\d{1,2})(?:/(\d{4}|\d{2}))?(?![\d/])")
_DOT_DATE = re.compile(r"(?<![\d.])(\d{1,2})[.-](\d{1,2})[.-](\d{4})(?!\.?\d)")
_DAY_MONTH = re.compile(
    rf"(?<!\d)(\d{{1,2}})(?:st|nd|rd|th|º|ª|o|a)?\.?\s*(?:de\s+|of\s+)?({_MONTH_NAMES})\b\.?(?:,?\s*(?:de\s+|del\s+)?(\d{{4}}))?"
)
_MONTH_DAY = re.compile(rf"\b({_MONTH_NAMES})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?(?!\d)(?:,?\s*(\d{{4}}))?")
_ORDINAL = re.compile(r"(?<!\d)(\d{1,2})(?:st|nd|rd|th)\b")
_CODE = re.compile(r"\b(?=[^\W_]*\d)(?=[^\W_]*[^\W\d_])[^\W_]+\b")
_DIGIT = re.compile(r"\d")
_ORDINAL_HINT = re.compile(r"\d(?:st|nd|rd|th)")
_TIME_HINT = re.compile(r"\d:\d|\d\s*(?:am|pm|a\.m|p\.m|h\b)")
_CODE_HINT = re.compile(r"[^\W\d_]\d|\d[^\W\d_]")
_MONTH_WORD = re.compile(rf"\b(?:{_MONTH_NAMES})\b")
_MONTH_YEAR = re.compile(rf"\b({_MONTH_NAMES})\.?,?\s+(?:de\s+|del\s+)?(\d{{4}})(?!\d)")
_TIME = re.compile(
    r"(?<!\d)(\d{1,2})(?::(\d{2}))?\s*(am\b|pm\b|a\.m\.|p\.m\.|h\b)|(?<!\d)(\d{1,2}):(\d{2})(?!\d)"
)
_CURRENCY_BEFORE = r"(?P<before>US\$|R\$|[$€£¥₹]|(?:EUR|USD|GBP|BRL|MXN|ARS|CLP|COP)\s?)?"
_NUMBER = r"(?P<number>\d+(?:[.,]\d+)*)"
_AFTER = (
    r"(?:\s?(?P<percent>%|percent\b|per\s+cent\b|pct\b|por\s+ciento\b|por\s+cento\b))?"
    r"(?:\s?(?P<after>[€$£]|EUR\b|USD\b|GBP\b|BRL\b|MXN\b|euros?\b|d[oó]lares\b|dollars?\b|reais\b|real\b|pounds?\b))?"
)
_AMOUNT = re.compile(_NUMBER + _AFTER, re.I)  # anchored on the digits: fast
_BEFORE = re.compile(_CURRENCY_BEFORE[:-1] + r"\s?$", re.I)  # a currency just before them
_UNITS = "|".join(re.escape(unit) for unit in sorted(CLAIM_UNITS, key=len, reverse=True))
_UNIT_WORD = re.compile(rf"%|\b(?:{_UNITS})\b")
_WORD_NUMBER = re.compile(
    rf"\b((?:{'|'.join(NUMBER_WORDS)})(?:[\s-]+(?:y|e|and)?\s*(?:{'|'.join(NUMBER_WORDS)}))?)\s*(%|\b(?:{_UNITS})\b)"
)
_CURRENCY_CODES = {
    "$": "USD", "us$": "USD", "usd": "USD", "dollar": "USD", "dollars": "USD", "dolares": "USD",
    "€": "EUR", "eur": "EUR", "euro": "EUR", "euros": "EUR",
    "£": "GBP", "gbp": "GBP", "pound": "GBP", "pounds": "GBP",
    "r$": "BRL", "brl": "BRL", "real": "BRL", "reais": "BRL",
    "¥": "JPY", "₹": "INR", "mxn": "MXN", "ars": "ARS", "clp": "CLP", "cop": "COP",
}  # fmt: skip
_CURRENCY_MENTION = re.compile(
    r"US\$|R\$|[$€£¥₹]|\b(?:EUR|USD|GBP|BRL|MXN|ARS|CLP|COP|euros?|dollars?|reais|pounds?)\b", re.I
)


def _currency(token: str | None) -> str | None:
    if not token:
        return None
    return _CURRENCY_CODES.get(fold(token.strip()).replace("ó", "o"))


def _readings(number: str) -> set[Decimal]:
    """Every value the digits can mean: '1.299' is 1299 (es, pt) or 1.299 (en); '1,299.50' is 1299.50."""
    digits = number
    readings: set[str] = set()
    if "." in digits and "," in digits:
        decimal_mark = "." if digits.rfind(".") > digits.rfind(",") else ","
        thousands = "," if decimal_mark == "." else "."
        readings.add(digits.replace(thousands, "").replace(decimal_mark, "."))
    elif "." in digits or "," in digits:
        mark = "." if "." in digits else ","
        parts = digits.split(mark)
        if len(parts) == 2:
            readings.add(parts[0] + "." + parts[1])  # a decimal mark
        if all(len(part) == 3 for part in parts[1:]):
            readings.add("".join(parts))  # thousands separators
        if not readings:
            readings.update(parts)  # '1.2.3': three numbers, each must be a fact
    else:
        readings.add(digits)
    values = set()
    for reading in readings:
        try:
            values.add(Decimal(reading).normalize())
        except InvalidOperation:
            continue
    return values


@dataclass
class Claims:
    """What a text states: dates (y or None, m, d), months of a year, times, amounts (readings, kind, currency)."""

    # Each claim is its alternatives: '5/6' is 5 June or May 6, either may be a fact.
    dates: list[tuple[tuple[int | None, int, int], ...]] = field(default_factory=list)
    days: list[int] = field(default_factory=list)  # ordinals: 'the 24th'
    month_years: list[tuple[int, int]] = field(default_factory=list)
    times: list[tuple[int, int]] = field(default_factory=list)
    amounts: list[tuple[frozenset[Decimal], str, str | None, str]] = field(default_factory=list)  # + the text
    currencies: set[str] = field(default_factory=set)
    codes: list[str] = field(default_factory=list)  # words of letters and digits: XMAS25, B2B


def _year(text: str | None) -> int | None:
    if not text:
        return None
    year = int(text)
    return year + 2000 if year < 100 else year


def _valid_day_month(day: int, month: int) -> bool:
    return 1 <= month <= 12 and 1 <= day <= 31


def extract_claims(text: str, *, currencies: bool = False) -> Claims:
    """The factual claims of a plain text (templates and links taken out by the caller); with
    `currencies`, also every currency the text names (the facts' are needed, a draft's are not)."""
    claims = Claims()
    folded = fold(normalise(text))
    if currencies:
        claims.currencies = {
            code for m in _CURRENCY_MENTION.finditer(folded) if (code := _currency(m.group()))
        }

    def cut(match: re.Match) -> str:
        return " " * (match.end() - match.start())

    def take(pattern: re.Pattern, handler) -> None:
        nonlocal folded
        folded = pattern.sub(lambda m: cut(m) if handler(m) else m.group(), folded)

    def iso(m: re.Match) -> bool:
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
        if not _valid_day_month(d, mo):
            return False
        claims.dates.append(((y, mo, d),))
        if m.group(4):
            claims.times.append((int(m.group(4)), int(m.group(5))))
        return True

    def slash(m: re.Match) -> bool:
        a, b, year = int(m.group(1)), int(m.group(2)), _year(m.group(3))
        readings = [(a, b), (b, a)]  # day/month and month/day: either may be meant
        valid = [(d, mo) for d, mo in readings if _valid_day_month(d, mo)]
        if not valid:
            return False
        claims.dates.append(tuple((year, mo, d) for d, mo in dict.fromkeys(valid)))
        return True

    def dotted(m: re.Match) -> bool:
        d, mo, year = int(m.group(1)), int(m.group(2)), int(m.group(3))
        if not _valid_day_month(d, mo):
            return False
        claims.dates.append(((year, mo, d),))
        return True

    def day_month(m: re.Match) -> bool:
        d, mo = int(m.group(1)), MONTHS[m.group(2)]
        if not _valid_day_month(d, mo):
            return False
        claims.dates.append(((_year(m.group(3)), mo, d),))
        return True

    def month_day(m: re.Match) -> bool:
        mo, d = MONTHS[m.group(1)], int(m.group(2))
        if not _valid_day_month(d, mo):
            return False
        claims.dates.append(((_year(m.group(3)), mo, d),))
        return True

    def ordinal(m: re.Match) -> bool:
        day = int(m.group(1))
        if not 1 <= day <= 31:
            return False
        claims.days.append(day)
        return True

    def month_year(m: re.Match) -> bool:
        claims.month_years.append((int(m.group(2)), MONTHS[m.group(1)]))
        return True

    def clock(m: re.Match) -> bool:
        if m.group(4) is not None:
            hour, minute = int(m.group(4)), int(m.group(5))
        else:
            hour, minute = int(m.group(1)), int(m.group(2) or 0)
            suffix = m.group(3).replace(".", "")
            if suffix == "pm" and hour < 12:
                hour += 12
            elif suffix == "am" and hour == 12:
                hour = 0
        if hour > 24 or minute > 59:
            return False
        claims.times.append((hour, minute))
        return True

    def code(m: re.Match) -> bool:
        claims.codes.append(m.group())
        return True

    # Each pattern runs only when the characters it needs are there: most drafts have few digits.
    if _DIGIT.search(folded):
        if "-" in folded:
            take(_ISO_DATE, iso)
        if "." in folded or "-" in folded:
            take(_DOT_DATE, dotted)
        if "/" in folded:
            take(_SLASH_DATE, slash)
        if _MONTH_WORD.search(folded):
            take(_DAY_MONTH, day_month)
            take(_MONTH_DAY, month_day)
            take(_MONTH_YEAR, month_year)
        if _ORDINAL_HINT.search(folded):
            take(_ORDINAL, ordinal)
        if _TIME_HINT.search(folded):
            take(_TIME, clock)
        if _CODE_HINT.search(folded):
            take(_CODE, code)  # after dates and times: '24th' and '9pm' are not codes
        for m in _AMOUNT.finditer(folded):
            before = _BEFORE.search(folded, max(0, m.start() - 5), m.start())
            currency = _currency(before.group("before") if before else None) or _currency(m.group("after"))
            kind = "percent" if m.group("percent") else "money" if currency else "number"
            said = (before.group() if before else "") + m.group()
            claims.amounts.append((frozenset(_readings(m.group("number"))), kind, currency, said.strip()))
    if not _UNIT_WORD.search(folded):
        return claims
    for m in _WORD_NUMBER.finditer(folded):
        value = 0
        for word in re.split(r"[\s-]+", m.group(1)):
            worth = NUMBER_WORDS.get(word, 0)
            value = value * worth if worth == 100 and value else value + worth
        currency = _currency(m.group(2))
        kind = (
            "money" if currency else "percent"
        )  # 'thirty euros'; 'thirty percent', 'half off', 'half price'
        claims.amounts.append((frozenset({Decimal(value)}), kind, currency, m.group().strip()))
    return claims


# ----------------------------------------------------------------------------- the compiled policy


_ACCEPTED_KINDS = {
    "percent": frozenset({"percent", "number"}),
    "money": frozenset({"money", "number"}),
    "number": frozenset({"number", "money", "year"}),
}


@dataclass(frozen=True)
class Facts:
    """The values a draft may state: numbers by kind, dates, months, times, currencies."""

    numbers: Mapping[Decimal, frozenset[str]]  # value → kinds it was given as (percent, money, number)
    dates: frozenset[tuple[int | None, int, int]]  # year None: any year
    times: frozenset[tuple[int, int]]
    currencies: frozenset[str]
    codes: frozenset[str] = frozenset()

    def has_number(self, readings: Iterable[Decimal], kind: str) -> bool:
        """A percentage must be a fact's percentage (or plain number), a price a fact's price (or plain
        number); a plain number anything but a percentage ('top 20 picks' is not the fact '20%')."""
        accepted = _ACCEPTED_KINDS[kind]
        return any(self.numbers.get(value, frozenset()) & accepted for value in readings)

    def has_date(self, alternatives: Iterable[tuple[int | None, int, int]]) -> bool:
        return any(
            m == month and d == day and (year is None or y is None or y == year)
            for year, month, day in alternatives
            for y, m, d in self.dates
        )

    def has_day(self, day: int) -> bool:
        return any(d == day for _y, _m, d in self.dates)

    def has_month(self, year: int, month: int) -> bool:
        return any(m == month and y in (year, None) for y, m, _d in self.dates)


def _flatten(value: Any) -> Iterable[Any]:
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _flatten(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _flatten(item)
    else:
        yield value


def compile_facts(facts: Mapping[str, Any]) -> Facts:
    numbers: dict[Decimal, set[str]] = {}
    dates: set[tuple[int | None, int, int]] = set()
    times: set[tuple[int, int]] = set()
    currencies: set[str] = set()
    codes: set[str] = set()

    def number(value: Decimal, kind: str) -> None:
        numbers.setdefault(value.normalize(), set()).add(kind)

    for value in _flatten(facts):
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, datetime):
            dates.add((value.year, value.month, value.day))
            times.add((value.hour, value.minute))
            continue
        if isinstance(value, date):
            dates.add((value.year, value.month, value.day))
            continue
        if isinstance(value, time):
            times.add((value.hour, value.minute))
            continue
        if isinstance(value, int | float | Decimal):
            try:
                number(Decimal(str(value)), "number")
            except InvalidOperation:
                pass
            continue
        claims = extract_claims(str(value), currencies=True)
        currencies |= claims.currencies
        codes.update(claims.codes)
        for alternatives in claims.dates:
            dates.update(alternatives)
        times.update(claims.times)
        for readings, kind, _currency_code, _text in claims.amounts:
            for reading in readings:
                number(reading, kind)
    for year, _month, _day in dates:
        if year is not None:
            number(Decimal(year), "year")  # 'in 2026' states the year of a fact's date
    return Facts(
        numbers={value: frozenset(kinds) for value, kinds in numbers.items()},
        dates=frozenset(dates),
        times=frozenset(times),
        currencies=frozenset(currencies),
        codes=frozenset(codes),
    )


_ALL_PROFANITY = frozenset().union(*PROFANITY.values())


@dataclass(frozen=True)
class Policy:
    facts: Facts
    allowed_hosts: frozenset[str]
    blocked: re.Pattern | None
    profanity: frozenset[str]
    sms_max_segments: int = 1


def compile_policy(
    *,
    facts: Mapping[str, Any],
    allowed_hosts: Iterable[str] = (),
    blocked_terms: Iterable[str] = (),
    sms_max_segments: int = 1,
) -> Policy:
    terms = sorted(
        {fold(normalise(term)).strip() for term in blocked_terms if term and term.strip()}, key=len
    )
    blocked = (
        re.compile(r"(?<!\w)(" + "|".join(re.escape(term) for term in reversed(terms)) + r")(?!\w)")
        if terms
        else None
    )
    hosts = frozenset(host.strip().lower().rstrip(".") for host in allowed_hosts if host and host.strip())
    return Policy(
        facts=compile_facts(facts),
        allowed_hosts=hosts,
        blocked=blocked,
        profanity=_ALL_PROFANITY,
        sms_max_segments=max(1, sms_max_segments),
    )


# ----------------------------------------------------------------------------- the rails

_SAMPLE_VARIABLE = re.compile(r"\{\{\s*([\w.]+)[^}]*\}\}")
_LINK = re.compile(
    r"\b[a-z][a-z0-9+.-]{1,15}://[^\s<>\"'()]+|\b(?:mailto|tel|sms|data|javascript|vbscript|file):[^\s<>\"'()]+"
    r"|\bwww\.[^\s<>\"'()]+",
    re.I,
)
_TLDS = (
    "com|net|org|info|biz|io|co|app|shop|store|online|site|xyz|top|link|click|me|ly|gl|to|es|pt|br|mx|ar|"
    "cl|uk|us|de|fr|it|nl|eu|ru|cn|tk|ml|ga|cf|gq|biz|club|vip|live|promo|sale|deals"
)
_BARE_DOMAIN = re.compile(
    rf"(?<![\w@/.-])((?:[a-z0-9](?:[a-z0-9-]{{0,61}}[a-z0-9])?\.)+(?:{_TLDS}))(?![\w-])(/[^\s<>\"']*)?", re.I
)
_DOMAIN_HINT = re.compile(r"[a-z0-9]\.[a-z]{2}", re.I)
_ATTRIBUTE_URL = re.compile(
    r"\b(?:href|src|action|background|poster|formaction)\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s>]+))", re.I
)
_TAG_NAME = re.compile(r"<\s*([a-zA-Z][\w:-]*)")
_ATTRIBUTE_NAME = re.compile(r"\s([a-zA-Z_:][\w:.-]*)\s*=")
_MARKUP = re.compile(r"<\s*/?\s*[a-zA-Z][^>]*>")
_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i", "*": "u"}
)
_WORD = re.compile(r"[a-z]+")
_SPACES = re.compile(r"\s+")
_LEET_HINT = re.compile(r"[a-z][013457@$!*]|[013457@$!*][a-z]")
_REPEATS = re.compile(r"(.)\1{2,}")
_FAKE_THREAD = re.compile(r"^\s*(re|fwd?|fw|rv|enc|tr|aw|wg)\s*(\[\d+\])?\s*:", re.I)


def _measured(text: str) -> str:
    """The text with each variable replaced by its sample value (for lengths) and tags removed."""
    with_samples = _SAMPLE_VARIABLE.sub(lambda m: SAMPLE_VALUES.get(m.group(1), ""), text)
    return _TEMPLATE_TAG.sub("", with_samples)


def _length_check(draft: DraftText, policy: Policy) -> Check:
    problems = []
    if draft.channel == "sms":
        encoding, segments = sms_segments(_measured(draft.body))
        per_segment = 160 if encoding == "gsm7" else 70
        if segments > policy.sms_max_segments:
            problems.append(
                f"SMS is {segments} segments ({encoding}, {per_segment} characters in one); "
                f"at most {policy.sms_max_segments}"
            )
        detail = f"{segments} segment{'s' if segments != 1 else ''} ({encoding})"
    else:
        title_limit, body_limit = LENGTH_LIMITS[draft.channel]
        title, body = len(_measured(draft.title)), len(_measured(draft.body))
        if title_limit is not None and title > title_limit:
            problems.append(f"{TITLE_NAMES[draft.channel]} is {title} characters; at most {title_limit}")
        if body_limit is not None and body > body_limit:
            problems.append(f"body is {body} characters; at most {body_limit}")
        detail = f"{TITLE_NAMES[draft.channel]} {title}, body {body} characters"
    if not draft.body.strip() and not (draft.channel == "email" and draft.html.strip()):
        problems.append("the body is empty")
    return Check(CHANNEL_LENGTH, not problems, "; ".join(problems) or detail)


def _fields(draft: DraftText) -> list[tuple[str, str]]:
    fields = [(TITLE_NAMES[draft.channel], draft.title), ("body", draft.body)]
    if draft.channel == "email":
        fields.append(("html", draft.html))
    return [(name, text) for name, text in fields if text]


def _variables_check(draft: DraftText) -> Check:
    problems = []
    for name, text in _fields(draft):
        if "{" in text:
            problems += [
                f"{name}: {problem}" for problem in template_variable_problems(text, KNOWN_VARIABLES)
            ]
    return Check(UNKNOWN_VARIABLE, not problems, "; ".join(problems))


def _plain_texts(draft: DraftText) -> list[tuple[str, str]]:
    """What a reader reads, per field: templates out; for HTML, the visible text."""
    texts = []
    for name, text in _fields(draft):
        text = _without_templates(normalise(text))
        texts.append((name, visible_text(text) if name == "html" else text))
    return texts


def _facts_check(plain_texts: list[tuple[str, str]], policy: Policy) -> Check:
    facts = policy.facts
    invented: list[str] = []
    for name, text in plain_texts:
        # Links stay in: a number in a link is read too (a link given in the facts passes).
        claims = extract_claims(text)
        for alternatives in claims.dates:
            if not facts.has_date(alternatives):
                year, month, day = alternatives[0]
                invented.append(f"{name}: date {day:02d}/{month:02d}{f'/{year}' if year else ''}")
        for day in claims.days:
            if not facts.has_day(day):
                invented.append(f"{name}: day {day}")
        for year, month in claims.month_years:
            if not facts.has_month(year, month):
                invented.append(f"{name}: month {month:02d}/{year}")
        for hour, minute in claims.times:
            if (hour, minute) not in facts.times:
                invented.append(f"{name}: time {hour:02d}:{minute:02d}")
        for code in claims.codes:
            if code not in facts.codes:
                invented.append(f"{name}: '{code}'")
        for readings, kind, currency, said in claims.amounts:
            if not facts.has_number(readings, kind):
                invented.append(f"{name}: {kind} '{said}'")
            elif currency and facts.currencies and currency not in facts.currencies:
                invented.append(f"{name}: currency {currency} in '{said}'")
    detail = "; ".join(dict.fromkeys(invented))
    return Check(INVENTED_FACT, not invented, f"not in the facts: {detail}" if invented else "")


def _host_allowed(host: str, allowed: frozenset[str]) -> bool:
    host = host.lower().rstrip(".")
    return any(host == a or host.endswith("." + a) for a in allowed)


def _link_problem(url: str, allowed: frozenset[str]) -> str | None:
    url = url.strip().rstrip(".,;:!?")
    if not url or _TEMPLATE_TAG.fullmatch(url):
        return None
    lowered = url.lower()
    if lowered.startswith("mailto:"):
        host = lowered[7:].split("?")[0].rpartition("@")[2]
        return None if _host_allowed(host, allowed) else f"{url} (mail to a host not allowed)"
    if lowered.startswith("www."):
        url, lowered = "https://" + url, "https://" + lowered
    if "://" not in lowered:
        if re.match(r"^[a-z][a-z0-9+.-]*:", lowered):
            return f"{url} (scheme not allowed)"
        url = "https://" + url  # a bare domain
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return f"{url} (not a readable URL)"
    if parts.scheme.lower() not in ("http", "https"):
        return f"{url} (scheme not allowed)"
    if parts.username or parts.password:
        return f"{url} (credentials in a link)"
    if not host or not _host_allowed(host, allowed):
        return f"{url} (host {host or '?'} not allowed)"
    return None


def _links_check(draft: DraftText, policy: Policy) -> Check:
    problems = []
    for name, raw in _fields(draft):
        text = _without_templates(normalise(raw))
        urls = [m.group() for m in _LINK.finditer(text)]
        rest = _LINK.sub(" ", text)
        if _DOMAIN_HINT.search(rest):
            urls += [m.group(1) + (m.group(2) or "") for m in _BARE_DOMAIN.finditer(rest)]
        if name == "html":
            urls += [next(g for g in m.groups() if g is not None) for m in _ATTRIBUTE_URL.finditer(text)]
        for url in dict.fromkeys(html_lib.unescape(u) for u in urls):
            problem = _link_problem(url, policy.allowed_hosts)
            if problem:
                problems.append(f"{name}: {problem}")
    return Check(DISALLOWED_LINK, not problems, "; ".join(dict.fromkeys(problems)))


def sanitise_html(html: str) -> str:
    return nh3.clean(html, tags=set(HTML_TAGS), attributes=HTML_ATTRIBUTES, url_schemes=HTML_URL_SCHEMES)


def _html_check(draft: DraftText) -> tuple[Check, str]:
    problems = []
    for name, text in _fields(draft):
        if name != "html" and _MARKUP.search(_without_templates(text)):
            problems.append(f"{name}: markup in a plain-text field")
    clean = ""
    if draft.channel == "email" and draft.html:
        clean = sanitise_html(draft.html)
        tags_before = Counter(t.lower() for t in _TAG_NAME.findall(draft.html))
        tags_after = Counter(t.lower() for t in _TAG_NAME.findall(clean))
        removed_tags = sorted(set(tags_before - tags_after))
        attributes_before = Counter(
            a.lower() for tag in _HTML_TAG.findall(draft.html) for a in _ATTRIBUTE_NAME.findall(tag)
        )
        attributes_after = Counter(
            a.lower() for tag in _HTML_TAG.findall(clean) for a in _ATTRIBUTE_NAME.findall(tag)
        )
        removed_attributes = sorted(set(attributes_before - attributes_after))
        if removed_tags or removed_attributes:
            removed = [f"<{t}>" for t in removed_tags] + [f"{a}=" for a in removed_attributes]
            problems.append(f"html: removed by the sanitiser: {', '.join(removed)}")
    elif draft.html:
        problems.append("html: only email drafts carry HTML")
    return Check(UNSAFE_HTML, not problems, "; ".join(problems)), clean


def _reader_text(plain_texts: list[tuple[str, str]]) -> str:
    return _SPACES.sub(" ", fold(" \n ".join(text for _name, text in plain_texts)))


def _blocked_check(text: str, policy: Policy) -> Check:
    if policy.blocked is None:
        return Check(BLOCKED_TERM, True, "no block list")
    found = sorted({m.group(1) for m in policy.blocked.finditer(text)})
    return Check(BLOCKED_TERM, not found, f"blocked: {', '.join(found)}" if found else "")


def _profanity_check(text: str, policy: Policy) -> Check:
    words = set(_WORD.findall(text))
    if _LEET_HINT.search(text):
        words.update(_WORD.findall(text.translate(_LEET)))
    if _REPEATS.search(text):
        words.update(_WORD.findall(_REPEATS.sub(r"\1", text)))
        words.update(_WORD.findall(_REPEATS.sub(r"\1", text.translate(_LEET))))
    found = sorted(words & policy.profanity)
    return Check(PROFANITY_REASON, not found, f"found: {', '.join(found)}" if found else "")


def _subject_check(draft: DraftText) -> Check:
    if draft.channel != "sms" and _FAKE_THREAD.match(normalise(draft.title)):
        return Check(MISLEADING_SUBJECT, False, f"{TITLE_NAMES[draft.channel]} poses as a reply or forward")
    return Check(MISLEADING_SUBJECT, True, "")


def check_draft(draft: DraftText, policy: Policy) -> FilterReport:
    """Every rail on one draft; the report names each reason, passed or not, with what it found."""
    if draft.channel not in CHANNELS:
        raise ValueError(f"unknown channel {draft.channel!r}")
    plain_texts = _plain_texts(draft)
    reader_text = _reader_text(plain_texts)
    html_check, clean_html = _html_check(draft)
    checks = (
        _length_check(draft, policy),
        _variables_check(draft),
        _facts_check(plain_texts, policy),
        _links_check(draft, policy),
        html_check,
        _blocked_check(reader_text, policy),
        _profanity_check(reader_text, policy),
        _subject_check(draft),
    )
    return FilterReport(checks=checks, html=clean_html)
