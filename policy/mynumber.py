"""Outbound check: a 12-digit My Number (個人番号) with a valid check digit.

Text going from LGWAN to internet members is scanned for twelve digits (ASCII or
full-width, optionally grouped 4-4-4 by spaces or hyphens) that are not part of a
longer number and whose last digit is the check digit defined for 個人番号 (行政手続に
おける特定の個人を識別するための番号の利用等に関する法律施行令 第八条).  A run of
twelve digits that fails the check digit is a phone or account number, not a hit.
"""

from __future__ import annotations

import re
import unicodedata

# Twelve digits, optionally as 4-4-4 with one space or hyphen between groups, not
# touching another digit on either side.
_CANDIDATE = re.compile(r"(?<!\d)(\d{4})[ \-]?(\d{4})[ \-]?(\d{4})(?!\d)")


def check_digit(first11: str) -> int:
    """The check digit for the first eleven digits of a My Number."""
    total = 0
    for n, ch in enumerate(reversed(first11), start=1):
        q = n + 1 if n <= 6 else n - 5
        total += int(ch) * q
    r = total % 11
    return 0 if r <= 1 else 11 - r


def is_valid(number: str) -> bool:
    return len(number) == 12 and number.isascii() and number.isdigit() and \
        check_digit(number[:11]) == int(number[11])


def find(text: str) -> list[str]:
    """Valid My Numbers in ``text`` (normalised to 12 ASCII digits), in order."""
    # NFKC folds full-width digits and hyphen-like characters to ASCII.
    folded = unicodedata.normalize("NFKC", text).replace("\u2212", "-").replace("\u2010", "-")
    hits = []
    for m in _CANDIDATE.finditer(folded):
        digits = "".join(m.groups())
        if is_valid(digits):
            hits.append(digits)
    return hits


def mask(number: str) -> str:
    """For messages and logs: never repeat the whole number."""
    return "********" + number[-4:]
