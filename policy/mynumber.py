"""Outbound check: a 12-digit My Number (個人番号) with a valid check digit.

Text going from LGWAN to internet members (message bodies, file names, and later the
text extracted from files) is read for twelve digits whose last digit is the check
digit defined for 個人番号 (行政手続における特定の個人を識別するための番号の利用等に
関する法律施行令 第八条).  Twelve digits that fail the check digit are a phone, account
or other number, not a hit.

How text is read, so that a number cannot be slipped out by spelling it differently
(the text itself is never changed; this is only how the check sees it):

* NFKC first: fullwidth digits and punctuation, superscripts and other compatibility
  forms become their plain form.
* A *digit* is any Unicode decimal digit (ASCII, Arabic-Indic, Devanagari, Thai, ...)
  or a kanji numeral 〇一二三四五六七八九零.  The formal 壱弐参 are not read: they
  are for amounts on legal documents, and 参 is an ordinary word.  One number is
  written in one kind of digit: kanji numerals also begin ordinary words (一覧, 二人),
  so a kanji next to a decimal digit ends the number rather than lengthening it.
* *Invisible* characters are not there at all: zero-width space/joiner/non-joiner,
  word joiner, BOM, soft hyphen, bidi marks, variation selectors, combining marks
  (the keycap of 1️⃣), Hangul fillers and control characters.
* A *separator* may stand between two digits of one number: spaces of every kind, line
  breaks, every dash and hyphen (including ー, 〜 and the minus sign), dots and middle
  dots (. ・ · 。) and slashes; between decimal digits also the kanji 一, which looks
  like ー.  At most ``MAX_SEPARATORS`` of them in a row: wider gaps are table columns.
* Not separators, so they end a number: commas (CSV fields, thousands in amounts),
  tabs (TSV fields), colons (times), brackets, letters and other text.
* A *run* is digits joined by separators.  Its *groups* are the digits between
  separators, its *gaps* the separators between groups.  Twelve digits split into
  groups of different sizes that only plain spaces or dots set apart are several
  numbers side by side ("280771 80 1580": a time, a room, a count), not one: reading
  them as one would stop one such line in ten.  Groups of one size (4-4-4 as printed
  on the card, a digit at a time) or any other separator join.  A run of exactly
  twelve digits is read as one number.  Inside a longer run, twelve digits made of whole
  groups are read as a number only when they are set off by a gap that does not occur
  inside them ("1234-5678-9018 2026", a CSV cell followed by a line break): a longer
  number grouped the same way throughout (a card number, 1234-5678-9018-1) is one
  longer number, and a twelve-digit part of it is not a hit.
* In a table a line break ends a row: a run that touches a comma or tab is read line
  by line, so a row ending in a phone number does not join the next row's number.
* What is known to be something else is not read: a run after "+" (an international
  phone number), a group touching a colon at either end of a run (the hour of
  "03-1234-5678 13:00"), four dotted groups of one to three digits (an IPv4 address).

Reading is linear in the length of the text.  Pure: no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator

# Separators allowed in a row between two digits of one number (invisible characters
# not counted): enough for " - " or "\r\n", not for the padding of a table column.
MAX_SEPARATORS = 3

_KANJI_DIGITS = {"〇": "0", "零": "0", "一": "1", "二": "2", "三": "3", "四": "4",
                 "五": "5", "六": "6", "七": "7", "八": "8", "九": "9"}


def _ranges(*spans: tuple[int, int]) -> str:
    return "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
                   for a, b in spans)


def _chars(chars: Iterable[str]) -> str:
    return "".join(re.escape(c) for c in chars)


# Invisible: every format character (category Cf), controls other than line breaks and
# tab, the combining marks used to decorate symbols and digits, variation selectors,
# and the Hangul fillers that render as nothing.
_INVISIBLE = _ranges(
    (0x00, 0x08), (0x0E, 0x1F), (0x7F, 0x84), (0x86, 0x9F), (0xAD, 0xAD),
    (0x300, 0x36F), (0x600, 0x605), (0x61C, 0x61C), (0x6DD, 0x6DD), (0x70F, 0x70F),
    (0x890, 0x891), (0x8E2, 0x8E2), (0x115F, 0x1160), (0x180B, 0x180F),
    (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF), (0x200B, 0x200F), (0x202A, 0x202E),
    (0x2060, 0x206F), (0x20D0, 0x20FF), (0x3164, 0x3164), (0xFE00, 0xFE0F),
    (0xFE20, 0xFE2F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD), (0x110CD, 0x110CD), (0x13430, 0x13438), (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A), (0xE0001, 0xE0001), (0xE0020, 0xE007F), (0xE0100, 0xE01EF),
)
_LINE_BREAKS = "\n\r\x0b\x0c\x85\u2028\u2029"
_SPACES = " \u00a0\u1680\u202f\u205f\u3000" + "".join(map(chr, range(0x2000, 0x200B)))
# Dash punctuation (category Pd) and the characters typed or converted as a dash.
_DASHES = ("-\u058a\u05be\u1400\u1806\u2010\u2011\u2012\u2013\u2014\u2015\u2e17\u2e1a"
           "\u2e3a\u2e3b\u2e40\u2e5d\u301c\u3030\u30a0\ufe31\ufe32\ufe58\ufe63\uff0d"
           "\U00010ead"
           "\u2212\u2043\u2053\u30fc\uff70~\uff5e")
_DOTS = ".\u00b7\u2022\u2027\u2219\u22c5\u30fb\uff65\u3002\uff61\uff0e"
_SLASHES = "/\u2044\u2215\uff0f"
_SEPARATORS = _LINE_BREAKS + _SPACES + _DASHES + _DOTS + _SLASHES

_I = f"[{_INVISIBLE}]"
_D = r"\d"  # any Unicode decimal digit: str patterns are not ASCII-only
_K = f"[{_chars(_KANJI_DIGITS)}]"


def _run(digit: str, separator: str) -> str:
    """Twelve or more ``digit`` joined by gaps of at most MAX_SEPARATORS ``separator``.

    Only from the first digit of a run: the lookbehinds refuse a digit that a digit
    before it reaches through a plain gap, so the digits of short numbers (most of
    them) do not each start a search of their own.  The quantifiers are possessive:
    digits, separators and invisible characters are disjoint classes, so giving back
    never helps a match.
    """
    gap = f"{_I}*+(?:{separator}{_I}*+){{0,{MAX_SEPARATORS}}}+"
    not_inside = "".join(f"(?<!{digit}{separator * k}{digit})" for k in range(MAX_SEPARATORS + 1))
    return f"{digit}{not_inside}(?:{gap}{digit}){{11,}}+"


# Runs of decimal digits (where 一 is a dash) or of kanji numerals.
_SEP_DECIMAL = f"[{_chars(_SEPARATORS)}一]"
_SEP_KANJI = f"[{_chars(_SEPARATORS)}]"
_RUNS = re.compile(f"(?P<decimal>{_run(_D, _SEP_DECIMAL)})|(?P<kanji>{_run(_K, _SEP_KANJI)})")
_STRIP_INVISIBLE = re.compile(f"{_I}+")
_SPLIT_DECIMAL = re.compile(f"({_SEP_DECIMAL}+)")
_SPLIT_KANJI = re.compile(f"({_SEP_KANJI}+)")
_IPV4_GROUP = re.compile(r"\d{1,3}")
_LINE_BREAK = re.compile(f"[{_chars(_LINE_BREAKS)}]")
# Gaps that set numbers side by side rather than split one: spaces (not line breaks)
# or a single dot.
_PLAIN_GAP = re.compile(f"[^\\S{_chars(_LINE_BREAKS)}]+|\\.")
_FIELD_ENDS = (",", "\t")


# The weight Qn of the n-th digit from the right is n + 1 for n <= 6 and n - 5 above;
# written here left to right, as the digits are read.
_WEIGHTS = (6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def check_digit(first11: str) -> int:
    """The check digit for the first eleven digits of a My Number."""
    r = sum(int(ch) * q for ch, q in zip(first11, _WEIGHTS, strict=True)) % 11
    return 0 if r <= 1 else 11 - r


def is_valid(number: str) -> bool:
    return len(number) == 12 and number.isascii() and number.isdigit() and \
        check_digit(number[:11]) == int(number[11])


def find(text: str) -> list[str]:
    """Valid My Numbers in ``text`` as 12 ASCII digits, in order, as often as they occur.

    For tests and for code that must compare numbers; anything shown or recorded
    takes :func:`find_my_numbers` instead.
    """
    folded = unicodedata.normalize("NFKC", text)
    hits = []
    for m in _RUNS.finditer(folded):
        for number in _read_run(folded, m):
            if is_valid(number):
                hits.append(number)
    return hits


def find_my_numbers(text: str) -> list[str]:
    """The My Numbers in ``text``, masked, each once, in order of first appearance.

    Works on text of any size (a message, a file name, the text of a CSV) in time
    linear in its length.
    """
    return [mask(n) for n in dict.fromkeys(find(text))]


def mask(number: str) -> str:
    """For messages and logs: never repeat the whole number."""
    return "********" + number[-4:]


def _read_run(folded: str, m: re.Match[str]) -> Iterator[str]:
    """The twelve-digit numbers (ASCII) that a run reads as."""
    run = m.group()
    if len(run) == 12 and run.isascii():  # twelve plain digits, as in most CSV cells
        groups, gaps = [run], []
    else:
        split = _SPLIT_KANJI if m.lastgroup == "kanji" else _SPLIT_DECIMAL
        parts = split.split(_STRIP_INVISIBLE.sub("", run))
        groups, gaps = parts[0::2], parts[1::2]
    start, stop = m.span()
    before, after = folded[max(start - 2, 0):start], folded[stop:stop + 2]
    first, end = 0, len(groups)
    # An hour or minute ("13:00", "12:00") is a time next to the run, not part of it.
    if after[:1] == ":" and after[1:].isdigit():
        end -= 1
    if before[-1:] == ":" and before[:1].isdigit():
        first += 1
    cells = [(first, end)]
    # Next to a comma or tab the text is a table, and a line break ends a row: a row
    # ending in a phone number must not join the next row's row number.
    if gaps and (before[-1:] in _FIELD_ENDS or after[:1] in _FIELD_ENDS) and \
            any(_LINE_BREAK.search(g) for g in gaps[first:end - 1]):
        cells = list(_cut_at_line_breaks(gaps, first, end))
    for cell_first, cell_end in cells:
        for a, b in _windows(groups, gaps, cell_first, cell_end):
            if a == 0 and before[-1:] == "+":  # an international phone number
                continue
            if b - a == 4 and all(gaps[i] == "." for i in range(a, b - 1)) and \
                    all(_IPV4_GROUP.fullmatch(g) for g in groups[a:b]):
                continue
            if not _split_evenly(groups[a:b], gaps[a:b - 1]):
                continue
            yield _ascii("".join(groups[a:b]))


def _split_evenly(groups: list[str], gaps: list[str]) -> bool:
    """Whether twelve digits in these groups read as one number: written whole, split
    into groups of one size (4-4-4 as on the card, one digit at a time, 6-6, …), or
    joined by anything but plain spaces and dots.  Numbers of different lengths that
    only spaces or dots set apart ("280771 80 1580": a time, a room, a count) are
    several numbers: reading them as one would hold back one such line in ten."""
    if len({len(g) for g in groups}) == 1:
        return True
    return not all(_PLAIN_GAP.fullmatch(_STRIP_INVISIBLE.sub("", g)) for g in gaps)


def _cut_at_line_breaks(gaps: list[str], first: int, end: int) -> Iterator[tuple[int, int]]:
    for i in range(first, end - 1):
        if _LINE_BREAK.search(gaps[i]):
            yield first, i + 1
            first = i + 1
    yield first, end


def _windows(groups: list[str], gaps: list[str], first: int, end: int) -> Iterator[tuple[int, int]]:
    """Slices [a, b) of whole groups holding twelve digits that are set off from their
    neighbours: the gap before and after (where there is one) does not occur inside.

    ``gaps[i]`` lies between ``groups[i]`` and ``groups[i + 1]``.  Two pointers over the
    groups; a window holds at most twelve groups, so this is linear.
    """
    b, digits = first, 0
    for a in range(first, end):
        while b < end and digits < 12:
            digits += len(groups[b])
            b += 1
        if digits == 12:
            inside = gaps[a:b - 1]
            before = gaps[a - 1] if a > first else None
            after = gaps[b - 1] if b < end else None
            if before not in inside and after not in inside:
                yield a, b
        digits -= len(groups[a])


def _ascii(digits: str) -> str:
    if digits.isascii():
        return digits
    return "".join(_KANJI_DIGITS.get(c) or str(unicodedata.decimal(c)) for c in digits)
