"""Text normalisation: what every message body and room name goes through.

A body is NFC-normalised, stripped of C0/C1 control characters (except newline and
tab) and of bidi embedding/override/isolate characters (U+202A-U+202E,
U+2066-U+2069: the "Trojan Source" trick that makes a file name or a URL read
differently from what it is), trimmed, and then length-checked in characters.
Pure: no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from policy import mynumber
from policy.config import PolicyConfig
from policy.errors import Forbidden, InvalidText

# Room names are shown in lists and titles; they need far less than a message.
MAX_NAME_CHARS = 100

_KEEP_CONTROLS = "\n\t"
# C0 (U+0000-U+001F) and DEL + C1 (U+007F-U+009F) except \n and \t, and the bidi
# embeddings/overrides (U+202A-202E) and isolates (U+2066-2069).
_REMOVE = re.compile(
    "[" + "".join(
        re.escape(chr(c)) for c in [*range(0x00, 0x20), *range(0x7F, 0xA0)]
        if chr(c) not in _KEEP_CONTROLS
    ) + "\u202a-\u202e\u2066-\u2069]"
)


def normalise(text: str) -> str:
    """NFC, controls and bidi overrides removed, surrounding whitespace stripped.

    CRLF and lone CR become LF first, so a Windows client's line ends survive as line
    ends instead of vanishing with the other controls.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    # NFC after removal too: removing a control between a base and a combining mark
    # can create a new composable pair.
    return unicodedata.normalize("NFC", _REMOVE.sub("", unicodedata.normalize("NFC", text))).strip()


def _limited(text: str, limit: int, what_ja: str, what_en: str,
             codes: tuple[str, str]) -> str:
    """``text`` normalised, refused with ``codes`` (empty, too long) as it fails."""
    empty, too_long = codes
    out = normalise(text)
    if not out:
        raise InvalidText(f"{what_ja}が空です / empty {what_en}", code=empty)
    if len(out) > limit:
        raise InvalidText(
            f"{what_ja}が長すぎます（最大 {limit} 文字） / {what_en} too long (max {limit} characters)",
            code=too_long, limit=limit, length=len(out),
        )
    return out


def message_body(text: str, cfg: PolicyConfig) -> str:
    """The stored form of a message body; InvalidText ``empty_message`` or
    ``message_too_long`` (details: limit, length)."""
    return _limited(text, cfg.max_message_chars, "メッセージ", "message",
                    ("empty_message", "message_too_long"))


def room_name(text: str) -> str:
    """The stored form of a room name; InvalidText ``empty_name`` or ``name_too_long``."""
    return _limited(text, MAX_NAME_CHARS, "ルーム名", "room name", ("empty_name", "name_too_long"))


@dataclass(frozen=True, slots=True)
class Outbound:
    """What the outbound checks found in a text on its way from LGWAN to the internet."""

    verdict: Literal["allow", "warn", "block"]
    masked: tuple[str, ...] = ()  # My Numbers found, masked (never the whole number), each once

    def enforce(self) -> None:
        """Forbidden ``my_number_blocked`` if the verdict is block."""
        if self.verdict == "block":
            raise Forbidden("個人番号（マイナンバー）を含むため送信できません / the message "
                            "contains a My Number and may not leave LGWAN",
                            code="my_number_blocked", found=list(self.masked))


def scan_outbound(body: str, cfg: PolicyConfig) -> Outbound:
    """Outbound checks for text that internet-zone readers may receive.

    ``body`` is read however its digits are spelled (see policy.mynumber) and is not
    changed; what is found is reported masked, each number once.
    """
    if cfg.my_number_outbound == "allow":
        return Outbound("allow")
    masked = mynumber.find_my_numbers(body)
    if not masked:
        return Outbound("allow")
    return Outbound(cfg.my_number_outbound, tuple(masked))
