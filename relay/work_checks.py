"""The checks that tasks, notes, location posts and phone memos share: the shape of
numbers, booleans and times in a request, the limits of their texts, the 個人番号
check of every text an internet member may read, and the send rate limit.  Pure
reads of a request's JSON object and of the clock; nothing is written here."""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from policy import text
from policy.errors import Invalid
from store.db import iso
from store.records import Room

from relay import errors
from relay.commands import Caller, Context
from relay.outbound import check_outbound
from relay.shapes import ID_RE, Fields

MAX_TITLE_CHARS = 200
# A date without a time is that day in Japan.
JST = timezone(timedelta(hours=9))
# Times a person gives (a due date, when a call came in) must be plausible: nothing
# before this, nothing further ahead than ``MAX_AHEAD``.
EARLIEST = datetime(2000, 1, 1, tzinfo=JST)
DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def title(raw: str) -> str:
    """A title (a task's, a note's): normalised, 1 to MAX_TITLE_CHARS characters."""
    out = text.normalise(raw)
    if not out:
        raise Invalid("タイトルが空です / empty title", code="empty_title", field="title")
    if len(out) > MAX_TITLE_CHARS:
        raise Invalid(f"タイトルが長すぎます（最大 {MAX_TITLE_CHARS} 文字） / title too long "
                      f"(max {MAX_TITLE_CHARS} characters)", code="title_too_long",
                      field="title", limit=MAX_TITLE_CHARS, length=len(out))
    return out


def limited(raw: str | None, field: str, limit: int, required: bool = False) -> str | None:
    """Any other text (a label, a memo's fields, a note's body): normalised, at most
    ``limit`` characters; empty is None unless ``required`` (then ``empty_text``)."""
    if raw is None and not required:
        return None
    out = text.normalise(raw or "")
    if not out:
        if required:
            raise Invalid(f"{field} が空です / {field} is empty", code="empty_text", field=field)
        return None
    if len(out) > limit:
        raise Invalid(f"{field} が長すぎます（最大 {limit} 文字） / {field} too long (max "
                      f"{limit} characters)", code="text_too_long", field=field, limit=limit,
                      length=len(out))
    return out


def number(f: Fields, name: str, lo: float, hi: float, required: bool = True) -> float | None:
    """A finite JSON number within [lo, hi].  Booleans, strings, NaN and Infinity
    (which Python's JSON parser accepts as literals) are refused, and so is a number
    too large for a float."""
    value = f.obj.get(name)
    if value is None:
        if required:
            raise errors.invalid_field(name, "a number", "missing")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise errors.invalid_field(name, "a number")
    try:
        as_float = float(value)
    except OverflowError:
        as_float = math.inf
    if not math.isfinite(as_float) or not lo <= as_float <= hi:
        raise errors.error("invalid_coordinates", {"field": name, "min": lo, "max": hi},
                           message=f"{name} は {lo}〜{hi} の数値です / {name} must be a "
                                   f"finite number from {lo} to {hi}")
    return as_float


def boolean(f: Fields, name: str, required: bool = True) -> bool | None:
    value = f.obj.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, bool):
        raise errors.invalid_field(name, "true or false", "missing" if value is None else
                                   "wrong_type")
    return value


def integer(f: Fields, name: str) -> int:
    value = f.obj.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**62:
        raise errors.invalid_field(name, "a positive integer",
                                   "missing" if value is None else "wrong_type")
    return value


def id_list(f: Fields, name: str, limit: int) -> tuple[str, ...]:
    """A list of account ids, each once, in the order given; at most ``limit``."""
    value = f.id_list(name)
    if len(value) > limit:
        raise errors.invalid_field(name, f"a list of at most {limit} ids")
    return tuple(dict.fromkeys(value))


def parse_when(raw: Any, field: str, now: float, ahead: timedelta, behind: timedelta | None,
               date_ok: bool) -> tuple[str, float]:
    """(the stored form, its timestamp) of a time a person gives: an RFC 3339 time with
    its offset (stored in UTC), or (``date_ok``) a date ``YYYY-MM-DD`` (kept as a date,
    that day in Japan).  Outside [now - ``behind`` (or
    2000-01-01), now + ``ahead``], or not a time: ``invalid_time``."""
    expected = "an RFC 3339 time with offset" + (", or a date YYYY-MM-DD" if date_ok else "")
    if not isinstance(raw, str) or len(raw) > 40:
        raise errors.error("invalid_time", {"field": field, "expected": expected})
    is_date = date_ok and DATE_RE.fullmatch(raw) is not None
    try:
        when = datetime.fromisoformat(raw)
        if is_date:
            when = when.replace(tzinfo=JST)
        elif when.tzinfo is None or DATE_RE.fullmatch(raw):
            raise ValueError(raw)
    except ValueError:
        raise errors.error("invalid_time", {"field": field, "expected": expected}) from None
    at = datetime.fromtimestamp(now, timezone.utc)
    earliest = EARLIEST if behind is None else at - behind
    if not earliest <= when <= at + ahead:
        raise errors.error("invalid_time", {"field": field, "earliest": iso(earliest.timestamp()),
                                            "latest": iso((at + ahead).timestamp())})
    ts = when.timestamp()
    return (raw if is_date else iso(ts)), ts


def account_id(f: Fields, name: str) -> str:
    value = f.obj.get(name)
    if not isinstance(value, str) or not ID_RE.fullmatch(value):
        raise errors.invalid_field(name, "an account id string",
                                   "missing" if value is None else "wrong_type")
    return value


async def check_texts_out(ctx: Context, caller: Caller, room: Room,
                          texts: Iterable[tuple[str | None, str]]) -> None:
    """The 個人番号 check of each (text, where) an internet member of the room may
    read, when written from LGWAN, one by one (so digits of two options never read as
    one number; ``where`` as the audit's ``in`` names it)."""
    for value, where in texts:
        if value:
            await check_outbound(ctx, caller, room, value, where)


async def check_texts(ctx: Context, caller: Caller, room: Room,
                      texts: dict[str, str | None]) -> None:
    """``check_texts_out`` of texts keyed by where they stand."""
    await check_texts_out(ctx, caller, room, ((value, where) for where, value in texts.items()))


def take_send(ctx: Context, caller: Caller) -> None:
    """Creates and changes share the send rate limit of messages."""
    wait = ctx.limits.sends.take(caller.account.id, ctx.now())
    if wait:
        raise errors.rate_limited(wait)
