"""Editing and deleting messages, and the earlier versions they leave behind.
Synchronous SQL run by the facade, each change with its audit entry (``store.facade``).

An edit or a delete first copies the body it replaces into ``message_versions`` (with
when that body was written and who replaced it), so the sender and admins can read
every version and the audit entry can name the version and its hash.  A deleted
message keeps its row (history shows where it was) with an empty body; the trigger of
the search index takes it out of the index in the same transaction.
"""

from __future__ import annotations

from typing import Sequence

import sqlite_utils

from store import extras
from store.db import int_id, iso
from store.errors import MessageNotFound, StoreError
from store.messages import _message_row, get_message
from store.reactions import check_live
from store.records import Message, MessageVersion

_VERSION_COLS = "id, message_id, body, written_at, replaced_at, replaced_by, change"


class NotYourMessage(StoreError):
    """Only the sender edits a message (and reads its versions, with admins)."""

    code, status = "not_your_message", 403


class NotEditable(StoreError):
    """Only text messages are edited (not files, not stamps)."""

    code, status = "not_editable", 400


def _version_from_row(row: Sequence[object]) -> MessageVersion:
    return MessageVersion(id=str(row[0]), message_id=str(row[1]), body=str(row[2]),
                          written_at=str(row[3]), replaced_at=str(row[4]),
                          replaced_by=None if row[5] is None else str(row[5]),
                          change=row[6])  # type: ignore[arg-type]


def _keep_version_txn(db: sqlite_utils.Database, row: Sequence[object], by: str, change: str,
                      now: float) -> MessageVersion:
    written_at = row[10] or row[4]  # edited_at, else created_at
    cur = db.conn.execute(
        "INSERT INTO message_versions (message_id, body, written_at, replaced_at, "
        "replaced_by, change) VALUES (?, ?, ?, ?, ?, ?)",
        (row[0], row[3], written_at, iso(now), int_id(by), change))
    return _version_from_row(db.conn.execute(
        f"SELECT {_VERSION_COLS} FROM message_versions WHERE id = ?",
        (cur.lastrowid,)).fetchone())


def edit_txn(db: sqlite_utils.Database, message_id: str, editor_id: str, body: str,
             mentions: tuple[str, ...], now: float) -> tuple[Message, MessageVersion]:
    """The sender's new body; the one it replaces is kept as a version.  The
    mentions are those of the new body."""
    c = db.conn
    row = _message_row(c, message_id)
    check_live(row, message_id)
    if str(row[2]) != editor_id:
        raise NotYourMessage("送信者だけが編集できます / only the sender may edit",
                             message_id=message_id)
    if row[7] != "text":
        raise NotEditable("このメッセージは編集できません / this message cannot be edited",
                          message_id=message_id, kind=row[7])
    version = _keep_version_txn(db, row, editor_id, "edit", now)
    c.execute("UPDATE messages SET body = ?, edited_at = ? WHERE id = ?",
              (body, iso(now), row[0]))
    extras.write_mentions_txn(c, int(row[1]), int(row[0]), mentions)
    return get_message(db, message_id), version


def delete_txn(db: sqlite_utils.Database, message_id: str, by: str,
               now: float) -> tuple[Message, MessageVersion]:
    """Empty the message (its body kept as a version); its mentions go with it.
    Who may delete is the caller's decision (the sender, or an admin)."""
    c = db.conn
    row = _message_row(c, message_id)
    check_live(row, message_id)
    version = _keep_version_txn(db, row, by, "delete", now)
    c.execute("UPDATE messages SET body = '', deleted_at = ? WHERE id = ?", (iso(now), row[0]))
    extras.write_mentions_txn(c, int(row[1]), int(row[0]), ())
    return get_message(db, message_id), version


def versions(db: sqlite_utils.Database, message_id: str) -> list[MessageVersion]:
    """The earlier versions of a message, oldest first."""
    mid = int_id(message_id)
    if db.conn.execute("SELECT 1 FROM messages WHERE id = ?", (mid,)).fetchone() is None:
        raise MessageNotFound("message not found", message_id=message_id)
    rows = db.conn.execute(f"SELECT {_VERSION_COLS} FROM message_versions "
                           "WHERE message_id = ? ORDER BY id", (mid,)).fetchall()
    return [_version_from_row(r) for r in rows]
