"""Word lists of the guard rails, per locale: month names, number words, profanity.

Plain data, no logic. The locales are the ones a brand can choose (`content.models.LOCALES`).
Words are stored folded (lower case, no accents), as `guard_rails.fold` leaves the text they are
compared with.
"""

from __future__ import annotations

LOCALES = ("en", "es", "pt")

MONTHS: dict[str, int] = {
    # en
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4, "apr": 4,
    "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8, "september": 9,
    "sept": 9, "sep": 9, "october": 10, "oct": 10, "november": 11, "nov": 11, "december": 12, "dec": 12,
    # es
    "enero": 1, "ene": 1, "febrero": 2, "marzo": 3, "abril": 4, "abr": 4, "mayo": 5, "junio": 6,
    "julio": 7, "agosto": 8, "septiembre": 9, "setiembre": 9, "octubre": 10, "noviembre": 11,
    "diciembre": 12, "dic": 12,
    # pt
    "janeiro": 1, "fevereiro": 2, "fev": 2, "marco": 3, "maio": 5, "junho": 6, "julho": 7,
    "setembro": 9, "outubro": 10, "novembro": 11, "dezembro": 12, "dez": 12,
}  # fmt: skip

# Spelled-out numbers: a claim when a percentage or a currency word follows ("twenty percent").
NUMBER_WORDS: dict[str, int] = {
    # en
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "half": 50,
    # es
    "uno": 1, "una": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6, "siete": 7, "ocho": 8,
    "nueve": 9, "diez": 10, "doce": 12, "quince": 15, "veinte": 20, "veinticinco": 25,
    "treinta": 30, "cuarenta": 40, "cincuenta": 50, "sesenta": 60, "setenta": 70, "ochenta": 80,
    "noventa": 90, "cien": 100, "mitad": 50,
    # pt
    "um": 1, "uma": 1, "duas": 2, "quatro": 4, "sete": 7, "oito": 8, "nove": 9, "dez": 10,
    "quinze": 15, "vinte": 20, "trinta": 30, "quarenta": 40, "cinquenta": 50, "sessenta": 60,
    "oitenta": 80, "cem": 100, "metade": 50,
}  # fmt: skip
# What makes a spelled-out number a claim when it follows it.
CLAIM_UNITS = (
    "percent", "per cent", "pct", "off", "por ciento", "por cento", "euro", "euros", "dollar", "dollars",
    "pound", "pounds", "dolar", "dolares", "real", "reais", "price", "precio", "preco", "de descuento",
    "de desconto",
)  # fmt: skip

# A small list per locale: the words no brand wants in its copy, with their common inflections.
PROFANITY: dict[str, frozenset[str]] = {
    "en": frozenset(
        "fuck fucks fucked fucker fuckers fucking motherfucker shit shits shitty bullshit bitch bitches "
        "bastard bastards asshole assholes arsehole cunt cunts dick dicks dickhead prick pricks wanker "
        "wankers bollocks twat crap crappy piss pissed slut sluts whore whores douche douchebag".split()
    ),
    "es": frozenset(
        "mierda mierdas puta putas puto putos joder jodido jodida cabron cabrones gilipollas pendejo "
        "pendejos pendeja carajo culero culo hijueputa malparido verga pinche chingar chingada marica "
        "maricon zorra".split()
    ),
    "pt": frozenset(
        "merda merdas porra caralho puta putas puto foda foder fodase fodido cacete buceta arrombado "
        "viado cuzao babaca otario desgracado piranha bosta corno".split()
    ),
}
