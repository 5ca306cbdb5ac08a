"""Money: ISO 4217 currency codes, their minor units, and the one rounding and rendering of amounts.

Pure Python (no Django, no I/O) so the rules engine and anything else can use it
without an app registry.

Every amount that leaves the platform -- the API, the partner body, the
dashboards, a notification -- goes through ``money_str``, and every amount
rounded to a currency's minor unit goes through ``to_minor_unit``, so two
places can never show the same amount differently. The rule is SPEC §3's:
half up (ties away from zero, ``ROUND_HALF_UP``), never Decimal's default
half-even, which rounds 0.125 EUR down to 0.12 but 0.135 EUR up to 0.14. Amounts are stored exactly (a unit price may carry more decimals than
its currency); rounding happens when an amount is rendered, or where the spec
asks for it (the eligible value).

Why a hand-kept table instead of a dependency: money is rounded to the currency's
minor unit (``quantum_for``) on every evaluation, and that table changes a few
times a decade; a literal dict is fast, reviewable and has no install step.

Source: ISO 4217 List One (current currency & funds code list), published
2026-01-01 (as redistributed by the ``iso4217`` PyPI data package). Included: every
code whose minor unit is a number, funds codes too (BOV, CHE, CHW, CLF, COU, MXV,
USN, UYI, UYW, XAD ...), since a merchant may price in them.

Deliberately EXCLUDED: the codes whose minor unit ISO lists as "N.A." -- precious
metals (XAG, XAU, XPD, XPT), bond-market units (XBA, XBB, XBC, XBD), SDR and
similar units of account (XDR, XSU, XUA), the testing code XTS and the
no-currency code XXX. They have no minor unit, so an amount in them cannot be
rounded to one and a campaign priced in them is meaningless. Codes withdrawn from
List One (e.g. ANG, CUC, HRK, SLL, ZWL, VEF, MRO) are also absent.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from threading import local
from typing import Final

__all__ = ["ISO_4217_MINOR_UNITS", "is_iso_4217", "money_str", "quantum_for", "to_minor_unit"]

ISO_4217_MINOR_UNITS: Final[dict[str, int]] = {
    "AED": 2,  # UAE Dirham
    "AFN": 2,  # Afghani
    "ALL": 2,  # Lek
    "AMD": 2,  # Armenian Dram
    "AOA": 2,  # Kwanza
    "ARS": 2,  # Argentine Peso
    "AUD": 2,  # Australian Dollar
    "AWG": 2,  # Aruban Florin
    "AZN": 2,  # Azerbaijan Manat
    "BAM": 2,  # Convertible Mark
    "BBD": 2,  # Barbados Dollar
    "BDT": 2,  # Taka
    "BHD": 3,  # Bahraini Dinar
    "BIF": 0,  # Burundi Franc
    "BMD": 2,  # Bermudian Dollar
    "BND": 2,  # Brunei Dollar
    "BOB": 2,  # Boliviano
    "BOV": 2,  # Mvdol
    "BRL": 2,  # Brazilian Real
    "BSD": 2,  # Bahamian Dollar
    "BTN": 2,  # Ngultrum
    "BWP": 2,  # Pula
    "BYN": 2,  # Belarusian Ruble
    "BZD": 2,  # Belize Dollar
    "CAD": 2,  # Canadian Dollar
    "CDF": 2,  # Congolese Franc
    "CHE": 2,  # WIR Euro
    "CHF": 2,  # Swiss Franc
    "CHW": 2,  # WIR Franc
    "CLF": 4,  # Unidad de Fomento
    "CLP": 0,  # Chilean Peso
    "CNY": 2,  # Yuan Renminbi
    "COP": 2,  # Colombian Peso
    "COU": 2,  # Unidad de Valor Real
    "CRC": 2,  # Costa Rican Colon
    "CUP": 2,  # Cuban Peso
    "CVE": 2,  # Cabo Verde Escudo
    "CZK": 2,  # Czech Koruna
    "DJF": 0,  # Djibouti Franc
    "DKK": 2,  # Danish Krone
    "DOP": 2,  # Dominican Peso
    "DZD": 2,  # Algerian Dinar
    "EGP": 2,  # Egyptian Pound
    "ERN": 2,  # Nakfa
    "ETB": 2,  # Ethiopian Birr
    "EUR": 2,  # Euro
    "FJD": 2,  # Fiji Dollar
    "FKP": 2,  # Falkland Islands Pound
    "GBP": 2,  # Pound Sterling
    "GEL": 2,  # Lari
    "GHS": 2,  # Ghana Cedi
    "GIP": 2,  # Gibraltar Pound
    "GMD": 2,  # Dalasi
    "GNF": 0,  # Guinean Franc
    "GTQ": 2,  # Quetzal
    "GYD": 2,  # Guyana Dollar
    "HKD": 2,  # Hong Kong Dollar
    "HNL": 2,  # Lempira
    "HTG": 2,  # Gourde
    "HUF": 2,  # Forint
    "IDR": 2,  # Rupiah
    "ILS": 2,  # New Israeli Sheqel
    "INR": 2,  # Indian Rupee
    "IQD": 3,  # Iraqi Dinar
    "IRR": 2,  # Iranian Rial
    "ISK": 0,  # Iceland Krona
    "JMD": 2,  # Jamaican Dollar
    "JOD": 3,  # Jordanian Dinar
    "JPY": 0,  # Yen
    "KES": 2,  # Kenyan Shilling
    "KGS": 2,  # Som
    "KHR": 2,  # Riel
    "KMF": 0,  # Comorian Franc
    "KPW": 2,  # North Korean Won
    "KRW": 0,  # Won
    "KWD": 3,  # Kuwaiti Dinar
    "KYD": 2,  # Cayman Islands Dollar
    "KZT": 2,  # Tenge
    "LAK": 2,  # Lao Kip
    "LBP": 2,  # Lebanese Pound
    "LKR": 2,  # Sri Lanka Rupee
    "LRD": 2,  # Liberian Dollar
    "LSL": 2,  # Loti
    "LYD": 3,  # Libyan Dinar
    "MAD": 2,  # Moroccan Dirham
    "MDL": 2,  # Moldovan Leu
    "MGA": 2,  # Malagasy Ariary
    "MKD": 2,  # Denar
    "MMK": 2,  # Kyat
    "MNT": 2,  # Tugrik
    "MOP": 2,  # Pataca
    "MRU": 2,  # Ouguiya
    "MUR": 2,  # Mauritius Rupee
    "MVR": 2,  # Rufiyaa
    "MWK": 2,  # Malawi Kwacha
    "MXN": 2,  # Mexican Peso
    "MXV": 2,  # Mexican Unidad de Inversion (UDI)
    "MYR": 2,  # Malaysian Ringgit
    "MZN": 2,  # Mozambique Metical
    "NAD": 2,  # Namibia Dollar
    "NGN": 2,  # Naira
    "NIO": 2,  # Cordoba Oro
    "NOK": 2,  # Norwegian Krone
    "NPR": 2,  # Nepalese Rupee
    "NZD": 2,  # New Zealand Dollar
    "OMR": 3,  # Rial Omani
    "PAB": 2,  # Balboa
    "PEN": 2,  # Sol
    "PGK": 2,  # Kina
    "PHP": 2,  # Philippine Peso
    "PKR": 2,  # Pakistan Rupee
    "PLN": 2,  # Zloty
    "PYG": 0,  # Guarani
    "QAR": 2,  # Qatari Rial
    "RON": 2,  # Romanian Leu
    "RSD": 2,  # Serbian Dinar
    "RUB": 2,  # Russian Ruble
    "RWF": 0,  # Rwanda Franc
    "SAR": 2,  # Saudi Riyal
    "SBD": 2,  # Solomon Islands Dollar
    "SCR": 2,  # Seychelles Rupee
    "SDG": 2,  # Sudanese Pound
    "SEK": 2,  # Swedish Krona
    "SGD": 2,  # Singapore Dollar
    "SHP": 2,  # Saint Helena Pound
    "SLE": 2,  # Leone
    "SOS": 2,  # Somali Shilling
    "SRD": 2,  # Surinam Dollar
    "SSP": 2,  # South Sudanese Pound
    "STN": 2,  # Dobra
    "SVC": 2,  # El Salvador Colon
    "SYP": 2,  # Syrian Pound
    "SZL": 2,  # Lilangeni
    "THB": 2,  # Baht
    "TJS": 2,  # Somoni
    "TMT": 2,  # Turkmenistan New Manat
    "TND": 3,  # Tunisian Dinar
    "TOP": 2,  # Pa’anga
    "TRY": 2,  # Turkish Lira
    "TTD": 2,  # Trinidad and Tobago Dollar
    "TWD": 2,  # New Taiwan Dollar
    "TZS": 2,  # Tanzanian Shilling
    "UAH": 2,  # Hryvnia
    "UGX": 0,  # Uganda Shilling
    "USD": 2,  # US Dollar
    "USN": 2,  # US Dollar (Next day)
    "UYI": 0,  # Uruguay Peso en Unidades Indexadas (UI)
    "UYU": 2,  # Peso Uruguayo
    "UYW": 4,  # Unidad Previsional
    "UZS": 2,  # Uzbekistan Sum
    "VED": 2,  # Bolívar Soberano
    "VES": 2,  # Bolívar Soberano
    "VND": 0,  # Dong
    "VUV": 0,  # Vatu
    "WST": 2,  # Tala
    "XAD": 2,  # Arab Accounting Dinar
    "XAF": 0,  # CFA Franc BEAC
    "XCD": 2,  # East Caribbean Dollar
    "XCG": 2,  # Caribbean Guilder
    "XOF": 0,  # CFA Franc BCEAO
    "XPF": 0,  # CFP Franc
    "YER": 2,  # Yemeni Rial
    "ZAR": 2,  # Rand
    "ZMW": 2,  # Zambian Kwacha
    "ZWG": 2,  # Zimbabwe Gold
}

# Precomputed once: quantum_for is called on every campaign compile, and Decimal
# construction from a scaled exponent is cheap but not free. Decimal((0, (1,), -n))
# is exactly 10**-n (e.g. Decimal("0.01") for 2, Decimal("1") for 0).
_QUANTA: Final[dict[str, Decimal]] = {
    code: Decimal((0, (1,), -units)) for code, units in ISO_4217_MINOR_UNITS.items()
}


def is_iso_4217(code: str) -> bool:
    """Return True if ``code`` is an active ISO 4217 code with a numeric minor unit.

    The check is exact and case-sensitive: ISO codes are upper-case, and accepting
    "eur" here would let two spellings of the same currency into the database,
    which would then fail the engine's exact currency comparison.
    """
    return code in ISO_4217_MINOR_UNITS


def quantum_for(currency: str) -> Decimal:
    """Return the smallest amount of ``currency`` as a Decimal exponent template.

    Used with ``Decimal.quantize``: ``quantum_for("EUR") == Decimal("0.01")``,
    ``quantum_for("JPY") == Decimal("1")``, ``quantum_for("BHD") == Decimal("0.001")``.

    Raises ``ValueError`` for an unknown code rather than guessing 2 decimals:
    silently rounding a 0- or 3-decimal currency to cents would mis-state money.
    """
    try:
        return _QUANTA[currency]
    except KeyError:
        raise ValueError(f"not an ISO 4217 currency code with a minor unit: {currency!r}") from None


# Rounding runs in a context of its own, so the caller's ambient context (a low
# precision, another rounding) cannot change an amount. 100 digits is far beyond
# any amount; a result that would not fit raises InvalidOperation instead of being
# cut. One context per thread, because decimal writes status flags into the
# context it uses.
_PRECISION: Final = 100
_contexts = local()


def _context() -> Context:
    try:
        return _contexts.context
    except AttributeError:
        _contexts.context = Context(prec=_PRECISION, rounding=ROUND_HALF_UP, traps=[InvalidOperation])
        return _contexts.context


def to_minor_unit(value: Decimal | int, currency: str) -> Decimal:
    """Round ``value`` half up to ``currency``'s minor unit.

    ``to_minor_unit(Decimal("0.125"), "EUR") == Decimal("0.13")`` (exponent -2),
    ``Decimal("2.5")`` JPY -> ``Decimal("3")``, ``Decimal("1.2345")`` BHD ->
    ``Decimal("1.235")``; ties of negative amounts go away from zero
    (``-0.125`` EUR -> ``-0.13``), and an amount that rounds to nothing is a
    positive zero (``-0.004`` EUR -> ``0.00``). The result always has exactly the
    currency's number of decimals.

    Raises ``ValueError`` for an unknown currency (see ``quantum_for``) or a
    non-finite value, ``TypeError`` for a float or anything else that is not a
    Decimal or an int: money never passes through binary floating point.
    """
    if type(value) is not Decimal:
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            raise TypeError(f"money must be a Decimal or an int, not {type(value).__name__}")
        value = Decimal(value)
    if not value.is_finite():
        raise ValueError(f"not a finite amount: {value!r}")
    rounded = value.quantize(quantum_for(currency), rounding=ROUND_HALF_UP, context=_context())
    return rounded if rounded else rounded.copy_abs()


def money_str(value: Decimal | int, currency: str) -> str:
    """The wire form of an amount: rounded half up, exactly the currency's number of decimals.

    ``"0.13"`` for 0.125 EUR, ``"5"`` for 5 JPY, ``"1.235"`` for 1.2345 BHD,
    ``"12.50"`` for 12.5 EUR. Plain digits, never an exponent (``1E+3`` EUR is
    ``"1000.00"``). Errors as ``to_minor_unit``.
    """
    return format(to_minor_unit(value, currency), "f")
