"""policy.access: which account kind may act from which zone, and on what."""

from __future__ import annotations

import pytest

from policy import access
from policy.config import PolicyConfig
from policy.errors import Forbidden, Invalid, ZoneForbidden


@pytest.mark.parametrize("kind, zone, allowed", [
    ("staff", "lgwan", True), ("staff", "internet", True),
    ("admin", "lgwan", True), ("admin", "internet", False),
    ("external", "internet", True), ("external", "lgwan", False),
    ("unknown-kind", "lgwan", False),
])
def test_login_zones(kind: str, zone: str, allowed: bool) -> None:
    assert access.may_use_zone(kind, zone) is allowed
    if allowed:
        access.check_zone(kind, zone)
    else:
        with pytest.raises(ZoneForbidden) as exc:
            access.check_zone(kind, zone)
        assert exc.value.code == "zone_forbidden" and exc.value.status == 403


def test_admin_only_on_lgwan_and_only_for_admins() -> None:
    assert access.admin_paths_exist("lgwan") and not access.admin_paths_exist("internet")
    access.check_admin("admin", "lgwan")
    for kind, zone in [("staff", "lgwan"), ("admin", "internet"), ("external", "internet")]:
        with pytest.raises(Forbidden):
            access.check_admin(kind, zone)


def test_directory_hidden_from_external() -> None:
    assert access.may_list_directory("staff") and access.may_list_directory("admin")
    assert not access.may_list_directory("external")


def test_external_room_creation_follows_config() -> None:
    closed, open_ = PolicyConfig(), PolicyConfig(external_can_create_rooms=True)
    access.check_create_room("staff", "group", 5, closed)
    with pytest.raises(Forbidden) as exc:
        access.check_create_room("external", "group", 2, closed)
    assert exc.value.code == "room_create_forbidden"
    access.check_create_room("external", "group", 2, open_)
    # ... and then only with people the external account already shares a room with.
    access.check_external_members("external", [])
    with pytest.raises(Forbidden) as exc:
        access.check_external_members("external", ["7"])
    assert exc.value.details == {"members": ["7"]}
    access.check_external_members("staff", ["7"])


def test_direct_room_has_two_members() -> None:
    access.check_create_room("staff", "direct", 2, PolicyConfig())
    for n in (1, 3):
        with pytest.raises(Invalid) as exc:
            access.check_create_room("staff", "direct", n, PolicyConfig())
        assert exc.value.code == "direct_needs_two" and exc.value.status == 400
