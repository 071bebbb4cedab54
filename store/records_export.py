"""What a disclosure request (情報公開) and an audit export read: synchronous SQL run on a
read connection by the facade (``store.facade_records``).

A room's history over a period, as plain dicts: each message with its author's
login and display name, the author's department at the time (所属), its text, its
edited / deleted / purged markers and earlier versions, its attachments (names,
sizes, kinds, SHA-256 of the original and of the rebuilt file) and the members who
have read it (既読).  The directory keeps no dated history of its own, but every move
is an ``account.moved`` audit entry (``from``, ``to``, time): the department at a
moment is the ``from`` of the first move after it, else the department now.
Read markers hold no time, so who read a message is known, not when.
"""

from __future__ import annotations

import bisect
import json
import sqlite3
from typing import Any

import sqlite_utils

from store.directory import departments
from store.errors import RoomNotFound

_AUDIT_COLS = "id, at, actor, action, subject, data, prev_mac, mac"


class Departments:
    """An account's department at a moment, from the directory and its moves."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        c = db.conn
        paths = {int(d.id): d.path for d in departments(db)}
        self.now: dict[str, str] = {
            str(r[0]): paths.get(r[1], "") if r[1] is not None else ""
            for r in c.execute("SELECT id, department_id FROM accounts")}
        self.moves: dict[str, list[tuple[str, str]]] = {}
        for subject, at, data in c.execute(
                "SELECT subject, at, data FROM audit WHERE action = 'account.moved' ORDER BY id"):
            self.moves.setdefault(str(subject), []).append((at, json.loads(data).get("from", "")))

    def at(self, account_id: str, when: str) -> str:
        moves = self.moves.get(account_id, [])
        i = bisect.bisect_right([m[0] for m in moves], when)
        return moves[i][1] if i < len(moves) else self.now.get(account_id, "")


def _people(c: sqlite3.Connection) -> dict[str, tuple[str, str]]:
    return {str(r[0]): (r[1], r[2]) for r in
            c.execute("SELECT id, login, display_name FROM accounts")}


def room_history(db: sqlite_utils.Database, room_id: str, start: str,
                 end: str) -> dict[str, Any]:
    """The room and its messages written in [start, end) (RFC 3339 UTC strings)."""
    c = db.conn
    room = c.execute("SELECT r.id, r.name, r.kind, r.department_id, r.created_at FROM rooms r "
                     "WHERE r.id = ?", (room_id,)).fetchone()
    if room is None:
        raise RoomNotFound(f"ルームがありません / no such room: {room_id}", room_id=room_id)
    deps = Departments(db)
    people = _people(c)
    dep_paths = {int(d.id): d.path for d in departments(db)}
    kind = "department" if room[2] == "group" and room[3] is not None else room[2]
    markers = c.execute("SELECT account_id, last_read FROM room_members WHERE room_id = ?",
                        (room[0],)).fetchall()
    rows = c.execute(
        "SELECT id, sender, body, created_at, origin_zone, kind, edited_at, deleted_at, "
        "purged_at, reply_to FROM messages WHERE room_id = ? AND created_at >= ? AND "
        "created_at < ? ORDER BY id", (room[0], start, end)).fetchall()
    ids = [r[0] for r in rows]
    versions: dict[int, list[dict[str, Any]]] = {}
    files: dict[int, list[dict[str, Any]]] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        marks = ",".join("?" * len(chunk))
        for v in c.execute(f"SELECT message_id, body, written_at, replaced_at, replaced_by, change "
                           f"FROM message_versions WHERE message_id IN ({marks}) ORDER BY id",
                           chunk):
            versions.setdefault(v[0], []).append({
                "body": v[1], "written_at": v[2], "replaced_at": v[3], "change": v[5],
                "replaced_by": people.get(str(v[4]), ("", ""))[0] if v[4] is not None else ""})
        for a in c.execute(f"SELECT message_id, id, name, size, kind, status, origin_zone, sha256, "
                           f"sanitized_sha256, sanitized_size, purged_ts FROM attachments "
                           f"WHERE message_id IN ({marks}) ORDER BY id", chunk):
            files.setdefault(a[0], []).append({
                "id": str(a[1]), "name": a[2], "size": a[3], "kind": a[4], "status": a[5],
                "origin_zone": a[6], "sha256": a[7], "sanitized_sha256": a[8],
                "sanitized_size": a[9], "purged": a[10] is not None})
    messages = []
    for r in rows:
        sender = str(r[1])
        login, name = people.get(sender, ("", ""))
        readers = sorted(people.get(str(m[0]), ("", ""))[0] for m in markers
                         if m[1] >= r[0] and str(m[0]) != sender)
        messages.append({
            "id": str(r[0]), "at": r[3], "login": login, "display_name": name,
            "department": deps.at(sender, r[3]), "zone": r[4], "kind": r[5], "body": r[2],
            "edited_at": r[6], "deleted_at": r[7], "purged_at": r[8],
            "reply_to": None if r[9] is None else str(r[9]),
            "versions": versions.get(r[0], []), "files": files.get(r[0], []),
            "read_by": readers})
    return {"room": {"id": str(room[0]), "name": room[1], "kind": kind,
                     "department": dep_paths.get(room[3], "") if room[3] is not None else "",
                     "created_at": room[4]},
            "from": start, "to": end, "messages": messages}


def audit_range(db: sqlite_utils.Database, start: str, end: str) -> list[dict[str, Any]]:
    """The audit entries written in [start, end), with their chain MACs: each entry's
    ``mac`` is HMAC-SHA256(audit key, ``prev_mac`` || canonical JSON of id, at, actor,
    action, subject, data), so whoever holds the key can check the export (and that
    no entry inside it is missing: the ids run on and each prev_mac is the mac before)."""
    out = []
    for row in db.conn.execute(f"SELECT {_AUDIT_COLS} FROM audit WHERE at >= ? AND at < ? "
                               "ORDER BY id", (start, end)):
        out.append({"id": row[0], "at": row[1], "actor": row[2], "action": row[3],
                    "subject": row[4], "data": json.loads(row[5]), "prev_mac": row[6],
                    "mac": row[7]})
    return out
