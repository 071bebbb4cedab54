"""policy.ratelimit: token buckets with the clock passed in."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from policy.ratelimit import Limiter, Rate, ip_key, level, retry_after_header, take

LOGIN = Rate(burst=3, refill_s=6.0)  # SECURITY.md: burst 3 then 1 per 6 s per account


def test_burst_then_one_per_refill_interval() -> None:
    lim = Limiter(LOGIN)
    assert [lim.take("alice", 100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert lim.take("alice", 100.0) == pytest.approx(6.0)
    assert lim.take("alice", 103.0) == pytest.approx(3.0)  # half a token regained
    assert lim.take("alice", 106.0) == 0.0
    assert lim.take("alice", 106.0) == pytest.approx(6.0)
    # Other keys are independent.
    assert lim.take("bob", 106.0) == 0.0


def test_refusals_do_not_consume() -> None:
    lim = Limiter(LOGIN)
    for _ in range(3):
        lim.take("k", 0.0)
    for t in (1.0, 2.0, 3.0, 4.0, 5.0):
        assert lim.take("k", t) > 0
    assert lim.take("k", 6.0) == 0.0


def test_give_back_never_exceeds_burst() -> None:
    lim = Limiter(LOGIN)
    lim.take("k", 0.0)
    lim.give_back("k", 0.0)
    lim.give_back("k", 0.0)
    assert [lim.take("k", 0.0) for _ in range(4)][:3] == [0.0, 0.0, 0.0]
    assert lim.take("k", 0.0) > 0


def test_clock_stepping_back_gives_nothing() -> None:
    bucket, _ = take(None, LOGIN, 1000.0)
    assert level(bucket, LOGIN, 10.0) == pytest.approx(2.0)


def test_retry_after_rounds_up_to_whole_seconds() -> None:
    assert retry_after_header(0.01) == "1"
    assert retry_after_header(5.2) == "6"
    assert retry_after_header(6.0) == "6"


def test_memory_is_bounded_under_a_flood_of_keys() -> None:
    lim = Limiter(LOGIN, max_keys=100)
    for i in range(1000):
        lim.take(f"ip{i}", 0.0)
    assert len(lim) <= 100


@given(st.lists(st.floats(min_value=0, max_value=60, allow_nan=False), max_size=50))
def test_never_more_than_burst_plus_refill(gaps: list[float]) -> None:
    # However the attempts are spaced, the number allowed up to time T is at most
    # burst + T / refill_s.
    lim, now, allowed = Limiter(LOGIN), 0.0, 0
    for g in gaps:
        now += g
        allowed += lim.take("k", now) == 0.0
    assert allowed <= LOGIN.burst + now / LOGIN.refill_s + 1e-9


def test_ip_keys_group_an_ipv6_subscriber() -> None:
    assert ip_key("2001:db8:1:2:aaaa::1") == ip_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert ip_key("2001:db8:1:3::1") != ip_key("2001:db8:1:2::1")
    assert ip_key("192.0.2.7") == "192.0.2.7" == ip_key("::ffff:192.0.2.7")
    assert ip_key("not-an-ip") == "not-an-ip"
