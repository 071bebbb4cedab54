"""Phone memos (電話取次メモ): who called for whom, to be called back or not, as the
object of a message of kind ``memo`` that mentions its recipient; marked done when
handled.  Synchronous SQL run by the facade, each change with its audit entry."""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils

from store.db import int_id, iso
from store.messages import get_message
from store.records import Message, Zone
from store.work_objects import get_memo
from store.work_records import Memo
from store.work_writes import post_structured_txn, require_changeable, require_in_room


@dataclass(frozen=True, slots=True)
class MemoDraft:
    """A memo as written, already checked."""

    to: str
    caller: str
    caller_org: str | None
    number: str | None
    received_at: str
    callback: bool
    note: str | None


def create_memo_txn(db: sqlite_utils.Database, room_id: str, sender_id: str, zone: Zone,
                    client_id: str | None, now: float, session_id: str | None,
                    memo: MemoDraft) -> tuple[Message, bool]:
    """The memo and its message, which mentions ``memo.to`` (unless the writer is the
    recipient); (message, created).  NotInRoom when the recipient is not a member."""
    mentions = () if memo.to == sender_id else (memo.to,)
    mid, created = post_structured_txn(db, room_id, sender_id, zone, client_id, now,
                                       session_id, "memo", mentions=mentions)
    if created:
        rid = int_id(room_id)
        require_in_room(db.conn, rid, [("to", memo.to)])
        db.conn.execute(
            "INSERT INTO memos (message_id, room_id, created_by, to_account, caller, "
            "caller_org, number, received_at, callback, note) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (mid, rid, int_id(sender_id), int_id(memo.to), memo.caller, memo.caller_org,
             memo.number, memo.received_at, int(memo.callback), memo.note))
    return get_message(db, str(mid)), created


def memo_done_txn(db: sqlite_utils.Database, memo_id: str, actor_id: str,
                  now: float) -> tuple[Memo, Message, bool]:
    """Mark the memo handled; (memo, its message, whether it changed: a memo done
    already stays as it was)."""
    c = db.conn
    memo = get_memo(c, memo_id)
    require_changeable(c, memo.message_id, actor_id)
    changed = not memo.done
    if changed:
        c.execute("UPDATE memos SET done_at = ?, done_by = ? WHERE id = ?",
                  (iso(now), int_id(actor_id), int(memo.id)))
        memo = get_memo(c, memo_id)
    return memo, get_message(db, memo.message_id), changed
