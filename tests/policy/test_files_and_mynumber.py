"""Pure policy: variants per zone, outbound kinds, and the My Number check."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from policy import mynumber
from policy.config import PolicyConfig
from policy.files import Denied, outbound_allowed, upload_action, variant_for

CFG = PolicyConfig()


def make_number(first11: str) -> str:
    return first11 + str(mynumber.check_digit(first11))


def test_check_digit_known_example() -> None:
    # Worked by hand: from the right, digits 1,0,9,8,7,6,5,4,3,2,1 weighted
    # 2,3,4,5,6,7,2,3,4,5,6 sum to 212; 212 % 11 = 3; check digit 11 - 3 = 8.
    assert mynumber.check_digit("12345678901") == 8
    assert mynumber.is_valid("123456789018")
    assert not mynumber.is_valid("123456789013")


@given(st.text(alphabet="0123456789", min_size=11, max_size=11))
def test_every_generated_number_is_found_in_any_spelling(first11: str) -> None:
    n = make_number(first11)
    grouped = f"{n[:4]}-{n[4:8]}-{n[8:]}"
    spaced = f"{n[:4]} {n[4:8]} {n[8:]}"
    fullwidth = n.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    for spelling in (n, grouped, spaced, fullwidth):
        assert mynumber.find(f"番号は{spelling}です") == [n]


@given(st.text(alphabet="0123456789", min_size=11, max_size=11))
def test_wrong_check_digit_or_longer_runs_are_not_hits(first11: str) -> None:
    n = make_number(first11)
    wrong = n[:11] + str((int(n[11]) + 1) % 10)
    assert mynumber.find(f"電話 {wrong}") == []
    assert mynumber.find(f"口座 9{n}") == []  # part of a 13-digit run
    assert mynumber.find(f"{n}1") == []


def test_mask_keeps_only_last_four() -> None:
    assert mynumber.mask("123456789013") == "********9013"


def test_internet_uploads_are_always_disarmed() -> None:
    assert upload_action("internet") == "sanitize"
    assert upload_action("lgwan") == "allow"


@pytest.mark.parametrize("status", ["pending", "ready", "blocked"])
def test_lgwan_never_receives_an_internet_original(status: str) -> None:
    for receives in ("original", "sanitized"):
        cfg = PolicyConfig(internet_receives=receives)  # type: ignore[arg-type]
        v = variant_for("lgwan", "internet", status, "pdf", cfg, outbound=None)
        assert v != "original"
        if status == "ready":
            assert v == "sanitized"
        else:
            assert isinstance(v, Denied)
            assert (v.code, v.status) == (
                ("file_pending", 409) if status == "pending" else ("file_blocked", 403))


def test_internet_members_get_what_policy_says() -> None:
    assert variant_for("internet", "internet", "pending", "pdf", CFG, outbound=None) == "original"
    cfg = PolicyConfig(internet_receives="sanitized")
    assert variant_for("internet", "internet", "ready", "pdf", cfg, outbound=None) == "sanitized"
    assert variant_for("internet", "internet", "pending", "pdf", cfg,
                       outbound=None) == Denied("file_pending", 409)


CLEAR = {"outcome": "clear"}


def test_lgwan_files_reach_internet_only_for_allowed_kinds() -> None:
    assert variant_for("lgwan", "lgwan", "ready", "docm", CFG, outbound=None) == "original"
    assert variant_for("internet", "lgwan", "ready", "pdf", CFG, outbound=CLEAR) == "original"
    assert variant_for("internet", "lgwan", "ready", "docm", CFG,
                       outbound=CLEAR) == Denied("policy_blocked", 403)


def test_an_lgwan_file_waits_for_its_my_number_check_before_it_leaves() -> None:
    # Not read yet: nobody outside has it; a hit or an unreadable text holds it.
    assert variant_for("internet", "lgwan", "ready", "pdf", CFG,
                       outbound=None) == Denied("file_pending", 409)
    held = variant_for("internet", "lgwan", "ready", "csv", CFG,
                       outbound={"outcome": "hit", "reason": "my_number_in_file"})
    assert isinstance(held, Denied) and (held.code, held.status) == ("file_blocked", 403)
    assert variant_for("lgwan", "lgwan", "ready", "csv", CFG,
                       outbound={"outcome": "hit", "reason": "my_number_in_file"}) == "original"
    assert outbound_allowed("xlsx", CFG) and not outbound_allowed("executable", CFG)
