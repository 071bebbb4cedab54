"""What polls, schedule adjustments and roll calls share in the store: the message
that carries each one, and the checks every answer passes inside its transaction
(a live session, a member of a room that is not archived, a message not deleted).
Synchronous SQL run by the facade."""

from __future__ import annotations

import sqlite3
from typing import Any

import sqlite_utils

from store.db import int_id
from store.errors import RoomArchived, StoreError
from store.messages import _require_member, post_message_txn, require_session_txn
from store.reactions import MessageDeleted
from store.records import Message, Zone


class NotCreator(StoreError):
    """Only the one who made a poll, a schedule or a roll call closes or decides it."""

    code, status = "not_creator", 403


def post_carrier_txn(db: sqlite_utils.Database, kind: str, room_id: str, creator: str,
                     body: str, zone: Zone, client_id: str | None, session_id: str | None,
                     now: float) -> tuple[Message, bool]:
    """The message that carries a new poll, schedule or roll call (its body the
    question or title, so search finds it); (message, created), idempotent on
    ``client_id`` like any message."""
    return post_message_txn(db, room_id, creator, body, zone, client_id, now,
                            session_id=session_id, kind=kind)


def require_answerable_txn(c: sqlite3.Connection, room_id: int, message_id: int,
                           account_id: str, session_id: str | None, now: float) -> None:
    """The checks of every answer, in its own transaction: the session still live,
    the account a member, the room not archived, the carrying message not deleted."""
    if session_id is not None:
        require_session_txn(c, session_id, now)
    _require_member(c, room_id, int_id(account_id), str(room_id))
    row: Any = c.execute("SELECT r.archived_at, m.deleted_at FROM rooms r, messages m "
                         "WHERE r.id = ? AND m.id = ?", (room_id, message_id)).fetchone()
    if row[0]:
        raise RoomArchived(f"ルームはアーカイブ済みです / room {room_id} is archived",
                           room_id=str(room_id))
    if row[1] is not None:
        raise MessageDeleted(f"削除されたメッセージです / message {message_id} was deleted",
                             message_id=str(message_id))


def require_creator(creator: str, account_id: str, subject: str) -> None:
    if creator != account_id:
        raise NotCreator(f"作成者だけができます / only the creator may do this: {subject}",
                         subject=subject)


def marks(n: int) -> str:
    return ",".join("?" * n)
