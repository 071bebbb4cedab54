"""What a poll (アンケート), a schedule adjustment (日程調整) and a roll call (参集確認)
may hold: every limit named here once, and the pure checks that enforce them.

Texts are normalised like a message body (``policy.text.normalise``) and refused with
a stable code when empty, too long, repeated or too many; times are RFC 3339 with an
offset, inside a sane range; numbers are plain integers inside their range.  Nothing
here does I/O: ``now`` comes in as an argument.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Sequence

from policy.errors import Invalid, InvalidText
from policy.text import normalise

# A question or a title is a line or two; an option or a slot label a few words.
MAX_TITLE_CHARS = 200
MAX_OPTION_CHARS = 100
MAX_COMMENT_CHARS = 500
# A poll of 10,000 options is an attack, not a question.
MAX_POLL_OPTIONS = 50
MIN_POLL_OPTIONS = 2
MAX_ROLLCALL_OPTIONS = 10
MIN_ROLLCALL_OPTIONS = 2
MAX_SLOTS = 30
# The roll call's answer to "when can you be here": at most a day away.
MAX_ETA_MINUTES = 24 * 60
# Times a slot or a deadline may name: from 2000 to the end of 2099 (a year 9999 is
# a typo or a probe, and a time before 2000 cannot be a meeting to come).
EARLIEST_TS = 946_684_800.0  # 2000-01-01T00:00:00Z
LATEST_TS = 4_102_444_800.0  # 2100-01-01T00:00:00Z
# A deadline is at most this far ahead.
MAX_DEADLINE_S = 366 * 86400.0
# Seconds between two reminders of the same roll call.
REMIND_INTERVAL_S = 60.0

DEFAULT_ROLLCALL_OPTIONS = ("参集可", "遅れて参集", "参集不可")
ANSWERS = ("yes", "maybe", "no")
Answer = Literal["yes", "maybe", "no"]
FILLED_NOTICE = ("必要な人数が揃いました。これから参集する必要はありません / enough members "
                 "are coming; you need not come")


def _text(value: str, limit: int, what_ja: str, what_en: str, field: str,
          codes: tuple[str, str]) -> str:
    out = normalise(value)
    if not out:
        raise InvalidText(f"{what_ja}が空です / empty {what_en}", code=codes[0], field=field)
    if len(out) > limit:
        raise InvalidText(f"{what_ja}が長すぎます（最大 {limit} 文字） / {what_en} too long "
                          f"(max {limit} characters)", code=codes[1], field=field,
                          limit=limit, length=len(out))
    return out


def title(value: str, field: str = "title") -> str:
    """A poll's question, a schedule's or a roll call's title."""
    return _text(value, MAX_TITLE_CHARS, "タイトル", "title", field,
                 ("empty_title", "title_too_long"))


def comment(value: str | None) -> str:
    """An answer's comment ("" when none); only its length is limited."""
    if value is None:
        return ""
    out = normalise(value)
    if len(out) > MAX_COMMENT_CHARS:
        raise InvalidText(f"コメントが長すぎます（最大 {MAX_COMMENT_CHARS} 文字） / comment too "
                          f"long (max {MAX_COMMENT_CHARS} characters)", code="comment_too_long",
                          limit=MAX_COMMENT_CHARS, length=len(out))
    return out


def options(values: Sequence[str], lo: int, hi: int, field: str = "options") -> list[str]:
    """Option labels: ``lo``..``hi`` of them, each non-empty, short and different from
    the others (after normalising, so "はい" and "はい " are the same option)."""
    if len(values) > hi:
        raise Invalid(f"選択肢は {hi} 個までです / at most {hi} options",
                      code="too_many_options", limit=hi, count=len(values))
    if len(values) < lo:
        raise Invalid(f"選択肢は {lo} 個以上必要です / at least {lo} options",
                      code="too_few_options", limit=lo, count=len(values))
    out: list[str] = []
    for i, value in enumerate(values):
        label = _text(value, MAX_OPTION_CHARS, "選択肢", "option", f"{field}[{i}]",
                      ("empty_option", "option_too_long"))
        if label in out:
            raise Invalid(f"同じ選択肢が 2 つあります: {label} / duplicate option",
                          code="duplicate_option", field=f"{field}[{i}]")
        out.append(label)
    return out


def parse_time(raw: str, field: str) -> float:
    """An RFC 3339 time with an offset (``Z`` or ``+09:00``) as a timestamp, inside
    ``EARLIEST_TS``..``LATEST_TS``; Invalid ``invalid_time`` otherwise."""
    try:
        when = datetime.fromisoformat(raw)
        ok = when.tzinfo is not None and len(raw) <= 40 and "T" in raw
        ts = when.timestamp() if ok else math.nan
    except (ValueError, OverflowError):
        ts = math.nan
    if not EARLIEST_TS <= ts < LATEST_TS:  # NaN fails too
        raise Invalid(f"{field}: 2000〜2099 年の日時をタイムゾーン付きで指定してください / "
                      f"{field}: an RFC 3339 time with an offset, years 2000 to 2099",
                      code="invalid_time", field=field)
    return ts


def deadline(raw: str | None, now: float) -> float | None:
    """``closes_at``: a time after now, at most ``MAX_DEADLINE_S`` ahead."""
    if raw is None:
        return None
    ts = parse_time(raw, "closes_at")
    if not now < ts <= now + MAX_DEADLINE_S:
        raise Invalid("締切は現在から 1 年以内の未来にしてください / closes_at must be in the "
                      "future, within a year", code="invalid_time", field="closes_at")
    return ts


@dataclass(frozen=True, slots=True)
class Slot:
    """A candidate time of a schedule adjustment, checked."""

    start: float
    end: float | None
    label: str


def slots(values: Sequence[Any]) -> list[Slot]:
    """Candidate slots: 1..``MAX_SLOTS``, each a start (an end after it, a label
    optional), no two alike.  ``values`` are dicts already read by the caller's shape
    reader: {"start": str, "end": str | None, "label": str | None}."""
    if not values:
        raise Invalid("候補日時が必要です / at least one slot", code="too_few_slots")
    if len(values) > MAX_SLOTS:
        raise Invalid(f"候補日時は {MAX_SLOTS} 個までです / at most {MAX_SLOTS} slots",
                      code="too_many_slots", limit=MAX_SLOTS, count=len(values))
    out: list[Slot] = []
    for i, v in enumerate(values):
        start = parse_time(v["start"], f"slots[{i}].start")
        end = None if v.get("end") is None else parse_time(v["end"], f"slots[{i}].end")
        if end is not None and end <= start:
            raise Invalid("終了は開始より後にしてください / a slot ends after it starts",
                          code="invalid_slot", field=f"slots[{i}].end")
        label = "" if v.get("label") is None else _text(
            v["label"], MAX_OPTION_CHARS, "候補のラベル", "slot label", f"slots[{i}].label",
            ("empty_option", "option_too_long"))
        slot = Slot(start, end, label)
        if slot in out:
            raise Invalid("同じ候補日時が 2 つあります / duplicate slot", code="invalid_slot",
                          field=f"slots[{i}]")
        out.append(slot)
    return out


def needed(value: int | None, members: int) -> int | None:
    """A roll call's ``needed``: 1..the room's members."""
    if value is not None and not 1 <= value <= members:
        raise Invalid(f"必要人数は 1〜{members} 人です / needed must be 1 to {members}",
                      code="invalid_needed", limit=members)
    return value


def eta_minutes(value: int | None) -> int | None:
    if value is not None and not 0 <= value <= MAX_ETA_MINUTES:
        raise Invalid(f"到着までの時間は 0〜{MAX_ETA_MINUTES} 分です / eta_minutes must be "
                      f"0 to {MAX_ETA_MINUTES}", code="invalid_eta", limit=MAX_ETA_MINUTES)
    return value
