"""Full-text search over messages: synchronous SQL run by the facade's readers.

Japanese has no spaces between words, so the index (``messages_fts``, migration 5) is
FTS5 with the trigram tokenizer: any substring of three characters or more is found,
case-insensitively, without word splitting.  The query is always one quoted FTS5
phrase (its ``"`` doubled), so FTS syntax a user types (``*``, ``NEAR(``, ``OR``,
``:``, ``^``) is searched for as text, never interpreted.

A trigram cannot be looked up with two characters.  Each body is indexed with a line
feed after it, so every place a two-character text occurs is the start of one of the
index's trigrams; those trigrams are read from the index's term list
(``messages_fts_terms``, a range scan) and searched for together (``OR``).  Both ways
only look in the rooms the account is a member of, never find a deleted message (its
body is empty and out of the index), and answer newest first.  ``scan`` answers the
same without the index (LIKE over the rooms' messages): ``bench/search.py`` compares.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils

from store.db import int_id
from store.messages import MSG_COLS, load_messages
from store.records import Message

TRIGRAM = 3  # characters the index needs in a query
_M_COLS = ", ".join("m." + col.strip() for col in MSG_COLS.split(","))


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """What to look for and where; times are RFC 3339 strings like ``created_at``."""

    account_id: str  # only rooms this account is a member of
    text: str  # normalised, at least 2 characters
    limit: int
    room_id: str | None = None
    sender_id: str | None = None
    after: str | None = None  # created strictly after this time
    before: str | None = None  # created strictly before this time
    before_id: str | None = None  # only messages older than this one (paging)


def fts_phrase(text: str) -> str:
    """``text`` as one FTS5 string: every character literal."""
    return '"' + text.replace('"', '""') + '"'


def like_pattern(text: str) -> str:
    """``text`` as a LIKE substring pattern with ``\\`` as the escape character."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _where(q: SearchQuery) -> tuple[str, list[object]]:
    conds = ["m.deleted_at IS NULL",
             "m.room_id IN (SELECT room_id FROM room_members WHERE account_id = ?)"]
    args: list[object] = [int_id(q.account_id)]
    for cond, value in (("m.room_id = ?", q.room_id), ("m.sender = ?", q.sender_id),
                        ("m.id < ?", q.before_id)):
        if value is not None:
            conds.append(cond)
            args.append(int_id(value))
    for cond, value in (("m.created_at > ?", q.after), ("m.created_at < ?", q.before)):
        if value is not None:
            conds.append(cond)
            args.append(value)
    return " AND ".join(conds), args


def search(db: sqlite_utils.Database, q: SearchQuery) -> list[Message]:
    """Newest first, at most ``q.limit``, through the index."""
    if len(q.text) >= TRIGRAM:
        match = fts_phrase(q.text)
    else:
        # Terms are case-folded like the tokenizer folds; U+10FFFF sorts after them all.
        low = q.text.lower()
        terms = [t for (t,) in db.conn.execute(
            "SELECT term FROM messages_fts_terms WHERE term >= ? AND term < ?",
            (low, low + "\U0010ffff"))]
        if not terms:
            return []
        match = " OR ".join(fts_phrase(t) for t in terms)
    where, args = _where(q)
    sql = (f"SELECT {_M_COLS} FROM messages_fts f JOIN messages m ON m.id = f.rowid "
           f"WHERE messages_fts MATCH ? AND {where} ORDER BY f.rowid DESC LIMIT ?")
    return load_messages(db.conn, db.conn.execute(sql, [match, *args, q.limit]).fetchall())


def scan(db: sqlite_utils.Database, q: SearchQuery) -> list[Message]:
    """The same answer without the index: LIKE over the messages of the rooms."""
    where, args = _where(q)
    sql = (f"SELECT {_M_COLS} FROM messages m WHERE m.body LIKE ? ESCAPE '\\' "
           f"AND {where} ORDER BY m.id DESC LIMIT ?")
    rows = db.conn.execute(sql, [like_pattern(q.text), *args, q.limit]).fetchall()
    return load_messages(db.conn, rows)
