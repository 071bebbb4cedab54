"""The directory the operator keeps: departments (部 > 課 > 係), what an account holds
beyond its login (display name, kana, email, department), deleting an account, and
the operator's view of rooms (members added and removed, archived, made for a
department).

``*_txn`` functions run on the writer thread inside the group-commit transaction; the
others are reads.  The async functions at the end are this module's face: they take
the ``Store`` and go through its writer and readers like the facade's own methods, so
every change commits with its audit entry.

A deleted account keeps its row, so the messages it sent keep their sender: its login
becomes ``#deleted-<id>`` (which no login can be, so the name is free again), its
display name the placeholder ``削除されたアカウント``, and its password, one-time-code
secret, kana, email, department, sessions and room memberships are gone.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlite_utils

from store import rooms
from store.db import int_id, iso
from store.errors import AccountNotFound, DepartmentExists, DepartmentNotFound, Invalid
from store.records import RoomKind

if TYPE_CHECKING:
    from store.facade import AuditFor, Store

DELETED_NAME = "削除されたアカウント"
MAX_DEPTH = 3  # 部 > 課 > 係
PATH_SEP = "/"


@dataclass(frozen=True, slots=True)
class Department:
    id: str
    name: str
    parent_id: str | None
    path: str  # "総務部/総務課/文書係"

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "parent_id": self.parent_id,
                "path": self.path}


@dataclass(frozen=True, slots=True)
class Person:
    """An account as the operator sees it (``relayctl account list|show``)."""

    id: str
    login: str
    display_name: str
    kana: str
    email: str
    kind: str
    state: str  # "enabled" | "disabled" | "deleted"
    department_id: str | None
    created_at: str

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "login": self.login, "display_name": self.display_name,
                "kana": self.kana, "email": self.email, "kind": self.kind,
                "state": self.state, "department_id": self.department_id,
                "created_at": self.created_at}


@dataclass(frozen=True, slots=True)
class RoomInfo:
    """A room as the operator sees it (``relayctl room list|show``)."""

    id: str
    name: str
    kind: RoomKind
    members: tuple[str, ...]
    department_id: str | None
    archived: bool
    created_at: str
    messages: int
    last_message_at: str | None

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "kind": self.kind,
                "members": list(self.members), "department_id": self.department_id,
                "archived": self.archived, "created_at": self.created_at,
                "messages": self.messages, "last_message_at": self.last_message_at}


# ------------------------------------------------------------------------- departments


def departments(db: sqlite_utils.Database) -> list[Department]:
    """Every department, parents before children, siblings by name."""
    rows = db.conn.execute("SELECT id, name, parent_id FROM departments").fetchall()
    by_id = {r[0]: r for r in rows}

    def path(i: int) -> str:
        names: list[str] = []
        while i is not None and i in by_id and len(names) <= MAX_DEPTH:
            names.append(by_id[i][1])
            i = by_id[i][2]
        return PATH_SEP.join(reversed(names))

    out = [Department(str(r[0]), r[1], None if r[2] is None else str(r[2]), path(r[0]))
           for r in rows]
    return sorted(out, key=lambda d: d.path.split(PATH_SEP))


def department_by_path(db: sqlite_utils.Database, path: str) -> Department:
    """A department by its path ("総務部/総務課"), or by its id."""
    for d in departments(db):
        if d.path == path or d.id == path:
            return d
    raise DepartmentNotFound(f"部署がありません / no such department: {path}", department=path)


def _depth(c: sqlite3.Connection, dep_id: int | None) -> int:
    depth = 0
    while dep_id is not None:
        row = c.execute("SELECT parent_id FROM departments WHERE id = ?", (dep_id,)).fetchone()
        if row is None:
            raise DepartmentNotFound(department=str(dep_id))
        depth, dep_id = depth + 1, row[0]
    return depth


def create_department_txn(db: sqlite_utils.Database, name: str, parent_id: str | None,
                          now: float) -> Department:
    c = db.conn
    parent = None if parent_id is None else int_id(parent_id)
    if _depth(c, parent) >= MAX_DEPTH:
        raise Invalid(f"部署は {MAX_DEPTH} 階層（部・課・係）までです / departments nest at "
                      f"most {MAX_DEPTH} deep", parent_id=parent_id)
    if c.execute("SELECT 1 FROM departments WHERE COALESCE(parent_id, 0) = ? AND name = ?",
                 (parent or 0, name)).fetchone():
        raise DepartmentExists(f"部署は既にあります / department exists: {name}", name=name)
    cur = c.execute("INSERT INTO departments (name, parent_id, created_at) VALUES (?, ?, ?)",
                    (name, parent, iso(now)))
    return next(d for d in departments(db) if d.id == str(cur.lastrowid))


def rename_department_txn(db: sqlite_utils.Database, dep_id: str, name: str) -> Department:
    c = db.conn
    row = c.execute("SELECT parent_id FROM departments WHERE id = ?", (int_id(dep_id),)).fetchone()
    if row is None:
        raise DepartmentNotFound(department=dep_id)
    if c.execute("SELECT 1 FROM departments WHERE COALESCE(parent_id, 0) = ? AND name = ? "
                 "AND id != ?", (row[0] or 0, name, int_id(dep_id))).fetchone():
        raise DepartmentExists(f"部署は既にあります / department exists: {name}", name=name)
    c.execute("UPDATE departments SET name = ? WHERE id = ?", (name, int_id(dep_id)))
    return next(d for d in departments(db) if d.id == dep_id)


def subtree(db: sqlite_utils.Database, dep_id: str) -> list[str]:
    """The department and every department under it."""
    prefix = department_by_path(db, dep_id).path
    return [d.id for d in departments(db)
            if d.path == prefix or d.path.startswith(prefix + PATH_SEP)]


# ------------------------------------------------------------------------- accounts

_PERSON_COLS = ("id, login, display_name, kana, email, kind, disabled, deleted_at, "
                "department_id, created_at")


def _person(row: tuple[Any, ...]) -> Person:
    state = "deleted" if row[7] else "disabled" if row[6] else "enabled"
    return Person(str(row[0]), row[1], row[2], row[3], row[4], row[5], state,
                  None if row[8] is None else str(row[8]), row[9])


def people(db: sqlite_utils.Database) -> list[Person]:
    rows = db.conn.execute(f"SELECT {_PERSON_COLS} FROM accounts ORDER BY id").fetchall()
    return [_person(r) for r in rows]


def person(db: sqlite_utils.Database, login: str) -> Person:
    row = db.conn.execute(f"SELECT {_PERSON_COLS} FROM accounts WHERE login = ?",
                          (login,)).fetchone()
    if row is None or row[7]:
        raise AccountNotFound(f"アカウントがありません / no such account: {login}", login=login)
    return _person(row)


def update_person_txn(db: sqlite_utils.Database, login: str,
                      changes: dict[str, Any]) -> Person:
    """Set some of display_name, kana, email, department_id, kind."""
    allowed = {"display_name", "kana", "email", "department_id", "kind"}
    assert set(changes) <= allowed, changes
    p = person(db, login)
    if changes:
        sets = ", ".join(f"{k} = ?" for k in changes)
        values = [int_id(v) if k == "department_id" and v is not None else v
                  for k, v in changes.items()]
        db.conn.execute(f"UPDATE accounts SET {sets} WHERE id = ?", (*values, int(p.id)))
    return person(db, login)


def delete_account_txn(db: sqlite_utils.Database, login: str, now: float) -> Person:
    c = db.conn
    p = person(db, login)
    aid = int(p.id)
    c.execute("UPDATE accounts SET login = ?, display_name = ?, kana = '', email = '', "
              "department_id = NULL, disabled = 1, deleted_at = ?, pw_hash = NULL, "
              "pw_salt = NULL, pw_params = NULL, totp_secret = NULL WHERE id = ?",
              (f"#deleted-{aid}", DELETED_NAME, iso(now), aid))
    c.execute("UPDATE sessions SET revoked = 1 WHERE account_id = ?", (aid,))
    c.execute("DELETE FROM room_members WHERE account_id = ?", (aid,))
    row = c.execute(f"SELECT {_PERSON_COLS} FROM accounts WHERE id = ?", (aid,)).fetchone()
    return _person(row)


# ------------------------------------------------------------------------- rooms


def room_infos(db: sqlite_utils.Database, room_id: str | None = None) -> list[RoomInfo]:
    c = db.conn
    where, args = ("WHERE r.id = ?", (int_id(room_id),)) if room_id is not None else ("", ())
    rows = c.execute(
        "SELECT r.id, r.name, r.kind, r.department_id, r.archived_at, r.created_at, "
        "(SELECT count(*) FROM messages m WHERE m.room_id = r.id), "
        "(SELECT created_at FROM messages m WHERE m.room_id = r.id ORDER BY id DESC LIMIT 1) "
        f"FROM rooms r {where} ORDER BY r.id", args).fetchall()
    return [RoomInfo(str(r[0]), r[1], r[2], rooms.members_of(c, r[0]),
                     None if r[3] is None else str(r[3]), r[4] is not None, r[5], r[6], r[7])
            for r in rows]


def remove_member_txn(db: sqlite_utils.Database, room_id: str, account_id: str) -> RoomInfo:
    room = rooms.get_room(db, room_id)
    if room.kind == "direct":
        raise Invalid("ダイレクトのメンバーは変えられません / a direct room's members do not "
                      "change", room_id=room_id)
    cur = db.conn.execute("DELETE FROM room_members WHERE room_id = ? AND account_id = ?",
                          (int(room.id), int_id(account_id)))
    if cur.rowcount == 0:
        raise Invalid("メンバーではありません / not a member of the room", room_id=room_id,
                      account_id=account_id)
    return room_infos(db, room_id)[0]


def set_archived_txn(db: sqlite_utils.Database, room_id: str, archived: bool,
                     now: float) -> RoomInfo:
    room = rooms.get_room(db, room_id)
    db.conn.execute("UPDATE rooms SET archived_at = ? WHERE id = ?",
                    (iso(now) if archived else None, int(room.id)))
    return room_infos(db, room_id)[0]


def create_room_txn(db: sqlite_utils.Database, name: str, member_ids: list[str],
                    department_id: str | None, now: float) -> RoomInfo:
    """A group room, made for ``department_id`` when given."""
    room = rooms.create_room_txn(db, name, "group", member_ids, member_ids[0], now)
    if department_id is not None:
        db.conn.execute("UPDATE rooms SET department_id = ? WHERE id = ?",
                        (int_id(department_id), int(room.id)))
    return room_infos(db, room.id)[0]


def archived(db: sqlite_utils.Database, room_id: str) -> bool:
    row = db.conn.execute("SELECT archived_at FROM rooms WHERE id = ?",
                          (int_id(room_id),)).fetchone()
    return bool(row and row[0])


# ------------------------------------------------------------------------- the async face


async def read(store: "Store", fn: Any, *args: Any) -> Any:
    """Run one of the reads above on a read connection."""
    return await store._read(fn, *args)


async def write(store: "Store", fn: Any, args: tuple[Any, ...], audit: "AuditFor",
                now: float) -> Any:
    """Run one of the ``*_txn`` above with its audit entry, in one transaction."""
    result = await store._audited(fn, args, audit, now)
    _forget_rooms(store)
    return result


async def write_many(store: "Store", fn: Any, *args: Any) -> Any:
    """Run ``fn(db, audit_key, *args)``, which appends its own audit entries (one per
    change), in one transaction."""
    result = await store._write(fn, store._audit_key, *args)
    _forget_rooms(store)
    return result


def _forget_rooms(store: "Store") -> None:
    # The facade keeps rooms' members in memory; a member removed here must not
    # linger there (and a read in flight must not put a stale room back).
    store._rooms.clear()
    store._room_writes += 1
