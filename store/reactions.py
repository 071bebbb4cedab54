"""Reactions: a stamp put on a message by a member, one row per (message, stamp,
person).  Synchronous SQL run by the facade; a reaction is its own record, like a
read marker, and is not audited."""

from __future__ import annotations

import sqlite_utils

from store.db import int_id, iso
from store.errors import StoreError
from store.messages import _message_row, _require_member, get_message
from store.records import Message


class MessageDeleted(StoreError):
    """The message was deleted: it can no longer be edited, reacted to or replied to."""

    code, status = "message_deleted", 409


def check_live(row: tuple[object, ...], message_id: str) -> None:
    """MessageDeleted when the message row (MSG_COLS) is of a deleted message."""
    if row[11] is not None:
        raise MessageDeleted(f"削除されたメッセージです / message {message_id} was deleted",
                             message_id=message_id)


def set_reaction_txn(db: sqlite_utils.Database, message_id: str, account_id: str, stamp: str,
                     on: bool, now: float) -> tuple[Message, bool]:
    """Put (``on``) or take back the account's stamp; (the message, whether it changed).
    Doing what is already done changes nothing."""
    c = db.conn
    row = _message_row(c, message_id)
    check_live(row, message_id)
    mid, aid = int(row[0]), int_id(account_id)
    _require_member(c, int(row[1]), aid, str(row[1]))
    if on:
        cur = c.execute("INSERT OR IGNORE INTO reactions (message_id, stamp, account_id, at) "
                        "VALUES (?, ?, ?, ?)", (mid, stamp, aid, iso(now)))
    else:
        cur = c.execute("DELETE FROM reactions WHERE message_id = ? AND stamp = ? "
                        "AND account_id = ?", (mid, stamp, aid))
    return get_message(db, message_id), cur.rowcount > 0
