"""Messages and the per-recipient read state: synchronous SQL, run by the facade.

Each message is stored once.  Read state is one marker per (room, member):
``room_members.last_read``, the id of the newest message that member has read.  From
it everything else is derived: unread counts per room, ``read_count`` per message
(members other than the sender whose marker has reached it), and the 既読 / 未読 lists.
"""

from __future__ import annotations

import bisect
import json
import sqlite3
from typing import Any, Iterable, Sequence

import sqlite_utils

from store import extras
from store.db import int_id, iso
from store.errors import (
    Invalid, MessageNotFound, NotMember, RoomArchived, RoomNotFound, SessionEnded,
)
from store.records import Attachment, Message, Readers, RoomSummary, Zone
from store.rooms import _ROOM_COLS, room_from_row

MSG_COLS = ("id, room_id, sender, body, created_at, origin_zone, client_id, kind, stamp, "
            "reply_to, edited_at, deleted_at, urgent")
_URGENT = MSG_COLS.split(", ").index("urgent")  # marked urgent (store.scheduled)
ATT_COLS = ("id, message_id, room_id, name, size, kind, status, origin_zone, sha256, "
            "sanitized_sha256, sanitized_size, sanitized_name, report, "
            # 上長承認 (store.approvals): the held file's approval status and reason.
            "(SELECT status FROM file_approvals WHERE attachment_id = attachments.id), "
            "(SELECT reason FROM file_approvals WHERE attachment_id = attachments.id)")
# Most ids in one "IN (...)" list (SQLite's default limit on variables is 32766).
_IN_CHUNK = 500


def attachment_from_row(row: Sequence[Any]) -> Attachment:
    return Attachment(id=str(row[0]), message_id=str(row[1]), room_id=str(row[2]),
                      name=row[3], size=int(row[4]), kind=row[5], status=row[6],
                      origin_zone=row[7], sha256=row[8], sanitized_sha256=row[9],
                      sanitized_size=row[10], sanitized_name=row[11],
                      report=json.loads(row[12]), approval=row[13],
                      approval_reason=row[14] or "")


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for i in range(0, len(ids), _IN_CHUNK):
        yield ids[i:i + _IN_CHUNK]


def _read_markers(c: sqlite3.Connection, room_id: int) -> tuple[list[int], dict[int, int]]:
    rows = c.execute("SELECT account_id, last_read FROM room_members WHERE room_id = ?",
                     (room_id,)).fetchall()
    return sorted(r[1] for r in rows), {r[0]: r[1] for r in rows}


def load_messages(c: sqlite3.Connection, rows: Sequence[Sequence[Any]]) -> list[Message]:
    """Messages (rows of MSG_COLS) with their attachments, read counts, reactions,
    mentions and quoted messages."""
    if not rows:
        return []
    ids = [int(r[0]) for r in rows]
    atts: dict[int, list[Attachment]] = {}
    for chunk in _chunks(ids):
        marks = ",".join("?" * len(chunk))
        for a in c.execute(f"SELECT {ATT_COLS} FROM attachments WHERE message_id IN ({marks}) "
                           "ORDER BY id", chunk):
            atts.setdefault(int(a[1]), []).append(attachment_from_row(a))
    markers: dict[int, tuple[list[int], dict[int, int]]] = {}
    out = []
    for r in rows:
        mid, room_id, sender = int(r[0]), int(r[1]), int(r[2])
        if room_id not in markers:
            markers[room_id] = _read_markers(c, room_id)
        ordered, by_account = markers[room_id]
        # Members whose marker has reached this message, not counting the sender.
        reached = len(ordered) - bisect.bisect_left(ordered, mid)
        if by_account.get(sender, -1) >= mid:
            reached -= 1
        files = tuple(atts.get(mid, ()))
        deleted = r[11] is not None
        out.append(Message(id=str(mid), room_id=str(room_id), sender=str(sender), body=r[3],
                           created_at=r[4], origin_zone=r[5], client_id=r[6],
                           attachments=() if deleted else files, read_count=reached,
                           kind="file" if files else r[7], stamp=r[8],
                           reply_to=None if r[9] is None else str(r[9]), edited_at=r[10],
                           deleted=deleted, urgent=bool(r[_URGENT]) or r[7] == "rollcall"))
    from store import structured  # its modules build on this one
    return structured.attach(c, extras.decorate(c, out))


def _message_row(c: sqlite3.Connection, message_id: str) -> tuple[Any, ...]:
    row = c.execute(f"SELECT {MSG_COLS} FROM messages WHERE id = ?",
                    (int_id(message_id),)).fetchone()
    if row is None:
        raise MessageNotFound(f"メッセージがありません / no such message: {message_id}",
                              message_id=message_id)
    return tuple(row)


def _require_member(c: sqlite3.Connection, room_id: int, account_id: int, label: str) -> None:
    if c.execute("SELECT 1 FROM room_members WHERE room_id = ? AND account_id = ?",
                 (room_id, account_id)).fetchone() is None:
        if c.execute("SELECT 1 FROM rooms WHERE id = ?", (room_id,)).fetchone() is None:
            raise RoomNotFound(f"ルームがありません / no such room: {label}", room_id=label)
        raise NotMember(f"ルームのメンバーではありません / not a member of room {label}",
                        room_id=label)


# ------------------------------------------------------------------------- reads


def get_message(db: sqlite_utils.Database, message_id: str) -> Message:
    return load_messages(db.conn, [_message_row(db.conn, message_id)])[0]


def history(db: sqlite_utils.Database, room_id: str, before: str | None,
            limit: int, after: str | None = None) -> list[Message]:
    """Up to ``limit`` messages oldest first: the newest ones, those just before
    ``before``, or (catching up) those just after ``after``."""
    c = db.conn
    rid = int_id(room_id)
    if c.execute("SELECT 1 FROM rooms WHERE id = ?", (rid,)).fetchone() is None:
        raise RoomNotFound(f"ルームがありません / no such room: {room_id}", room_id=room_id)
    if limit < 1:
        raise Invalid("limit must be at least 1", limit=limit)
    bound = int_id(before) if before is not None else None
    if bound is not None and bound < 0:
        raise Invalid(f"before: not a message id: {before}", before=before)
    if after is not None:
        return load_messages(c, c.execute(
            f"SELECT {MSG_COLS} FROM messages WHERE room_id = ? AND id > ? "
            "ORDER BY id LIMIT ?", (rid, int_id(after), limit)).fetchall())
    if bound is None:
        rows = c.execute(f"SELECT {MSG_COLS} FROM messages WHERE room_id = ? "
                         "ORDER BY id DESC LIMIT ?", (rid, limit)).fetchall()
    else:
        rows = c.execute(f"SELECT {MSG_COLS} FROM messages WHERE room_id = ? AND id < ? "
                         "ORDER BY id DESC LIMIT ?", (rid, bound, limit)).fetchall()
    rows.reverse()  # newest last
    return load_messages(c, rows)


def room_bodies(db: sqlite_utils.Database, room_id: str) -> list[str]:
    return [r[0] for r in db.conn.execute(
        "SELECT body FROM messages WHERE room_id = ? AND body != '' ORDER BY id",
        (int_id(room_id),))]


def readers(db: sqlite_utils.Database, message_id: str) -> Readers:
    c = db.conn
    row = _message_row(c, message_id)
    mid, room_id, sender = int(row[0]), int(row[1]), int(row[2])
    _, by_account = _read_markers(c, room_id)
    read = sorted(a for a, last in by_account.items() if last >= mid or a == sender)
    unread = sorted(a for a, last in by_account.items() if last < mid and a != sender)
    return Readers(read=tuple(map(str, read)), unread=tuple(map(str, unread)))


def rooms_for(db: sqlite_utils.Database, account_id: str) -> list[RoomSummary]:
    c = db.conn
    aid = int_id(account_id)
    rows = c.execute(
        f"SELECT {', '.join('r.' + col for col in _ROOM_COLS.split(', '))}, "
        "(SELECT count(*) FROM messages m WHERE m.room_id = r.id AND m.id > rm.last_read "
        " AND m.sender != rm.account_id) AS unread, "
        "(SELECT max(id) FROM messages m WHERE m.room_id = r.id) AS last_id, "
        "(SELECT count(*) FROM message_mentions mm WHERE mm.account_id = rm.account_id "
        " AND mm.room_id = r.id AND mm.message_id > rm.last_read) AS mentions, "
        "r.archived_at "
        "FROM room_members rm JOIN rooms r ON r.id = rm.room_id WHERE rm.account_id = ? "
        "ORDER BY coalesce(last_id, 0) DESC, r.id DESC", (aid,)).fetchall()
    members: dict[int, list[str]] = {}
    for room_id, member in c.execute(
            "SELECT room_id, account_id FROM room_members WHERE room_id IN "
            "(SELECT room_id FROM room_members WHERE account_id = ?) "
            "ORDER BY room_id, account_id", (aid,)):
        members.setdefault(room_id, []).append(str(member))
    last_ids = [r[6] for r in rows if r[6] is not None]
    last: dict[str, Message] = {}
    for chunk in _chunks(last_ids):
        marks = ",".join("?" * len(chunk))
        msg_rows = c.execute(f"SELECT {MSG_COLS} FROM messages WHERE id IN ({marks})",
                             chunk).fetchall()
        last.update((m.id, m) for m in load_messages(c, msg_rows))
    return [RoomSummary(room=room_from_row(r, tuple(members.get(r[0], ()))), unread=int(r[5]),
                        last_message=last.get(str(r[6])) if r[6] is not None else None,
                        mentions=int(r[7]), archived=r[8] is not None)
            for r in rows]


# ------------------------------------------------------------------------- writes


def require_session_txn(c: sqlite3.Connection, session_id: str, now: float) -> None:
    """SessionEnded unless the session is still live: checked in the write's own
    transaction, so nothing is stored through a session that ended while the request
    or stream frame was on its way."""
    live = c.execute("SELECT 1 FROM sessions s JOIN accounts a ON a.id = s.account_id "
                     "WHERE s.id = ? AND s.revoked = 0 AND s.expires_ts > ? AND a.disabled = 0",
                     (int_id(session_id), now)).fetchone()
    if live is None:
        raise SessionEnded("session ended", session_id=session_id)


def post_message_txn(db: sqlite_utils.Database, room_id: str, sender_id: str, body: str,
                     origin_zone: Zone, client_id: str | None,
                     now: float, session_id: str | None = None, kind: str = "text",
                     stamp: str | None = None, reply_to: str | None = None,
                     mentions: tuple[str, ...] = ()) -> tuple[Message, bool]:
    """The hot path: a handful of indexed statements, nothing else (the search index
    is written by a trigger in the same transaction)."""
    c = db.conn
    rid, sid = int_id(room_id), int_id(sender_id)
    if session_id is not None:
        require_session_txn(c, session_id, now)
    if client_id is not None:
        row = c.execute(f"SELECT {MSG_COLS} FROM messages WHERE sender = ? AND client_id = ?",
                        (sid, client_id)).fetchone()
        if row is not None:
            return load_messages(c, [row])[0], False
    _require_member(c, rid, sid, room_id)
    if c.execute("SELECT archived_at FROM rooms WHERE id = ?", (rid,)).fetchone()[0]:
        raise RoomArchived(f"ルームはアーカイブ済みです / room {room_id} is archived",
                           room_id=room_id)
    created_at = iso(now)
    cur = c.execute("INSERT INTO messages (room_id, sender, body, created_at, origin_zone, "
                    "client_id, kind, stamp, reply_to) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (rid, sid, body, created_at, origin_zone, client_id, kind, stamp,
                     None if reply_to is None else int_id(reply_to)))
    mid = int(cur.lastrowid or 0)
    if mentions:
        extras.write_mentions_txn(c, rid, mid, mentions)
    # The sender has read what they wrote.
    c.execute("UPDATE room_members SET last_read = ? WHERE room_id = ? AND account_id = ?",
              (mid, rid, sid))
    message = Message(id=str(mid), room_id=str(rid), sender=str(sid), body=body,
                      created_at=created_at, origin_zone=origin_zone, client_id=client_id,
                      kind=kind, stamp=stamp, reply_to=reply_to)
    if mentions or reply_to:
        message = extras.decorate(c, [message])[0]
    return message, True


def mark_read_txn(db: sqlite_utils.Database, room_id: str, account_id: str, up_to: str) -> bool:
    c = db.conn
    rid, aid = int_id(room_id), int_id(account_id)
    _require_member(c, rid, aid, room_id)
    row = _message_row(c, up_to)
    if int(row[1]) != rid:
        raise MessageNotFound(f"このルームのメッセージではありません / message {up_to} "
                              f"is not in room {room_id}", message_id=up_to, room_id=room_id)
    cur = c.execute("UPDATE room_members SET last_read = ? "
                    "WHERE room_id = ? AND account_id = ? AND last_read < ?",
                    (int(row[0]), rid, aid, int(row[0])))
    return cur.rowcount > 0
