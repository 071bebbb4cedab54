"""Business hours as pure decisions about a given moment: weekends, national holidays
(振替休日 and 国民の休日 too), the edges of the working day, extra closed days, and
when a held notification goes out."""

from __future__ import annotations

import datetime as dt

import pytest

from policy import hours
from relay.config import ConfigError, HoursConfig, build

JST = dt.timezone(dt.timedelta(hours=9))
DEFAULT = HoursConfig().schedule()


def at(text: str) -> float:
    """A Tokyo wall-clock time as seconds since the epoch."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=JST).timestamp()


def jst(t: float | None) -> str | None:
    return None if t is None else dt.datetime.fromtimestamp(t, JST).strftime("%Y-%m-%d %H:%M")


@pytest.mark.parametrize("moment, open_", [
    ("2026-01-13 08:29:59", False),  # Tuesday, a minute before
    ("2026-01-13 08:30:00", True),   # the first second of the day
    ("2026-01-13 12:00:00", True),
    ("2026-01-13 17:14:59", True),   # the last second
    ("2026-01-13 17:15:00", False),  # end is excluded
    ("2026-01-13 23:00:00", False),
    ("2026-01-17 10:00:00", False),  # Saturday
    ("2026-01-18 10:00:00", False),  # Sunday
    ("2026-01-12 10:00:00", False),  # 成人の日 (second Monday of January)
    ("2026-05-06 10:00:00", False),  # 振替休日 for 憲法記念日 on a Sunday
    ("2026-09-22 10:00:00", False),  # 国民の休日 between 敬老の日 and 秋分の日
    ("2026-12-28 10:00:00", True),   # 御用納め: the last working day of the year
    ("2026-12-29 10:00:00", False),  # 年末年始 (extra closed days, wrapping New Year)
    ("2027-01-03 10:00:00", False),
    ("2027-01-04 10:00:00", True),   # 御用始め
])
def test_open_or_closed_at_a_moment(moment: str, open_: bool) -> None:
    assert hours.is_open(DEFAULT, at(moment)) is open_


@pytest.mark.parametrize("sent, notify_at", [
    ("2026-01-13 10:00", None),                # within hours: at once
    ("2026-01-13 17:15", "2026-01-14 08:30"),  # after hours: next morning
    ("2026-01-14 06:00", "2026-01-14 08:30"),  # before hours: this morning
    ("2026-01-09 18:00", "2026-01-13 08:30"),  # Friday night, past the weekend and 成人の日
    ("2026-05-01 20:00", "2026-05-07 08:30"),  # Golden Week with its 振替休日
    ("2026-12-28 17:30", "2027-01-04 08:30"),  # 年末年始
])
def test_a_held_notification_goes_out_when_hours_next_begin(sent: str,
                                                            notify_at: str | None) -> None:
    assert jst(hours.held_until(DEFAULT, at(sent))) == notify_at


def test_the_held_window_of_an_opening_starts_at_the_last_close() -> None:
    assert jst(hours.previous_close(DEFAULT, at("2026-01-13 08:30"))) == "2026-01-09 17:15"
    assert jst(hours.previous_close(DEFAULT, at("2026-01-14 08:30"))) == "2026-01-13 17:15"
    assert hours.opening_of(DEFAULT, at("2026-01-13 11:00")) == at("2026-01-13 08:30")
    assert hours.opening_of(DEFAULT, at("2026-01-13 08:29")) is None


def test_asia_tokyo_has_no_daylight_saving_so_every_day_is_nine_hours_ahead() -> None:
    # The same wall-clock opening in January and July is the same UTC time of day.
    for day in ("2026-01-13", "2026-07-14"):
        opening = hours.next_opening(DEFAULT, at(f"{day} 00:00"))
        assert opening is not None
        assert dt.datetime.fromtimestamp(opening, dt.timezone.utc).strftime("%H:%M") == "23:30"


def test_extra_closed_days_dated_or_yearly_and_holidays_can_be_counted_as_work() -> None:
    cfg = HoursConfig(closed_days=("2026-08-13..2026-08-14", "06-01"), national_holidays=False,
                      working_days=("mon", "tue", "wed", "thu", "fri", "sat"),
                      start="09:00", end="18:00")
    h = cfg.schedule()
    assert not hours.is_open(h, at("2026-08-13 10:00"))  # 夏季休暇, this year only
    assert hours.is_open(h, at("2027-08-13 10:00"))
    assert not hours.is_open(h, at("2027-06-01 10:00"))  # every year
    assert hours.is_open(h, at("2026-01-12 10:00"))  # 成人の日 is worked here
    assert hours.is_open(h, at("2026-01-17 10:00"))  # so is Saturday
    assert hours.closed_reason(DEFAULT, dt.date(2026, 1, 12)) == "成人の日"
    assert hours.closed_reason(DEFAULT, dt.date(2026, 1, 17)) == "weekday"
    assert hours.closed_reason(DEFAULT, dt.date(2026, 12, 30)) == "closed_day"


def test_a_schedule_closed_for_good_holds_nothing_rather_than_forever() -> None:
    h = HoursConfig(closed_days=("01-01..12-31",)).schedule()
    assert hours.held_until(h, at("2026-01-13 10:00")) is None


@pytest.mark.parametrize("table, problem", [
    ({"start": "8:30"}, "hours.start: expected HH:MM"),
    ({"end": "24:00"}, "hours.end: expected HH:MM"),
    ({"start": "17:15", "end": "08:30"}, "hours.end: must be later than start"),
    ({"working_days": ["mon", "funday"]}, "hours.working_days: unknown day 'funday'"),
    ({"working_days": []}, "hours.working_days: at least one"),
    ({"time_zone": "Asia/Edo"}, "hours.time_zone: unknown time zone"),
    ({"time_zone": "../../etc/passwd"}, "hours.time_zone: unknown time zone"),
    ({"closed_days": ["12-32"]}, "hours.closed_days: '12-32': no such date"),
    ({"closed_days": ["2026-12-29..01-03"]}, "both ends with a year, or neither"),
    ({"closed_days": ["2027-01-03..2026-12-29"]}, "ends before it starts"),
    ({"closed_days": ["年末年始"]}, "expected MM-DD or YYYY-MM-DD"),
])
def test_a_schedule_it_cannot_read_is_refused_naming_the_key(table: dict, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem.replace("(", r"\(")):
        build(HoursConfig, table, "hours", base=HoursConfig())
