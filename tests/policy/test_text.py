"""policy.text: what a message body becomes before it is stored and fanned out."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, strategies as st

from policy import mynumber, text
from policy.config import PolicyConfig
from policy.errors import Forbidden, InvalidText

CFG = PolicyConfig(max_message_chars=20)
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def test_nfc_composes_decomposed_kana() -> None:
    # "が" typed as か + combining dakuten (as macOS file names arrive) is stored as one char.
    assert text.message_body("\u304b\u3099", CFG) == "\u304c"


def test_controls_removed_but_newline_and_tab_kept() -> None:
    assert text.normalise("a\x00b\x07c\x1bd\x7fe\x85f\x9fg\n\th") == "abcdefg\n\th"


def test_crlf_becomes_newline() -> None:
    assert text.normalise("一行目\r\n二行目\r三行目") == "一行目\n二行目\n三行目"


def test_trojan_source_bidi_overrides_removed() -> None:
    # "invoice_\u202egpj.exe" would display as "invoice_exe.jpg".
    assert text.normalise("invoice_\u202egpj.exe") == "invoice_gpj.exe"
    assert text.normalise("".join(BIDI) + "x") == "x"


def test_outer_whitespace_stripped() -> None:
    assert text.message_body("  \n こんにちは \t\n", CFG) == "こんにちは"


@pytest.mark.parametrize("body", ["", "   ", "\n\t", "\u202e\x00", "\u3000"])
def test_empty_after_normalising_is_refused(body: str) -> None:
    with pytest.raises(InvalidText) as exc:
        text.message_body(body, CFG)
    assert exc.value.code == "empty_message" and exc.value.status == 400


def test_length_limit_counts_characters_after_normalising() -> None:
    assert text.message_body("あ" * 20, CFG) == "あ" * 20
    # Removed characters do not count against the limit.
    assert text.message_body("あ" * 20 + "\u202e" * 50, CFG) == "あ" * 20
    with pytest.raises(InvalidText) as exc:
        text.message_body("あ" * 21, CFG)
    assert exc.value.code == "message_too_long"
    assert exc.value.details == {"limit": 20, "length": 21}


def test_room_names_have_their_own_codes() -> None:
    assert text.room_name(" 子育て支援課 ") == "子育て支援課"
    with pytest.raises(InvalidText) as exc:
        text.room_name("x" * (text.MAX_NAME_CHARS + 1))
    assert exc.value.code == "name_too_long"
    with pytest.raises(InvalidText) as exc:
        text.room_name("\x00")
    assert exc.value.code == "empty_name"


@given(st.text())
def test_normalised_text_is_stable_and_clean(s: str) -> None:
    out = text.normalise(s)
    assert text.normalise(out) == out  # idempotent: storing twice changes nothing
    assert unicodedata.is_normalized("NFC", out)
    for ch in out:
        assert ch in "\n\t" or not (ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0)
        assert ch not in BIDI


def _my_number(first11: str) -> str:
    return first11 + str(mynumber.check_digit(first11))


def test_outbound_my_number_block_warn_allow() -> None:
    n = _my_number("12345678901")
    body = f"番号は {n[:4]}-{n[4:8]}-{n[8:]} です"
    out = text.scan_outbound(body, PolicyConfig(my_number_outbound="block"))
    assert out.verdict == "block" and out.masked == ("********" + n[-4:],)
    with pytest.raises(Forbidden) as exc:
        out.enforce()
    assert exc.value.code == "my_number_blocked"
    assert n not in str(exc.value.details)  # never repeat the whole number
    warn = text.scan_outbound(body, PolicyConfig(my_number_outbound="warn"))
    assert warn.verdict == "warn"
    warn.enforce()
    assert text.scan_outbound(body, PolicyConfig(my_number_outbound="allow")).verdict == "allow"


def test_outbound_twelve_digits_without_check_digit_pass() -> None:
    n = _my_number("12345678901")
    wrong = n[:11] + str((int(n[11]) + 1) % 10)
    assert text.scan_outbound(f"口座 {wrong}", PolicyConfig()).verdict == "allow"
