"""Rooms and membership: synchronous SQL, run by the facade.

A direct room has exactly two members and a ``direct_key`` ("smaller:larger" account
id) with a unique index, so asking for the same pair again finds the existing room.
A member's read marker lives in ``room_members.last_read`` (store.messages).
"""

from __future__ import annotations

import sqlite3

import sqlite_utils

from store.db import int_id, iso
from store.errors import AccountNotFound, Invalid, RoomNotFound
from store.records import Room, RoomKind

_ROOM_COLS = "id, name, kind, created_at, created_by"


def members_of(c: sqlite3.Connection, room_id: int) -> tuple[str, ...]:
    rows = c.execute("SELECT account_id FROM room_members WHERE room_id = ? ORDER BY account_id",
                     (room_id,)).fetchall()
    return tuple(str(r[0]) for r in rows)


def room_from_row(row: tuple[object, ...], members: tuple[str, ...]) -> Room:
    return Room(id=str(row[0]), name=str(row[1]), kind=row[2],  # type: ignore[arg-type]
                members=members, created_at=str(row[3]), created_by=str(row[4]))


def get_room(db: sqlite_utils.Database, room_id: str) -> Room:
    c = db.conn
    rid = int_id(room_id)
    row = c.execute(f"SELECT {_ROOM_COLS} FROM rooms WHERE id = ?", (rid,)).fetchone()
    if row is None:
        raise RoomNotFound(f"ルームがありません / no such room: {room_id}", room_id=room_id)
    return room_from_row(row, members_of(c, rid))


def is_member(db: sqlite_utils.Database, room_id: str, account_id: str) -> bool:
    return db.conn.execute("SELECT 1 FROM room_members WHERE room_id = ? AND account_id = ?",
                           (int_id(room_id), int_id(account_id))).fetchone() is not None


def co_members(db: sqlite_utils.Database, account_id: str) -> set[str]:
    """Everyone who shares at least one room with the account (itself included once it
    is in a room)."""
    return {str(r[0]) for r in db.conn.execute(
        "SELECT DISTINCT b.account_id FROM room_members a JOIN room_members b "
        "ON a.room_id = b.room_id WHERE a.account_id = ?", (int_id(account_id),))}


def shares_room(db: sqlite_utils.Database, account_a: str, account_b: str) -> bool:
    return db.conn.execute(
        "SELECT 1 FROM room_members a JOIN room_members b ON a.room_id = b.room_id "
        "WHERE a.account_id = ? AND b.account_id = ? LIMIT 1",
        (int_id(account_a), int_id(account_b))).fetchone() is not None


def _check_accounts(c: sqlite3.Connection, ids: list[str]) -> list[int]:
    out: list[int] = []
    for account_id in ids:
        n = int_id(account_id)
        if c.execute("SELECT 1 FROM accounts WHERE id = ?", (n,)).fetchone() is None:
            raise AccountNotFound(f"アカウントがありません / no such account: {account_id}",
                                  account_id=account_id)
        out.append(n)
    return out


def create_room_txn(db: sqlite_utils.Database, name: str, kind: RoomKind,
                    member_ids: list[str], created_by: str, now: float) -> Room:
    c = db.conn
    # The creator is always a member; order kept, duplicates dropped.
    wanted = list(dict.fromkeys([created_by, *member_ids]))
    ids = _check_accounts(c, wanted)
    direct_key = None
    if kind == "direct":
        if len(ids) != 2:
            raise Invalid("ダイレクトは2人です / a direct room has exactly two members",
                          members=len(ids))
        lo, hi = sorted(ids)
        direct_key = f"{lo}:{hi}"
        row = c.execute(f"SELECT {_ROOM_COLS} FROM rooms WHERE direct_key = ?",
                        (direct_key,)).fetchone()
        if row is not None:
            return room_from_row(row, members_of(c, int(row[0])))
    elif kind != "group":
        raise Invalid(f"不明なルーム種別 / unknown room kind: {kind}", kind=kind)
    cur = c.execute("INSERT INTO rooms (name, kind, created_at, created_by, direct_key) "
                    "VALUES (?, ?, ?, ?, ?)", (name, kind, iso(now), ids[0], direct_key))
    room_id = int(cur.lastrowid or 0)
    c.executemany("INSERT INTO room_members (room_id, account_id) VALUES (?, ?)",
                  [(room_id, n) for n in ids])
    return get_room(db, str(room_id))


def add_member_txn(db: sqlite_utils.Database, room_id: str, account_id: str) -> Room:
    room = get_room(db, room_id)
    (n,) = _check_accounts(db.conn, [account_id])
    if room.kind == "direct" and account_id not in room.members:
        raise Invalid("ダイレクトには追加できません / cannot add members to a direct room",
                      room_id=room_id)
    # A new member starts with nothing read: the history is theirs to read (未読).
    db.conn.execute("INSERT OR IGNORE INTO room_members (room_id, account_id) VALUES (?, ?)",
                    (int(room.id), n))
    return get_room(db, room_id)
