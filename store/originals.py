"""Releases of quarantined originals: request, admin decision, and the check at fetch.

An LGWAN user asks for the original of a disarmed file with a reason; an admin
approves or denies; an approval releases the original to that requester alone until
it expires.  Audit entries for each step are the relay's to append (same group
commit).  Synchronous SQL, run by the facade.
"""

from __future__ import annotations

from typing import Any, Sequence

import sqlite_utils

from store.db import int_id, iso
from store.errors import AlreadyDecided, RequestNotFound
from store.files import get_attachment
from store.records import OriginalRequest

_COLS = ("id, attachment_id, requester, reason, status, created_at, decided_by, decided_at, "
         "note, expires_at")


def _from_row(row: Sequence[Any]) -> OriginalRequest:
    return OriginalRequest(id=str(row[0]), file_id=str(row[1]), requester=str(row[2]),
                           reason=row[3], status=row[4], created_at=row[5],
                           decided_by=None if row[6] is None else str(row[6]),
                           decided_at=row[7], note=row[8], expires_at=row[9])


def get_request(db: sqlite_utils.Database, request_id: str) -> OriginalRequest:
    row = db.conn.execute(f"SELECT {_COLS} FROM original_requests WHERE id = ?",
                          (int_id(request_id),)).fetchone()
    if row is None:
        raise RequestNotFound(f"申請がありません / no such request: {request_id}",
                              request_id=request_id)
    return _from_row(row)


def list_requests(db: sqlite_utils.Database, status: str | None,
                  limit: int) -> list[OriginalRequest]:
    if status is None:
        rows = db.conn.execute(f"SELECT {_COLS} FROM original_requests ORDER BY id LIMIT ?",
                               (limit,)).fetchall()
    else:
        rows = db.conn.execute(f"SELECT {_COLS} FROM original_requests WHERE status = ? "
                               "ORDER BY id LIMIT ?", (status, limit)).fetchall()
    return [_from_row(r) for r in rows]


def is_released(db: sqlite_utils.Database, attachment_id: str, account_id: str,
                now: float) -> bool:
    return db.conn.execute(
        "SELECT 1 FROM original_requests WHERE attachment_id = ? AND requester = ? "
        "AND status = 'approved' AND expires_ts > ? LIMIT 1",
        (int_id(attachment_id), int_id(account_id), now)).fetchone() is not None


def request_txn(db: sqlite_utils.Database, attachment_id: str, requester: str, reason: str,
                now: float) -> OriginalRequest:
    att = get_attachment(db, attachment_id)  # FileNotFound
    cur = db.conn.execute(
        "INSERT INTO original_requests (attachment_id, requester, reason, status, created_at) "
        "VALUES (?, ?, ?, 'pending', ?)", (int(att.id), int_id(requester), reason, iso(now)))
    return get_request(db, str(cur.lastrowid))


def decide_txn(db: sqlite_utils.Database, request_id: str, admin_id: str, approve: bool,
               note: str, now: float, ttl_s: float) -> OriginalRequest:
    req = get_request(db, request_id)
    if req.status != "pending":
        raise AlreadyDecided(f"決定済みです / request already {req.status}",
                             request_id=request_id, status=req.status)
    expires = now + ttl_s if approve else None
    db.conn.execute(
        "UPDATE original_requests SET status = ?, decided_by = ?, decided_at = ?, note = ?, "
        "expires_at = ?, expires_ts = ? WHERE id = ?",
        ("approved" if approve else "denied", int_id(admin_id), iso(now), note,
         iso(expires) if expires is not None else None, expires, int(req.id)))
    return get_request(db, request_id)
