"""policy.mynumber: a 個人番号 is found however it is spelled, and look-alikes are not.

The tables spell one valid number, N = 1234 5678 9018, in the ways people (and people
trying to get past the check) write it, and list the numbers of daily work that must
pass: phone numbers, dates, amounts, invoice and account numbers.  Most look-alikes
are built so that their twelve digits *do* carry a valid check digit, so that it is
the reading rule, not luck, that lets them through.
"""

from __future__ import annotations

import re

import sys
import unicodedata

import pytest
from hypothesis import assume, given, strategies as st

from policy import mynumber, text
from policy.config import PolicyConfig

N = "123456789018"
MASKED = "********9018"


def valid(first11: str) -> str:
    """``first11`` completed with its check digit."""
    return first11 + str(mynumber.check_digit(first11))


def digits_in(script_zero: str, number: str = N) -> str:
    """``number`` in the decimal digits that start at ``script_zero``."""
    return "".join(chr(ord(script_zero) + int(d)) for d in number)


def joined(sep: str, groups: tuple[int, ...] = (4, 4, 4), number: str = N) -> str:
    out, i = [], 0
    for g in groups:
        out.append(number[i:i + g])
        i += g
    return sep.join(out)


KANJI = str.maketrans("0123456789", "〇一二三四五六七八九")
PER_DIGIT = (1,) * 12

FOUND = {
    # Today's spellings still count.
    "plain": N,
    "hyphens": joined("-"),
    "spaces": joined(" "),
    "fullwidth": digits_in("０"),
    # Every kind of dash, and spaced dashes.
    "katakana ー": joined("ー"),
    "halfwidth ｰ": joined("ｰ"),
    "fullwidth hyphen": joined("－"),
    "hyphen U+2010": joined("\u2010"),
    "non-breaking hyphen": joined("\u2011"),
    "figure dash": joined("\u2012"),
    "en dash": joined("–"),
    "em dash": joined("—"),
    "horizontal bar": joined("―"),
    "minus sign": joined("−"),
    "wave dash": joined("〜"),
    "fullwidth tilde": joined("～"),
    "small hyphen": joined("﹣"),
    "spaced hyphen": joined(" - "),
    "spaced ー": joined(" ー "),
    "spaced em dash": joined("\u3000—\u3000"),
    # Dots, middle dots, slashes.
    "dots": joined("."),
    "fullwidth dots": joined("．"),
    "katakana middle dot": joined("・"),
    "halfwidth middle dot": joined("･"),
    "latin middle dot": joined("·"),
    "ideographic full stop": joined("。"),
    "slashes": joined("/"),
    # Spaces of every kind and line breaks.
    "ideographic space": joined("\u3000"),
    "no-break space": joined("\u00a0"),
    "thin space": joined("\u2009"),
    "narrow no-break space": joined("\u202f"),
    "line feed": joined("\n"),
    "crlf": joined("\r\n"),
    "blank line": joined("\n\n"),
    "line separator": joined("\u2028"),
    "break at an odd place": joined("\n", (5, 7)),
    # A separator after every digit.
    "hyphen per digit": joined("-", PER_DIGIT),
    "space per digit": joined(" ", PER_DIGIT),
    "ー per digit": joined("ー", PER_DIGIT),
    # Invisible characters: they are not there at all.
    "zero-width space per digit": joined("\u200b", PER_DIGIT),
    "zero-width joiner": joined("\u200d"),
    "zero-width non-joiner": joined("\u200c"),
    "word joiner": joined("\u2060"),
    "byte order mark": joined("\ufeff"),
    "soft hyphen": joined("\u00ad"),
    "bidi marks": joined("\u200e\u200f"),
    "variation selector": joined("\ufe0f", PER_DIGIT),
    "keycap emoji": joined("\ufe0f\u20e3", PER_DIGIT) + "\ufe0f\u20e3",
    "hangul filler": joined("\u3164"),
    "invisible inside a separator": joined("-\u200b-"),
    # Mixed separators.
    "ー then spaced hyphen": "1234ー5678 - 9018",
    "everything at once": "12\u200b34ー56\u00ad78\n9・0\u200d18",
    # Digits in other scripts, and mixed scripts.
    "arabic-indic": digits_in("\u0660"),
    "extended arabic-indic": digits_in("\u06f0"),
    "devanagari": digits_in("\u0966"),
    "bengali": digits_in("\u09e6"),
    "thai": digits_in("\u0e50"),
    "mathematical bold": digits_in("\U0001d7ce"),
    "fullwidth and ascii": "１２３４5678９０１８",
    "arabic-indic with ー": joined("ー", number=digits_in("\u0660")),
    "superscripts": "¹²³⁴⁵⁶⁷⁸⁹⁰¹⁸",
    # Kanji numerals, and kanji 一 used as a dash between digits.
    "kanji": N.translate(KANJI),
    "kanji with 零": N.translate(KANJI).replace("〇", "零"),
    "kanji with ー": joined("ー", number=N.translate(KANJI)),
    "kanji 一 as dash": joined("一"),
    # In sentences, tables and lists.
    "in a sentence": "私の番号は１２３４ー５６７８ー９０１８です。",
    "after a colon": "個人番号：1234-5678-9018",
    "followed by a year": "1234-5678-9018 2026年度分",
    "followed by a word in kanji numerals": N + "一覧",
    "numbered list": "1. 1234 5678 9018",
    "after a time": "12:00 1234 5678 9018",
    "csv row then the next row's number": f"1,山田太郎,{N}\n2,佐藤花子,",
    "tsv cell": f"山田\t{joined('-')}\t2026/04/01",
    "quoted csv cell over lines": f'"{joined(chr(10))}",山田',
    "after another number on the same line": "03-1234-5678 1234-5678-9018",
}

LOOK_ALIKES = {
    # Phone numbers, including an international one whose digits pass the check.
    "landline": "03-1234-5678",
    "mobile": "090-1234-5678",
    "international": "+81 90 1234 " + valid("81901234567")[8:],
    "international with hyphens": "+81-90-1234-" + valid("81901234567")[8:],
    "phone then opening hours": "TEL 03-1234-5678 13:00〜17:00",  # 031234567813 is valid
    "two phone numbers": "03-1234-5678／03-1234-5679",
    "address then phone": "千代田区1-2-3\n03-1234-5678",
    "postal code": "〒100-0001 東京都千代田区",
    # A line break in a table ends a row: the last cell must not join the next row's
    # first (031234000210 and 090123450042 are valid).
    "csv row ending in a phone": "1,山田,03-1234-0002\n10,佐藤,03-1234-0003",
    "tsv row ending in a mobile": "山田\t090-1234-5004\n2\t佐藤",
    # Dates and times.
    "iso date": "2026-12-03",
    "era date": "令和8年12月3日",
    "date and time": "2026/12/03 12:00",
    "date range": "2026/12/03-2026/12/10",
    # Amounts: commas end a number, so a grouped amount never joins up to twelve digits.
    "ten-digit amount": "1,234,567,890円",
    "twelve-digit amount with a valid check digit": "123,456,789,018円",
    "twelve-digit amount with a wrong check digit": "123456789013円",
    # Longer numbers.
    "invoice number": f"T{N}0",
    "invoice number, hyphenated": "T1-2345-6789-0180",
    "thirteen digits": "9" + N,
    "uniformly grouped longer number": joined("-", (4, 4, 4, 1), N + "1"),
    "card number containing N": joined(" ", (4, 4, 4, 4), N + "3456"),
    "bank account": "0001-123-1234567",
    "bank account in words": "みずほ銀行 本店 普通 1234567",
    # Twelve digits that are not a 個人番号.
    "wrong check digit": "123456789013",
    "wrong check digit, evasively spelled": "１２３４ー５６７８ー９０１３",
    "wrong check digit in kanji": "一二三四五六七八九〇一三",
    "ip address": "192.168.100." + valid("19216810020")[9:],
    "ordinary kanji": "一般会計の一部を二月に三件",
}

# What ends a number: a value separator, a long gap, a change of digit kind.  These are
# deliberate limits of the reading, listed so that changing one is a visible decision.
ENDS_A_NUMBER = {
    "commas (CSV fields, thousands)": joined(","),
    "ideographic commas": joined("、"),
    "tabs (TSV fields)": joined("\t"),
    "colons (times)": joined(":"),
    "more than three separators": joined("    "),
    "kanji mixed with other digits": "1234五六七八9018",
    "a leading plus (international phone)": "+" + joined(" "),
}


@pytest.mark.parametrize("spelling", FOUND.values(), ids=FOUND.keys())
def test_every_spelling_of_a_my_number_is_found(spelling: str) -> None:
    assert mynumber.find(spelling) == [N]
    assert mynumber.find_my_numbers(f"番号は{spelling}です") == [MASKED]


@pytest.mark.parametrize("spelling", FOUND.values(), ids=FOUND.keys())
def test_every_spelling_is_blocked_leaving_lgwan_and_only_masked(spelling: str) -> None:
    out = text.scan_outbound(spelling, PolicyConfig(my_number_outbound="block"))
    assert out.verdict == "block" and out.masked == (MASKED,)


@pytest.mark.parametrize("body", LOOK_ALIKES.values(), ids=LOOK_ALIKES.keys())
def test_look_alikes_pass(body: str) -> None:
    assert mynumber.find(body) == []
    assert text.scan_outbound(body, PolicyConfig()).verdict == "allow"


@pytest.mark.parametrize("body", ENDS_A_NUMBER.values(), ids=ENDS_A_NUMBER.keys())
def test_what_ends_a_number(body: str) -> None:
    assert mynumber.find(body) == []


def test_look_alikes_are_not_passed_by_luck() -> None:
    # These look-alikes hold twelve digits in a row with a valid check digit: they pass
    # because of how the text is read, not because the check digit failed.
    joins = {"international": valid("81901234567"), "phone then opening hours": "031234567813",
             "ip address": valid("19216810020"), "twelve-digit amount with a valid check digit": N,
             "csv row ending in a phone": "031234000210", "tsv row ending in a mobile": "090123450042",
             "card number containing N": N}
    for name, digits in joins.items():
        assert mynumber.is_valid(digits), name
        assert digits in "".join(ch for ch in LOOK_ALIKES[name] if ch.isdigit()), name


def _category(*cats: str) -> list[str]:
    return [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) in cats]


def test_every_dash_space_and_line_separator_joins_digits() -> None:
    # The separator lists are written out; this keeps them complete for the Unicode
    # version in use (dash punctuation, spaces, line and paragraph separators).
    missed = [f"U+{ord(ch):04X}" for ch in _category("Pd", "Zs", "Zl", "Zp")
              if mynumber.find(joined(ch)) != [N]]
    assert missed == []


def test_every_format_character_is_invisible() -> None:
    missed = [f"U+{ord(ch):04X}" for ch in _category("Cf")
              if mynumber.find(joined(ch, PER_DIGIT)) != [N]]
    assert missed == []


def test_every_decimal_digit_script_is_read() -> None:
    zeros = [ch for ch in _category("Nd") if unicodedata.decimal(ch) == 0]
    missed = [f"U+{ord(z):04X}" for z in zeros if mynumber.find(digits_in(z)) != [N]]
    assert len(zeros) > 60 and missed == []


def test_several_numbers_in_order_each_once() -> None:
    other = valid("98765432109")
    body = f"{joined('ー')}と{other}、もう一度 {N}"
    assert mynumber.find(body) == [N, other, N]
    assert mynumber.find_my_numbers(body) == [MASKED, mynumber.mask(other)]


def test_the_scanned_text_is_not_changed() -> None:
    body = "番号は１２３４\u200bー５６７８ー９０１８です"
    out = text.scan_outbound(body, PolicyConfig(my_number_outbound="warn"))
    assert out.verdict == "warn" and out.masked == (MASKED,)
    assert text.message_body(body, PolicyConfig()) == body


def test_long_text_with_many_numbers() -> None:
    # A CSV of the kind the file check extracts: one number per row.
    rows = [f"{i},職員{i},{valid(f'{i:011d}')},03-1234-{i % 10000:04d}" for i in range(5000)]
    found = mynumber.find("\n".join(rows))
    assert found == [valid(f"{i:011d}") for i in range(5000)]


@pytest.mark.parametrize("body", [
    "1 " * 100_000, "1\u200b" * 100_000, "1-" * 100_000, "1" * 200_000,
    ("1" + " " * 4) * 40_000, "1234-5678-901 " * 15_000, ("12" + "\u200b" * 50) * 4000,
])
def test_adversarial_text_is_read_in_linear_time(body: str) -> None:
    # Long runs of digits and separators: quadratic reading would not finish.
    mynumber.find(body)


SEPARATORS = [" ", "-", "ー", "–", "—", "・", ".", "/", "\u3000", "\n", "〜", " - "]
INVISIBLE = ["", "", "", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]
SCRIPTS = ["0", "０", "\u0660", "\u06f0", "\u0966"]


@st.composite
def spellings(draw: st.DrawFn, number: str) -> str:
    """``number`` with a separator (or none) and invisible characters between digits,
    each digit in some script."""
    out = []
    for i, d in enumerate(number):
        out.append(chr(ord(draw(st.sampled_from(SCRIPTS))) + int(d)))
        if i < len(number) - 1:
            out.append(draw(st.sampled_from(INVISIBLE)))
            if draw(st.booleans()):
                out.append(draw(st.sampled_from(SEPARATORS)))
            out.append(draw(st.sampled_from(INVISIBLE)))
    return "".join(out)


@given(st.text(alphabet="0123456789", min_size=11, max_size=11).flatmap(
    lambda first11: st.tuples(st.just(valid(first11)), spellings(valid(first11)))))
def test_any_spelling_of_any_number_is_found(case: tuple[str, str]) -> None:
    number, spelling = case
    # Digit groups of different sizes set apart by nothing but spaces or dots are
    # numbers side by side, by rule (test_numbers_side_by_side_are_not_one_number).
    groups = re.split(PLAIN_OR_OTHER, re.sub(INVISIBLE_RE, "", spelling))
    assume(not (len({len(g) for g in groups[0::2]}) > 1
                and all(re.fullmatch(PLAIN, g) for g in groups[1::2])))
    assert mynumber.find(f"番号は{spelling}です。") == [number]


PLAIN = r"[ \u3000]+|\."
PLAIN_OR_OTHER = "(" + "|".join(re.escape(x) for x in sorted(SEPARATORS, key=len, reverse=True)) + ")"
INVISIBLE_RE = "[\u200b\u200c\u200d\u2060\ufeff\u00ad]"


@pytest.mark.parametrize("text", [
    "28158.280771 80 1580 本文",  # a time, a room and a count on one line
    "280771 80 1580", "2026 12 03 9018 のご案内", "会議 1 階 10 名 3800 円 1234",
])
def test_numbers_side_by_side_are_not_one_number(text: str) -> None:
    digits = "".join(c for c in text if c.isdigit())
    assert mynumber.find(text) == []
    if len(digits) == 12:
        assert mynumber.find(digits) in ([], [digits])  # whole, they could be one


@given(st.text(alphabet="0123456789", min_size=11, max_size=11).flatmap(
    lambda first11: spellings(first11 + str((mynumber.check_digit(first11) + 1) % 10))))
def test_no_spelling_of_a_wrong_check_digit_is_found(spelling: str) -> None:
    assert mynumber.find(f"番号は{spelling}です。") == []
