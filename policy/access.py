"""Who may do what from where: account kinds, zones and scopes.  Pure decisions.

* staff log in from both zones, admins only from LGWAN, external accounts only from
  the internet (docs/SECURITY.md "Zones");
* admin operations exist only on the LGWAN listener and only for admins;
* external accounts see only the rooms they are in, cannot browse the account
  directory, and create rooms only when ``external_can_create_rooms`` is set (and
  then only with people they already share a room with).

Each function either returns a decision or raises ``policy.errors.Forbidden`` with
the code the API shows; relay asks, it never re-implements these ``if``\\ s.
"""

from __future__ import annotations

from policy.config import PolicyConfig
from policy.errors import Forbidden, Invalid, ZoneForbidden
from policy.zones import Zone

# Plain strings, the same values as store.records' Literals.
AccountKind = str  # "staff" | "external" | "admin"
RoomKind = str  # "group" | "direct"

_LOGIN_ZONES: dict[str, frozenset[str]] = {
    "staff": frozenset({"lgwan", "internet"}),
    "admin": frozenset({"lgwan"}),
    "external": frozenset({"internet"}),
}


def may_use_zone(kind: AccountKind, zone: Zone) -> bool:
    return zone in _LOGIN_ZONES.get(kind, frozenset())


def check_zone(kind: AccountKind, zone: Zone) -> None:
    """ZoneForbidden unless an account of ``kind`` may log in / act through ``zone``."""
    if not may_use_zone(kind, zone):
        raise ZoneForbidden(
            "このアカウントはこのネットワークから利用できません / "
            "this account may not be used from this network",
            zone=zone,
        )


def admin_paths_exist(zone: Zone) -> bool:
    """Admin paths exist only on the LGWAN listener; elsewhere they are unknown routes."""
    return zone == "lgwan"


def check_admin(kind: AccountKind, zone: Zone) -> None:
    if not (kind == "admin" and admin_paths_exist(zone)):
        raise Forbidden("管理者のみが利用できます / administrators only")


def may_list_directory(kind: AccountKind) -> bool:
    """Whether the caller may see accounts it does not share a room with."""
    return kind != "external"


def check_create_room(kind: AccountKind, room_kind: RoomKind, member_count: int,
                      cfg: PolicyConfig) -> None:
    """May an account of ``kind`` create a room of ``room_kind`` with ``member_count``
    members (the creator included)?  Membership scope of external creators is checked
    separately with ``check_external_members`` because it needs the store."""
    if kind == "external" and not cfg.external_can_create_rooms:
        raise Forbidden("外部アカウントはルームを作成できません / "
                        "external accounts may not create rooms", code="room_create_forbidden")
    if room_kind == "direct" and member_count != 2:
        raise Invalid("ダイレクトは 2 人で作成します / a direct room has exactly two members",
                      code="direct_needs_two")


def check_external_members(kind: AccountKind, unshared: list[str]) -> None:
    """An external creator may only add people it already shares a room with;
    ``unshared`` is the list of member ids it does not."""
    if kind == "external" and unshared:
        raise Forbidden("面識のないアカウントを追加できません / "
                        "external accounts may only add people they already share a room with",
                        code="member_not_visible", members=unshared)
