"""The audit log: append-only, hash-chained, verifiable (docs/SECURITY.md, Audit).

Entry ``n`` carries ``mac_n = HMAC-SHA256(key, mac_{n-1} || canonical JSON of entry n)``
where the JSON holds the entry's id, time, actor, action, subject and data, and
``mac_0`` is empty.  Editing any field, deleting an entry or swapping two breaks the
chain at the first entry touched; a one-row ``audit_head`` carries a MAC over the id
and MAC of the newest entry, so cutting entries off the end is detected as well.  The
key never sits in the database (store.keys), so someone who can write the database
file cannot forge a chain.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import sqlite_utils

from store.db import iso
from store.errors import Invalid
from store.records import AuditEntry

_COLS = "id, at, actor, action, subject, data, prev_mac, mac"


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def entry_mac(key: bytes, prev_mac: str, entry_id: int, at: str, actor: str | None,
              action: str, subject: str | None, data: Any) -> str:
    body = canonical({"id": entry_id, "at": at, "actor": actor, "action": action,
                      "subject": subject, "data": data})
    return hmac.new(key, prev_mac.encode("ascii") + body, hashlib.sha256).hexdigest()


def head_mac(key: bytes, last_id: int, last_mac: str) -> str:
    return hmac.new(key, f"head\0{last_id}\0{last_mac}".encode("ascii"),
                    hashlib.sha256).hexdigest()


def _entry(row: Any) -> AuditEntry:
    return AuditEntry(id=int(row[0]), at=row[1], actor=row[2], action=row[3], subject=row[4],
                      data=json.loads(row[5]), prev_mac=row[6], mac=row[7])


def append_txn(db: sqlite_utils.Database, key: bytes, action: str, actor: str | None,
               subject: str | None, data: dict[str, Any], now: float) -> AuditEntry:
    c = db.conn
    try:
        data_text = canonical(data).decode("utf-8")
    except (TypeError, ValueError) as exc:
        raise Invalid(f"audit data is not JSON: {exc}") from exc
    # The chain's tail is read inside the transaction, so appends sharing one group
    # commit (or a rolled-back one) always chain onto what is really stored.
    last = c.execute("SELECT id, mac FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    prev_id, prev_mac = (int(last[0]), str(last[1])) if last else (0, "")
    entry_id, at = prev_id + 1, iso(now)
    parsed = json.loads(data_text)
    mac = entry_mac(key, prev_mac, entry_id, at, actor, action, subject, parsed)
    c.execute(f"INSERT INTO audit ({_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
              (entry_id, at, actor, action, subject, data_text, prev_mac, mac))
    c.execute("INSERT INTO audit_head (one, last_id, last_mac, head_mac) VALUES (1, ?, ?, ?) "
              "ON CONFLICT (one) DO UPDATE SET last_id = excluded.last_id, "
              "last_mac = excluded.last_mac, head_mac = excluded.head_mac",
              (entry_id, mac, head_mac(key, entry_id, mac)))
    return AuditEntry(id=entry_id, at=at, actor=actor, action=action, subject=subject,
                      data=parsed, prev_mac=prev_mac, mac=mac)


def recent(db: sqlite_utils.Database, actions: tuple[str, ...], since: float,
           limit: int) -> list[AuditEntry]:
    """Entries of ``actions`` at or after ``since``, oldest first, at most ``limit``
    (the newest).  Read from the end back, so only the tail of a long log is touched."""
    cutoff = iso(since)
    found = []
    for row in db.conn.execute(f"SELECT {_COLS} FROM audit ORDER BY id DESC"):
        if row[1] < cutoff:  # RFC 3339 UTC strings of one format sort as times do
            break
        if row[3] in actions:
            found.append(_entry(row))
            if len(found) >= limit:
                break
    return found[::-1]


def entries(db: sqlite_utils.Database, after: int, limit: int) -> list[AuditEntry]:
    rows = db.conn.execute(f"SELECT {_COLS} FROM audit WHERE id > ? ORDER BY id LIMIT ?",
                           (after, limit)).fetchall()
    return [_entry(r) for r in rows]


def verify(db: sqlite_utils.Database, key: bytes) -> tuple[bool, int, int | None]:
    """(ok, entries in the log, id of the first entry that fails, or None).

    Walks in id order recomputing each MAC from the previous *verified* one.  When
    the chain is intact but the head does not match, the entry after the last one
    present is reported (entries were cut off the end)."""
    c = db.conn
    count = c.execute("SELECT count(*) FROM audit").fetchone()[0]
    prev_mac, last_id = "", 0
    for row in c.execute(f"SELECT {_COLS} FROM audit ORDER BY id"):
        entry_id = int(row[0])
        try:
            data = json.loads(row[5])
        except (TypeError, ValueError):
            return False, count, entry_id
        expected = entry_mac(key, prev_mac, entry_id, row[1], row[2], row[3], row[4], data)
        if (entry_id != last_id + 1 or row[6] != prev_mac
                or not hmac.compare_digest(expected, str(row[7]))):
            return False, count, entry_id
        prev_mac, last_id = expected, entry_id
    head = c.execute("SELECT last_id, last_mac, head_mac FROM audit_head").fetchone()
    if head is None:
        return (True, 0, None) if last_id == 0 else (False, count, last_id + 1)
    if (int(head[0]) != last_id or head[1] != prev_mac
            or not hmac.compare_digest(head_mac(key, int(head[0]), str(head[1])), str(head[2]))):
        return False, count, last_id + 1
    return True, count, None
