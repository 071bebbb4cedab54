"""Full-text search over messages: synchronous SQL run by the facade's readers and
writer.

Japanese has no spaces between words, so the index (``messages_fts``) is FTS5 with the
trigram tokenizer: every three characters of a body are a term (case-folded), without
word splitting.  It keeps only which messages hold a term (``detail=none``: no
positions), which makes it less than half the size and quicker to write; so a query of
three characters or more asks for the messages holding all of its trigrams, and each
candidate's body is then checked for the query itself (case-insensitively), newest
first, until ``limit`` are found.

A trigram cannot be looked up with two characters.  Each body is indexed with a line
feed after it, so every place a two-character text occurs is the start of one of the
index's trigrams; the trigrams that ever occurred are kept in ``messages_fts_trigrams``
(a plain table: a range of it lists the ones starting with the query), and the query
asks for any of them (``OR``).  The query is always FTS5 strings (``"`` doubled), so
FTS syntax a user types (``*``, ``NEAR(``, ``OR``, ``:``, ``^``) is text, never
interpreted.

Writing the index costs most when it is written message by message: FTS5 writes its
pending terms to disk at every SAVEPOINT, and the writer runs each operation in one.
So a new (or edited) body is only queued by a trigger (``messages_fts_pending``, the
message id), in the transaction that writes it; once ``INDEX_BATCH`` are queued, the
writer's ``index_pending`` indexes them in one statement and adds their trigrams to
the term table, just before that group's COMMIT.  A search reads the queue beside the
index (a few hundred rows at most, only those of the caller's rooms), so a committed
message is always found.  An edit or a delete takes the old body out of the index at
once, in its own statement (a queued one needs nothing: the queue is read as the
messages are now).  A long queue left by a writer other than the store's (raw SQL, the
migration that made the index) is indexed by the store's writer when it starts.

Every search only looks in the rooms the account is a member of, never finds a deleted
message (its body is empty and out of the index), and answers newest first.  ``scan``
answers the same without the index (LIKE over the rooms' messages): ``bench/search.py``
compares.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import sqlite_utils

from store.db import int_id
from store.messages import MSG_COLS, load_messages
from store.records import Message

TRIGRAM = 3  # characters the index needs in a query
_M_COLS = ", ".join("m." + col.strip() for col in MSG_COLS.split(","))
_BODY = [col.strip() for col in MSG_COLS.split(",")].index("body")

# The queue's bodies enter FTS5 in one statement (one segment).  CROSS JOIN (here and
# in ``search``) keeps the queue or the index as the outer loop: the planner has no
# statistics to know the queue is small, and could walk the rooms' messages instead.
_INDEX_QUEUED = (
    "INSERT INTO messages_fts (rowid, body) SELECT m.id, m.body || char(10) "
    "FROM messages_fts_pending p CROSS JOIN messages m ON m.id = p.id WHERE m.body != ''")
_QUEUED_BODIES = (
    "SELECT m.body FROM messages_fts_pending p CROSS JOIN messages m ON m.id = p.id "
    "WHERE length(m.body) >= 2")
# The writer indexes the queue when it holds this many messages: FTS5 costs less per
# message the more it is given at once; a search reads the queue (at most this many
# rows, only those of the caller's rooms) beside the index.
INDEX_BATCH = 500
# The writer remembers this many trigrams it knows are in the term table, so that it
# does not ask the table again for each body; past that it starts again.
KNOWN_TRIGRAMS = 100_000


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


def fold(text: str) -> str:
    """``text`` case-folded as the trigram tokenizer folds it: each character to its
    lowercase one (a capital whose lowercase is two characters stays), final sigma
    as sigma."""
    low = text.lower()
    if len(low) != len(text):
        low = "".join(ch if len(ch.lower()) != 1 else ch.lower() for ch in text)
    return low.replace("\u03c2", "\u03c3")


def trigrams(body: str) -> set[str]:
    """The trigrams of ``body`` as the term table keeps them (folded, line feed after
    the body)."""
    text = fold(body) + "\n"
    return {text[i:i + TRIGRAM] for i in range(len(text) - TRIGRAM + 1)}


def index_pending(db: sqlite_utils.Database, known: set[str] | frozenset[str] = frozenset(),
                  at_least: int = 1) -> set[str]:
    """Index the queued messages inside the caller's transaction when there are
    ``at_least`` of them; returns the trigrams it added to the term table, none of
    ``known`` (those the caller knows are there already)."""
    c = db.conn
    if c.execute("SELECT 1 FROM messages_fts_pending LIMIT 1 OFFSET ?",
                 (at_least - 1,)).fetchone() is None:
        return set()
    c.execute(_INDEX_QUEUED)
    new: set[str] = set()
    for (body,) in c.execute(_QUEUED_BODIES):
        new |= trigrams(body)
    new -= known
    c.executemany("INSERT OR IGNORE INTO messages_fts_trigrams (term) VALUES (?)",
                  [(t,) for t in new])
    c.execute("DELETE FROM messages_fts_pending")
    return new


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


def _terms(c: sqlite3.Connection, two: str) -> list[str]:
    """The index's trigrams that start with the two characters ``two``."""
    low = fold(two)
    # U+10FFFF sorts after every character a term can have.
    return [t for (t,) in c.execute(
        "SELECT term FROM messages_fts_trigrams WHERE term >= ? AND term < ?",
        (low, low + "\U0010ffff"))]


def _match(c: sqlite3.Connection, text: str) -> str | None:
    """The FTS5 query for the messages that may hold ``text``; None when none can."""
    if len(text) >= TRIGRAM:
        trigrams = sorted({text[i:i + TRIGRAM] for i in range(len(text) - TRIGRAM + 1)})
        return " AND ".join(fts_phrase(t) for t in trigrams)
    terms = _terms(c, text)
    return " OR ".join(fts_phrase(t) for t in terms) if terms else None


def search(db: sqlite_utils.Database, q: SearchQuery) -> list[Message]:
    """Newest first, at most ``q.limit``, through the index (and the queue)."""
    c = db.conn
    where, args = _where(q)
    needle = fold(q.text)
    rows: list[sqlite3.Row] = []
    match = _match(c, q.text)
    if match is not None:
        cur = c.execute(
            f"SELECT {_M_COLS} FROM messages_fts f CROSS JOIN messages m ON m.id = f.rowid "
            f"WHERE messages_fts MATCH ? AND {where} ORDER BY f.rowid DESC", [match, *args])
        # The candidates hold every trigram; the body must hold the query itself.
        for row in cur:
            if needle in fold(row[_BODY]):
                rows.append(row)
                if len(rows) == q.limit:
                    break
        cur.close()
    if c.execute("SELECT 1 FROM messages_fts_pending LIMIT 1").fetchone():
        queued = c.execute(
            f"SELECT {_M_COLS} FROM messages_fts_pending p CROSS JOIN messages m "
            f"ON m.id = p.id WHERE {where} ORDER BY p.id DESC", args).fetchall()
        rows += [r for r in queued if needle in fold(r[_BODY])]
        rows = sorted(rows, key=lambda r: -int(r[0]))[:q.limit]
    return load_messages(c, rows)


def scan(db: sqlite_utils.Database, q: SearchQuery) -> list[Message]:
    """The same answer without the index: LIKE over the messages of the rooms."""
    where, args = _where(q)
    sql = (f"SELECT {_M_COLS} FROM messages m WHERE m.body LIKE ? ESCAPE '\\' "
           f"AND {where} ORDER BY m.id DESC LIMIT ?")
    rows = db.conn.execute(sql, [like_pattern(q.text), *args, q.limit]).fetchall()
    return load_messages(db.conn, rows)
