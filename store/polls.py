"""Polls (アンケート): the poll, its options and one row per vote (poll, option,
person).  Synchronous SQL run by the facade.

A vote replaces the voter's earlier one in the same transaction.  The rows of an
anonymous poll still name the voter (so a vote can be replaced and counted once);
no view shows them.  A vote is its own record, like a read marker, and is not
audited; creating and closing are (``relay.polls``).
"""

from __future__ import annotations

import sqlite3
from typing import Any, Iterable, Sequence

import sqlite_utils

from store.answerable import marks, post_carrier_txn, require_answerable_txn, require_creator
from store.db import int_id, iso
from store.errors import NotFound, StoreError
from store.records import Message, Zone
from store.vote_records import Poll, PollOption

_COLS = ("id, message_id, room_id, creator, question, multiple, anonymous, closes_at, "
         "closes_ts, closed_at")


class PollNotFound(NotFound):
    code = "poll_not_found"


class PollClosed(StoreError):
    code, status = "poll_closed", 409


class UnknownOption(StoreError):
    """An option id that is not one of this poll's options."""

    code, status = "unknown_option", 400


def _build(c: sqlite3.Connection, rows: Sequence[Sequence[Any]], who: bool) -> list[Poll]:
    """Polls of these rows (_COLS) with their options and counts; ``who``: also who
    voted for what (a view), else only the counts (a summary)."""
    if not rows:
        return []
    ids = [int(r[0]) for r in rows]
    opts: dict[int, list[tuple[str, str]]] = {}
    for pid, oid, label in c.execute(
            f"SELECT poll_id, id, label FROM poll_options WHERE poll_id IN ({marks(len(ids))}) "
            "ORDER BY poll_id, position", ids):
        opts.setdefault(pid, []).append((str(oid), label))
    counts: dict[str, int] = {}
    voters: dict[int, int] = {}
    votes: dict[int, dict[str, list[str]]] = {}
    if who:
        for pid, oid, aid in c.execute(
                f"SELECT poll_id, option_id, account_id FROM poll_votes WHERE poll_id IN "
                f"({marks(len(ids))}) ORDER BY poll_id, at, account_id", ids):
            votes.setdefault(pid, {}).setdefault(str(oid), []).append(str(aid))
    for oid, n in c.execute(f"SELECT option_id, count(*) FROM poll_votes WHERE poll_id IN "
                            f"({marks(len(ids))}) GROUP BY option_id", ids):
        counts[str(oid)] = n
    for pid, n in c.execute(f"SELECT poll_id, count(DISTINCT account_id) FROM poll_votes "
                            f"WHERE poll_id IN ({marks(len(ids))}) GROUP BY poll_id", ids):
        voters[pid] = n
    return [Poll(id=str(r[0]), message_id=str(r[1]), room_id=str(r[2]), creator=str(r[3]),
                 question=r[4],
                 options=tuple(PollOption(o, label, counts.get(o, 0))
                               for o, label in opts.get(int(r[0]), ())),
                 multiple=bool(r[5]), anonymous=bool(r[6]), closes_at=r[7], closes_ts=r[8],
                 closed_at=r[9], voters=voters.get(int(r[0]), 0),
                 votes={o: tuple(a) for o, a in votes.get(int(r[0]), {}).items()})
            for r in rows]


def summaries(c: sqlite3.Connection, message_ids: list[int]) -> dict[str, Poll]:
    """{message id: poll} for the messages that carry one."""
    rows = c.execute(f"SELECT {_COLS} FROM polls WHERE message_id IN "
                     f"({marks(len(message_ids))})", message_ids).fetchall()
    return {p.message_id: p for p in _build(c, rows, who=False)}


def _row(c: sqlite3.Connection, poll_id: str) -> Sequence[Any]:
    row = c.execute(f"SELECT {_COLS} FROM polls WHERE id = ?", (int_id(poll_id),)).fetchone()
    if row is None:
        raise PollNotFound(f"アンケートがありません / no such poll: {poll_id}", poll_id=poll_id)
    return tuple(row)


def load(c: sqlite3.Connection, poll_id: str) -> Poll:
    return _build(c, [_row(c, poll_id)], who=True)[0]


def get_poll(db: sqlite_utils.Database, poll_id: str) -> Poll:
    return load(db.conn, poll_id)


def create_txn(db: sqlite_utils.Database, room_id: str, creator: str, question: str,
               options: list[str], multiple: bool, anonymous: bool, closes_ts: float | None,
               zone: Zone, client_id: str | None, session_id: str | None,
               now: float) -> tuple[Message, bool]:
    """The poll and the message that carries it; (message, created)."""
    from store.messages import get_message
    message, created = post_carrier_txn(db, "poll", room_id, creator, question, zone,
                                        client_id, session_id, now)
    if created:
        c = db.conn
        cur = c.execute(
            "INSERT INTO polls (message_id, room_id, creator, question, multiple, anonymous, "
            "closes_at, closes_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (int(message.id), int_id(room_id), int_id(creator), question, int(multiple),
             int(anonymous), None if closes_ts is None else iso(closes_ts), closes_ts))
        c.executemany("INSERT INTO poll_options (poll_id, position, label) VALUES (?, ?, ?)",
                      [(cur.lastrowid, i, label) for i, label in enumerate(options)])
    return get_message(db, message.id), created


def check_choice(poll: Poll, option_ids: Iterable[str]) -> None:
    known = {o.id for o in poll.options}
    for oid in option_ids:
        if oid not in known:
            raise UnknownOption(f"このアンケートの選択肢ではありません / not an option of poll "
                                f"{poll.id}: {oid}", option=oid)


def vote_txn(db: sqlite_utils.Database, poll_id: str, account_id: str, option_ids: list[str],
             session_id: str | None, now: float) -> tuple[Poll, bool]:
    """Replace the account's vote with ``option_ids`` (none: take it back);
    (poll, whether anything changed)."""
    c = db.conn
    poll = load(c, poll_id)
    require_answerable_txn(c, int(poll.room_id), int(poll.message_id), account_id,
                           session_id, now)
    if poll.is_closed(now):
        raise PollClosed(f"アンケートは締め切られました / poll {poll_id} is closed",
                         poll_id=poll_id)
    check_choice(poll, option_ids)
    if set(option_ids) == set(poll.my_votes(account_id)):
        return poll, False
    pid, aid = int(poll.id), int_id(account_id)
    c.execute("DELETE FROM poll_votes WHERE poll_id = ? AND account_id = ?", (pid, aid))
    c.executemany("INSERT INTO poll_votes (poll_id, option_id, account_id, at) "
                  "VALUES (?, ?, ?, ?)", [(pid, int(o), aid, iso(now)) for o in option_ids])
    return load(c, poll_id), True


def close_txn(db: sqlite_utils.Database, poll_id: str, account_id: str,
              now: float) -> tuple[Poll, bool]:
    """Close the poll (its creator only); (poll, whether it was open until now)."""
    c = db.conn
    poll = load(c, poll_id)
    require_creator(poll.creator, account_id, poll_id)
    if poll.closed_at is not None:
        return poll, False
    c.execute("UPDATE polls SET closed_at = ? WHERE id = ?", (iso(now), int(poll.id)))
    return load(c, poll_id), True
