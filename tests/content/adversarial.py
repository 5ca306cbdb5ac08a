"""Adversarial drafts: honest copy about the facts with one invented number, price, percentage or date.

Generated from a seeded random source, so a failure names a reproducible draft. Each invention is
chosen to be absent from `tests.content.conftest.FACTS` (20 %, 49.99 EUR, 24 December 2026, XMAS25).
"""

from __future__ import annotations

import random

MONTHS_EN = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
             "October", "November", "December"]  # fmt: skip
MONTHS_ES = ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
             "noviembre", "diciembre"]  # fmt: skip
MONTHS_PT = ["janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto", "setembro", "outubro",
             "novembro", "dezembro"]  # fmt: skip
WORDS = {10: "ten", 25: "twenty-five", 30: "thirty", 40: "forty", 50: "fifty", 60: "sixty", 70: "seventy"}
WORDS_ES = {30: "treinta", 40: "cuarenta", 50: "cincuenta", 10: "diez"}
WORDS_PT = {30: "trinta", 40: "quarenta", 50: "cinquenta", 10: "dez"}
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def _percent(rng: random.Random) -> str:
    value = rng.choice([v for v in range(5, 95, 5) if v != 20] + [15.5, 33, 99])
    form = rng.randrange(8)
    if form == 0:
        return f"{value}% off"
    if form == 1:
        return f"{value} percent off"
    if form == 2:
        return f"{value} por ciento de descuento"
    if form == 3:
        return f"{value} por cento de desconto"
    if form == 4:
        return f"{str(value).translate(FULL_WIDTH)}％ off"
    if form == 5:
        text = str(value)
        return f"{text[0]}\u200b{text[1:]}% off"
    if form == 6:
        value = rng.choice(list(WORDS))
        return f"{WORDS[value]} percent off"
    value = rng.choice(list(WORDS_ES))
    return f"{WORDS_ES[value]} por ciento"


def _price(rng: random.Random) -> str:
    whole, cents = rng.randrange(1, 2000), rng.randrange(0, 100)
    if (whole, cents) == (49, 99):
        whole += 1
    form = rng.randrange(9)
    if form == 0:
        return f"€{whole}.{cents:02d}"
    if form == 1:
        return f"{whole},{cents:02d} €"
    if form == 2:
        return f"${whole}"
    if form == 3:
        return f"R$ {whole},{cents:02d}"
    if form == 4:
        return f"{whole} EUR"
    if form == 5:
        return f"only {whole}.{cents:02d}"
    if form == 6:
        return "49.99 USD"  # the fact's amount in a currency the facts never name
    if form == 7:
        return f"{rng.choice(list(WORDS_PT))} reais"
    return f"{1000 + whole:,}.{cents:02d} EUR"


def _date(rng: random.Random) -> str:
    month = rng.randrange(1, 13)
    day = rng.randrange(1, 29)
    if (month, day) == (12, 24):
        day = 25
    form = rng.randrange(8)
    if form == 0:
        return f"until {day} {MONTHS_EN[month - 1]}"
    if form == 1:
        return f"until {MONTHS_EN[month - 1]} {day}"
    if form == 2:
        return f"hasta el {day} de {MONTHS_ES[month - 1]}"
    if form == 3:
        return f"até {day} de {MONTHS_PT[month - 1]}"
    if form == 4:
        return f"ends 2026-{month:02d}-{day:02d}"
    if form == 5:
        return f"ends {day}/{month}"
    if form == 6:
        return f"ends 24 December {rng.choice([2025, 2027])}"
    return f"ends {day:02d}.{month:02d}.2026"


def _time_or_number(rng: random.Random) -> str:
    form = rng.randrange(5)
    if form == 0:
        return f"from {rng.randrange(1, 12)}pm"
    if form == 1:
        return f"doors open at {rng.randrange(6, 11)}:{rng.choice(['00', '30'])}"
    if form == 2:
        return f"buy {rng.randrange(2, 6)}, get one free"
    if form == 3:
        return f"top {rng.randrange(3, 100)} picks"
    return f"the first {rng.randrange(21, 500)} customers"


INVENTIONS = (_percent, _price, _date, _time_or_number)
HONEST = [
    "Winter boots: {invented}. Use code XMAS25.",
    "{invented} on winter boots — 20% off until 24 December.",
    "Our winter boots from 49.99 EUR, {invented}!",
    "Botas de invierno: {invented}. Código XMAS25.",
    "Winter boots are back, {invented}. Shop at https://shop.brand.example/boots",
]


def adversarial_draft(rng: random.Random, channel: str = "push") -> dict[str, str]:
    invented = rng.choice(INVENTIONS)(rng)
    text = rng.choice(HONEST).format(invented=invented)
    if channel == "push" and rng.random() < 0.3:
        return {"title": f"Winter boots, {invented}"[:50], "body": "Winter boots: 20% off until 24 December."}
    return {"title": "Winter boots" if channel != "sms" else "", "body": text}


def honest_draft(rng: random.Random) -> dict[str, str]:
    return {
        "title": rng.choice(["Winter boots", "20% off winter boots", "Ends 24 December"]),
        "body": rng.choice(
            [
                "Winter boots: 20% off until 24 December. Use code XMAS25.",
                "Winter boots from 49.99 EUR, 20% off. https://shop.brand.example/boots",
                "Botas de invierno con 20% de descuento hasta el 24 de diciembre.",
                "Botas desde 49,99 € até 24 de dezembro de 2026.",
            ]
        ),
    }
