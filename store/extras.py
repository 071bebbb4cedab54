"""What a message carries besides its row: reactions, mentions and the message it
replies to.  Synchronous SQL run inside the store's reads and writes.

``decorate`` fills these in for a page of messages with one query each (never one
per message); a deleted message shows none of them.  ``write_mentions_txn`` replaces
the mention rows of a message (on post, edit and delete), which also keeps the unread
mention counts of ``GET /api/v1/rooms`` in step.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from typing import Iterable

from store.db import int_id
from store.records import Message, Quote, Reaction

# A quoted message shows this many characters of its body.
QUOTE_CHARS = 100
# Most ids in one "IN (...)" list.
_IN_CHUNK = 500
# At most this many distinct @names in one body are looked up.
MAX_MENTION_NAMES = 50


def _in_chunks(c: sqlite3.Connection, sql: str, ids: list[int]) -> Iterable[sqlite3.Row]:
    """Rows of ``sql`` (with one "{marks}" for the id list) over ``ids`` in chunks."""
    for i in range(0, len(ids), _IN_CHUNK):
        chunk = ids[i:i + _IN_CHUNK]
        yield from c.execute(sql.format(marks=",".join("?" * len(chunk))), chunk)


def decorate(c: sqlite3.Connection, messages: list[Message]) -> list[Message]:
    """The messages with their reactions, mentions and quoted message."""
    live = [int(m.id) for m in messages if not m.deleted]
    if not live:
        return messages
    reactions: dict[str, dict[str, list[str]]] = {}
    for mid, stamp, account in _in_chunks(
            c, "SELECT message_id, stamp, account_id FROM reactions "
               "WHERE message_id IN ({marks}) ORDER BY message_id, at, account_id", live):
        reactions.setdefault(str(mid), {}).setdefault(stamp, []).append(str(account))
    mentions: dict[str, list[str]] = {}
    for mid, account in _in_chunks(
            c, "SELECT message_id, account_id FROM message_mentions "
               "WHERE message_id IN ({marks}) ORDER BY message_id, account_id", live):
        mentions.setdefault(str(mid), []).append(str(account))
    quoted = sorted({int(m.reply_to) for m in messages if m.reply_to and not m.deleted})
    quotes: dict[str, Quote] = {}
    for qid, sender, kind, body, deleted_at, has_file in _in_chunks(
            c, "SELECT id, sender, kind, body, deleted_at, EXISTS (SELECT 1 FROM attachments "
               "a WHERE a.message_id = m.id) FROM messages m WHERE id IN ({marks})", quoted):
        quotes[str(qid)] = Quote(str(qid), str(sender), "file" if has_file else kind,
                                 body[:QUOTE_CHARS], deleted_at is not None)
    out = []
    for m in messages:
        if m.deleted or (m.id not in reactions and m.id not in mentions and not m.reply_to):
            out.append(m)
            continue
        out.append(dataclasses.replace(
            m, reactions=tuple(Reaction(s, tuple(a)) for s, a in reactions.get(m.id, {}).items()),
            mentions=tuple(mentions.get(m.id, ())),
            quote=quotes.get(m.reply_to) if m.reply_to else None))
    return out


def write_mentions_txn(c: sqlite3.Connection, room_id: int, message_id: int,
                       account_ids: Iterable[str]) -> None:
    c.execute("DELETE FROM message_mentions WHERE message_id = ?", (message_id,))
    c.executemany("INSERT OR IGNORE INTO message_mentions (account_id, room_id, message_id) "
                  "VALUES (?, ?, ?)", [(int_id(a), room_id, message_id) for a in account_ids])


def members_by_login(c: sqlite3.Connection, room_id: str,
                     logins: Iterable[str]) -> dict[str, str]:
    """{login as lowercase: account id} of the enabled members of the room among
    ``logins`` (case-insensitive, like logins are)."""
    wanted = sorted({name.lower() for name in logins})[:MAX_MENTION_NAMES]
    if not wanted:
        return {}
    marks = ",".join("?" * len(wanted))
    # The login column compares case-insensitively (COLLATE NOCASE), through its index.
    rows = c.execute(
        f"SELECT lower(a.login), a.id FROM accounts a WHERE a.login IN ({marks}) "
        "AND a.disabled = 0 AND EXISTS (SELECT 1 FROM room_members rm "
        "WHERE rm.room_id = ? AND rm.account_id = a.id)", (*wanted, int_id(room_id))).fetchall()
    return {login: str(aid) for login, aid in rows}
