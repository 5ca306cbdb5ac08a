"""Random codes for a batch (pure: `secrets` only, no ORM).

A pattern's `#` are filled from `charset` with bytes from `secrets.token_bytes`, mapped without bias
(bytes ≥ the largest multiple of len(charset) are dropped) by `bytes.translate`, at C speed: a
million 8-character codes take well under a second. Uniqueness is not checked here: the database's
unique index on upper(code) is the only judge (promotions/services.py inserts ignoring conflicts and
tops up).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

PLACEHOLDER = "#"


def pattern_space(pattern: str, charset: str) -> int:
    """How many different codes the pattern can make."""
    return len(set(charset)) ** pattern.count(PLACEHOLDER)


def _translation(charset: str) -> tuple[bytes, bytes]:
    size = len(charset)
    usable = 256 - 256 % size
    table = bytes((ord(charset[b % size]) if b < usable else 0) for b in range(256))
    return table, bytes(range(usable, 256))


def random_codes(*, count: int, pattern: str, charset: str, prefix: str = "", postfix: str = "") -> list[str]:
    """`count` codes `prefix + pattern (each # random from charset) + postfix` (may repeat, rarely)."""
    if not charset.isascii():
        raise ValueError("the charset must be ASCII")
    slots = pattern.count(PLACEHOLDER)
    if slots == 0:
        raise ValueError("the pattern needs at least one #")
    table, drop = _translation(charset)
    needed = count * slots
    chars = bytearray()
    while len(chars) < needed:
        # ~ 1.1 × what is needed: a few bytes are dropped to keep every character equally likely.
        chars += secrets.token_bytes((needed - len(chars)) * 5 // 4 + 16).translate(table, drop)
    text = chars[:needed].decode("ascii")
    pieces = pattern.split(PLACEHOLDER)
    if all(piece == "" for piece in pieces):  # the pattern is only #: slices are the codes
        return [f"{prefix}{text[i : i + slots]}{postfix}" for i in range(0, needed, slots)]
    return [prefix + _fill(pieces, text[i : i + slots]) + postfix for i in range(0, needed, slots)]


def _fill(pieces: list[str], randoms: str) -> str:
    out = [pieces[0]]
    for char, piece in zip(randoms, pieces[1:], strict=True):
        out.append(char)
        out.append(piece)
    return "".join(out)


def chunks(total: int, size: int) -> Iterator[int]:
    while total > 0:
        yield min(size, total)
        total -= size
