"""Business hours (業務時間): whether a moment falls within working hours, and when
they next begin or last ended.

Pure functions of a schedule (``Hours``) and a time in seconds since the epoch: no
clock is read here, so each decision is tested with the moment it is about.  A day
is closed when its weekday is not a working day, when it is a national holiday
(祝日, 振替休日 and 国民の休日, from the ``jpholiday`` library) and holidays count, or
when it falls in one of the extra closed days (年末年始 and the like).  On a working
day the hours run from ``start`` (included) to ``end`` (excluded): with 08:30–17:15,
08:29:59 is closed, 08:30:00 open, 17:14:59 open and 17:15:00 closed.  Times are read
in the schedule's time zone (Asia/Tokyo has had no daylight saving time since 1951;
a zone with it is still handled by ``zoneinfo``).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jpholiday

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# How far the search for the next (or last) working day goes before giving up: a
# schedule closed for longer than this holds nothing (see ``next_opening``).
SEARCH_DAYS = 800
_CLOCK_RE = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
_DAY_RE = re.compile(r"(?:(\d{4})-)?(\d{2})-(\d{2})")


@dataclass(frozen=True, slots=True)
class ClosedSpan:
    """Extra closed days: one day or a span of days, both ends included.  Without a
    year (``12-29..01-03``) it recurs every year and may wrap over New Year."""

    first: tuple[int, int, int]  # (year or 0, month, day)
    last: tuple[int, int, int]

    def covers(self, day: dt.date) -> bool:
        if self.first[0]:  # dated: a span of real days
            return dt.date(*self.first) <= day <= dt.date(*self.last)
        md, lo, hi = (day.month, day.day), self.first[1:], self.last[1:]
        return lo <= md <= hi if lo <= hi else (md >= lo or md <= hi)


@dataclass(frozen=True, slots=True)
class Hours:
    tz: dt.tzinfo
    days: frozenset[int]  # working weekdays, 0 = Monday
    start: dt.time
    end: dt.time
    holidays: bool  # national holidays are closed
    closed: tuple[ClosedSpan, ...] = ()


def _clock(name: str, value: str) -> dt.time:
    m = _CLOCK_RE.fullmatch(value)
    if m is None:
        raise ValueError(f"{name}: expected HH:MM (00:00 to 23:59)")
    return dt.time(int(m.group(1)), int(m.group(2)))


def _day(value: str) -> tuple[int, int, int]:
    m = _DAY_RE.fullmatch(value)
    if m is None:
        raise ValueError(f"closed_days: {value!r}: expected MM-DD or YYYY-MM-DD")
    year, month, day = int(m.group(1) or 0), int(m.group(2)), int(m.group(3))
    try:
        dt.date(year or 2000, month, day)  # 2000: a leap year, so 02-29 recurs
    except ValueError:
        raise ValueError(f"closed_days: {value!r}: no such date") from None
    return year, month, day


def closed_span(value: str) -> ClosedSpan:
    """``MM-DD``, ``YYYY-MM-DD``, or a span ``A..B`` of two of the same form."""
    first_text, sep, last_text = value.partition("..")
    first = _day(first_text.strip())
    last = _day(last_text.strip()) if sep else first
    if bool(first[0]) != bool(last[0]):
        raise ValueError(f"closed_days: {value!r}: both ends with a year, or neither")
    if first[0] and first > last:
        raise ValueError(f"closed_days: {value!r}: the span ends before it starts")
    return ClosedSpan(first, last)


def schedule(time_zone: str, working_days: tuple[str, ...], start: str, end: str,
             national_holidays: bool, closed_days: tuple[str, ...]) -> Hours:
    """The schedule from the config's words; ValueError naming the key otherwise."""
    try:
        tz = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"time_zone: unknown time zone {time_zone!r}") from None
    unknown = [d for d in working_days if d not in WEEKDAYS]
    if unknown:
        raise ValueError(f"working_days: unknown day {unknown[0]!r} (one of "
                         + ", ".join(WEEKDAYS) + ")")
    if not working_days:
        raise ValueError("working_days: at least one working day")
    s, e = _clock("start", start), _clock("end", end)
    if s >= e:
        raise ValueError("end: must be later than start")
    return Hours(tz, frozenset(WEEKDAYS.index(d) for d in working_days), s, e,
                 national_holidays, tuple(closed_span(v) for v in closed_days))


def closed_reason(hours: Hours, day: dt.date) -> str | None:
    """Why a whole day is closed: ``"weekday"`` (not a working day), the holiday's
    name (``成人の日``, ``憲法記念日 振替休日``), ``"closed_day"``; None on a working day."""
    if day.weekday() not in hours.days:
        return "weekday"
    if hours.holidays:
        name = jpholiday.is_holiday_name(day)
        if name:
            return str(name)
    if any(span.covers(day) for span in hours.closed):
        return "closed_day"
    return None


def _local(hours: Hours, t: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, hours.tz)


def _at(hours: Hours, day: dt.date, clock: dt.time) -> float:
    return dt.datetime.combine(day, clock, tzinfo=hours.tz).timestamp()


def is_open(hours: Hours, t: float) -> bool:
    local = _local(hours, t)
    return (closed_reason(hours, local.date()) is None
            and hours.start <= local.time() < hours.end)


def next_opening(hours: Hours, t: float) -> float | None:
    """The first moment at or after ``t`` within hours (``t`` itself when open);
    None when no working day comes within ``SEARCH_DAYS``."""
    if is_open(hours, t):
        return t
    day = _local(hours, t).date()
    for i in range(SEARCH_DAYS):
        d = day + dt.timedelta(days=i)
        if closed_reason(hours, d) is None:
            opening = _at(hours, d, hours.start)
            if opening >= t:
                return opening
    return None


def held_until(hours: Hours, t: float) -> float | None:
    """When the notification of a message sent at ``t`` goes out: None at once (within
    hours), else the next opening (None too when there is none to wait for)."""
    return None if is_open(hours, t) else next_opening(hours, t)


def opening_of(hours: Hours, t: float) -> float | None:
    """The start of the working hours ``t`` falls in; None outside hours."""
    if not is_open(hours, t):
        return None
    return _at(hours, _local(hours, t).date(), hours.start)


def closing_of(hours: Hours, t: float) -> float | None:
    """The end of the working hours ``t`` falls in; None outside hours."""
    if not is_open(hours, t):
        return None
    return _at(hours, _local(hours, t).date(), hours.end)


def previous_close(hours: Hours, opening: float) -> float:
    """The end of the last working hours before ``opening``: the held window of that
    opening starts there.  Bounded by ``SEARCH_DAYS`` back."""
    day = _local(hours, opening).date()
    for i in range(1, SEARCH_DAYS):
        d = day - dt.timedelta(days=i)
        if closed_reason(hours, d) is None:
            return _at(hours, d, hours.end)
    return opening - SEARCH_DAYS * 86400.0
