"""A person's sessions as they see them: which device, which zone, since when, last
used; ending one, or (an admin) all of an account's.

``last_seen_ts`` is written in batches (``touch_txn``, about once a minute by
relay.my_sessions), never on a request's own path.  ``*_txn`` functions run on the
writer thread; the others are reads.  The async functions at the end are this
module's face (like ``store.directory``'s).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlite_utils

from store import accounts
from store.db import int_id, iso
from store.errors import NotFound

if TYPE_CHECKING:
    from store.facade import AuditFor, Store


class SessionNotFound(NotFound):
    code = "session_not_found"


@dataclass(frozen=True, slots=True)
class SessionInfo:
    id: str
    account_id: str
    zone: str
    device: str
    created_at: str
    expires_at: str
    last_seen_ts: float | None

    def public(self, current: bool, streams: int) -> dict[str, Any]:
        return {"id": self.id, "zone": self.zone, "device": self.device,
                "created_at": self.created_at, "expires_at": self.expires_at,
                "last_seen_at": iso(self.last_seen_ts) if self.last_seen_ts else self.created_at,
                "current": current, "streams": streams}


_COLS = "id, account_id, zone, device, created_at, expires_at, last_seen_ts"


def _info(r: Any) -> SessionInfo:
    return SessionInfo(str(r[0]), str(r[1]), r[2], r[3], r[4], r[5], r[6])


# ------------------------------------------------------------------------- reads


def live_sessions(db: sqlite_utils.Database, account_id: str, now: float) -> list[SessionInfo]:
    """The account's sessions that still work, newest first."""
    rows = db.conn.execute(
        f"SELECT {_COLS} FROM sessions WHERE account_id = ? AND revoked = 0 AND expires_ts > ? "
        "ORDER BY id DESC", (int_id(account_id), now)).fetchall()
    return [_info(r) for r in rows]


# ------------------------------------------------------------------------- writes


def end_session_txn(db: sqlite_utils.Database, account_id: str, session_id: str,
                    now: float) -> SessionInfo:
    """End one live session of this account (SessionNotFound for any other: someone
    else's session is not told apart from none)."""
    r = db.conn.execute(
        f"SELECT {_COLS} FROM sessions WHERE id = ? AND account_id = ? AND revoked = 0 "
        "AND expires_ts > ?", (int_id(session_id), int_id(account_id), now)).fetchone()
    if r is None:
        raise SessionNotFound(session_id=session_id)
    db.conn.execute("UPDATE sessions SET revoked = 1 WHERE id = ?", (r[0],))
    return _info(r)


def end_all_txn(db: sqlite_utils.Database, account_id: str) -> list[str]:
    accounts.get_account(db, account_id)  # AccountNotFound
    return accounts._revoke_all(db.conn, account_id)


def touch_txn(db: sqlite_utils.Database, seen: list[tuple[float, int]]) -> None:
    """Last use of each session (``(when, session id)``), never moved backwards."""
    db.conn.executemany("UPDATE sessions SET last_seen_ts = ?1 WHERE id = ?2 AND "
                        "(last_seen_ts IS NULL OR last_seen_ts < ?1)", seen)


# ------------------------------------------------------------------------- the async face


async def read(store: "Store", fn: Any, *args: Any) -> Any:
    return await store._read(fn, *args)


async def write(store: "Store", fn: Any, args: tuple[Any, ...], audit: "AuditFor",
                now: float) -> Any:
    return await store._audited(fn, args, audit, now)


async def touch(store: "Store", seen: list[tuple[float, int]]) -> None:
    """Not an action (like a read marker): no audit entry."""
    await store._write(touch_txn, seen)
