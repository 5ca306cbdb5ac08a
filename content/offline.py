"""The deterministic offline provider: drafts composed from the phrase bank, seeded by the brief.

Pure (no I/O, no clock, no global random state): the same request gives the same drafts, byte for
byte, in any process. The seed is a SHA-256 of the request (channel, brief, facts, tone, locale);
variant *i* takes the *i*-th headline of a seeded order, so the variants of one request differ.

Facts are recognised by their keys (`ROLE_KEYS`: `discount`, `price`, `ends`, `product`, `code`,
`brand`, `url`, and their usual synonyms) and written as given (dates in the locale's words). A
phrase is used only when the facts fill all its slots; the phrases themselves hold no number, date or
link, so an offline draft states nothing but the facts.
"""

from __future__ import annotations

import hashlib
import html as html_lib
import json
import random
import string
import unicodedata
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from content import phrases
from content.guard_rails import LENGTH_LIMITS
from content.types import ContentRequest, GeneratedText
from notifications.channels import GSM7_BASIC, GSM7_EXTENSION, sms_segments

NAME = "offline"
VERSION = "offline-1"

ROLE_KEYS: dict[str, tuple[str, ...]] = {
    "product": ("product", "products", "item", "items", "category", "collection", "offer", "name", "title"),
    "discount": ("discount", "percent", "percentage", "off", "saving", "savings", "reduction"),
    "price": ("price", "amount", "cost", "from", "now"),
    "ends": ("ends", "end", "until", "expires", "expiry", "deadline", "valid", "date", "last"),
    "code": ("code", "coupon", "voucher", "promo"),
    "brand": ("brand", "store", "shop", "sender"),
    "url": ("url", "link", "landing", "href"),
}
_FORMATTER = string.Formatter()


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def request_digest(request: ContentRequest) -> str:
    """What seeds the offline drafts (and names its prompt): the request, canonically."""
    payload = {
        "provider": VERSION,
        "channel": request.channel,
        "brief": request.brief.strip(),
        "facts": request.facts,
        "tone": request.tone,
        "locale": request.locale,
    }
    return hashlib.sha256(canonical(payload).encode()).hexdigest()


def _role_of(key: str) -> str | None:
    """The key itself, else its last word, else any word: `discount_code` is a code, `ends_at` an end."""
    words = [word for word in key.lower().replace("-", "_").replace(" ", "_").split("_") if word]
    for candidates in ([key.lower()], words[-1:], words):
        for role, synonyms in ROLE_KEYS.items():
            if any(word in synonyms for word in candidates):
                return role
    return None


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        for parse in (date.fromisoformat, lambda t: datetime.fromisoformat(t).date()):
            try:
                return parse(text)
            except ValueError:
                continue
    return None


def _number_text(value: Any) -> str:
    if isinstance(value, float):
        value = Decimal(str(value))
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


def fact_slots(facts: Mapping[str, Any], locale: str) -> dict[str, str]:
    """The phrase slots the facts fill, written as the text will say them."""
    slots: dict[str, str] = {}
    for key, value in facts.items():
        role = _role_of(str(key))
        if role is None or role in slots or value is None or isinstance(value, dict | list | bool):
            continue
        if role == "ends":
            day = _as_date(value)
            if day is not None:
                month = phrases.MONTH_NAMES[locale][day.month - 1]
                slots[role] = phrases.DATE_FORMATS[locale].format(day=day.day, month=month)
                continue
        if role == "discount" and isinstance(value, int | float | Decimal):
            slots[role] = f"{_number_text(value)}%"
            continue
        text = _number_text(value).strip()
        if text:
            slots[role] = text
    return slots


def _fillable(phrase: str, slots: Mapping[str, str]) -> bool:
    return all(name in slots for _, name, _, _ in _FORMATTER.parse(phrase) if name)


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def _choices(pool: list[str], slots: Mapping[str, str]) -> list[str]:
    return [phrase.format(**slots) for phrase in pool if _fillable(phrase, slots)]


def _to_gsm7(text: str) -> str:
    """Accents GSM-7 lacks (á, í, ó, ú, ã, ç …) dropped, '…' as '...': an SMS stays in 160 characters."""
    text = text.replace("…", "...").replace("’", "'").replace("“", '"').replace("”", '"')
    out = []
    for ch in text:
        if ch in GSM7_BASIC or ch in GSM7_EXTENSION:
            out.append(ch)
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        out.append(base if all(c in GSM7_BASIC for c in base) else "")
    return "".join(out)


def _fit(candidates: list[str], fits) -> str:
    for candidate in candidates:
        if fits(candidate):
            return candidate
    return min(candidates, key=len) if candidates else ""


class OfflineProvider:
    name = NAME
    model = VERSION

    def prompt_hash(self, request: ContentRequest) -> str:
        return request_digest(request)

    def generate(self, request: ContentRequest) -> list[GeneratedText]:
        locale = request.locale if request.locale in phrases.HEADLINES else "en"
        tone = request.tone if request.tone in phrases.TONES else phrases.TONES[0]
        slots = fact_slots(request.facts, locale)
        slots.setdefault("product", phrases.DEFAULT_PRODUCT[locale])
        seed = int(request_digest(request)[:16], 16)
        headlines = _choices(phrases.HEADLINES[locale][tone], slots)
        random.Random(seed).shuffle(headlines)
        return [
            self._compose(request.channel, locale, tone, slots, headlines, seed, i)
            for i in range(request.variants)
        ]

    def _compose(
        self,
        channel: str,
        locale: str,
        tone: str,
        slots: dict[str, str],
        headlines: list[str],
        seed: int,
        index: int,
    ) -> GeneratedText:
        rng = random.Random(seed * 1_000_003 + index)
        offers = _choices(phrases.OFFERS[locale], slots)
        # Prefer the offers that state the most facts.
        offers.sort(
            key=lambda text: -sum(slots[name] in text for name in ("discount", "price") if name in slots)
        )
        best = [
            o for o in offers if all(slots.get(n, "\0") in o for n in ("discount", "price") if n in slots)
        ]
        offer = _capitalised(rng.choice(best or offers))
        deadline = rng.choice(_choices(phrases.DEADLINES[locale], slots)) if "ends" in slots else ""
        code = rng.choice(_choices(phrases.CODES[locale], slots)) if "code" in slots else ""
        cta = rng.choice(phrases.CALLS_TO_ACTION[locale][tone])
        brand = slots.get("brand", "")
        url = slots.get("url", "")
        ordered = (
            headlines[index % len(headlines) :] + headlines[: index % len(headlines)]
            if headlines
            else [offer]
        )
        title_limit = LENGTH_LIMITS[channel][0] or 0
        title = (
            _fit([_capitalised(h) for h in ordered], lambda t: len(t) <= title_limit)
            if channel != "sms"
            else ""
        )

        if channel == "sms":
            bodies = []
            for parts in (
                [f"{brand}:" if brand else "", offer, deadline, code, cta, url],
                [f"{brand}:" if brand else "", offer, deadline, code, url],
                [offer, deadline, code, url],
                [offer, code, url],
            ):
                text = " ".join(p for p in parts if p)
                bodies += [text, _to_gsm7(text)]
            body = _fit(bodies, lambda t: sms_segments(t)[1] <= 1)
            return GeneratedText(title="", body=body)
        if channel == "push":
            body_limit = LENGTH_LIMITS["push"][1] or 0
            bodies = [" ".join(p for p in parts if p) for parts in
                      ([offer, deadline, code, cta], [offer, deadline, code], [offer, deadline], [offer])]  # fmt: skip
            return GeneratedText(title=title, body=_fit(bodies, lambda t: len(t) <= body_limit))
        if channel == "in_app":
            return GeneratedText(title=title, body=" ".join(p for p in (offer, deadline, code, cta) if p))
        paragraphs = [p for p in (offer, " ".join(x for x in (deadline, code) if x), cta) if p]
        text = "\n\n".join(paragraphs + ([url] if url else []) + ([brand] if brand else []))
        html = "".join(f"<p>{html_lib.escape(p)}</p>" for p in paragraphs)
        if url:
            html += (
                f'<p><a href="{html_lib.escape(url)}">{html_lib.escape(phrases.LINK_LABELS[locale])}</a></p>'
            )
        if brand:
            html += f"<p>{html_lib.escape(brand)}</p>"
        return GeneratedText(title=title, body=text, html=html)
