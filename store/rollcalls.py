"""Roll calls (参集確認): the roll call and one answer row per member (the option
chosen, minutes until arrival, a comment).  Synchronous SQL run by the facade.

A summary (the tally, how many answered, how many have not) costs two indexed
queries whatever the room's size, so every answer in a room of hundreds can carry
the fresh tally to everyone; a view adds each answer and who has not answered.
"Unanswered" means current members of the room without an answer.  An answer is its
own record and is not audited; creating, closing and reminding are.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Sequence

import sqlite_utils

from store.answerable import marks, post_carrier_txn, require_answerable_txn, require_creator
from store.db import int_id, iso
from store.errors import NotFound, StoreError
from store.messages import get_message
from store.records import Message, Zone
from store.vote_records import RollCall, RollCallAnswer

_COLS = "id, message_id, room_id, creator, title, needed, options, closed_at, reminded_at"


class RollCallNotFound(NotFound):
    code = "rollcall_not_found"


class RollCallClosed(StoreError):
    code, status = "rollcall_closed", 409


class UnknownRollCallOption(StoreError):
    code, status = "unknown_option", 400


def _build(c: sqlite3.Connection, row: Sequence[Any], full: bool) -> RollCall:
    rid, room_id = int(row[0]), int(row[2])
    options = tuple(json.loads(row[6]))
    tally = [0] * len(options)
    answered = 0
    for option, n in c.execute(
            "SELECT a.option, count(*) FROM rollcall_answers a JOIN room_members rm "
            "ON rm.room_id = ? AND rm.account_id = a.account_id WHERE a.rollcall_id = ? "
            "GROUP BY a.option", (room_id, rid)):
        tally[option] = n
        answered += n
    members = c.execute("SELECT count(*) FROM room_members WHERE room_id = ?",
                        (room_id,)).fetchone()[0]
    answers: tuple[RollCallAnswer, ...] = ()
    unanswered: tuple[str, ...] = ()
    if full:
        answers = tuple(
            RollCallAnswer(str(aid), options[opt], eta, comment, at)
            for aid, opt, eta, comment, at in c.execute(
                "SELECT a.account_id, a.option, a.eta_minutes, a.comment, a.at "
                "FROM rollcall_answers a JOIN room_members rm ON rm.room_id = ? "
                "AND rm.account_id = a.account_id WHERE a.rollcall_id = ? ORDER BY a.at, "
                "a.account_id", (room_id, rid)))
        unanswered = unanswered_of(c, rid, room_id)
    return RollCall(id=str(rid), message_id=str(row[1]), room_id=str(room_id),
                    creator=str(row[3]), title=row[4], needed=row[5], options=options,
                    tally=tuple(tally), answered=answered, unanswered_count=members - answered,
                    closed_at=row[7], reminded_at=row[8], answers=answers,
                    unanswered=unanswered)


def unanswered_of(c: sqlite3.Connection, rollcall_id: int, room_id: int) -> tuple[str, ...]:
    return tuple(str(r[0]) for r in c.execute(
        "SELECT account_id FROM room_members rm WHERE room_id = ? AND NOT EXISTS "
        "(SELECT 1 FROM rollcall_answers a WHERE a.rollcall_id = ? "
        "AND a.account_id = rm.account_id) ORDER BY account_id", (room_id, rollcall_id)))


def summaries(c: sqlite3.Connection, message_ids: list[int]) -> dict[str, RollCall]:
    rows = c.execute(f"SELECT {_COLS} FROM rollcalls WHERE message_id IN "
                     f"({marks(len(message_ids))})", message_ids).fetchall()
    return {str(r[1]): _build(c, r, full=False) for r in rows}


def _row(c: sqlite3.Connection, rollcall_id: str) -> Sequence[Any]:
    row = c.execute(f"SELECT {_COLS} FROM rollcalls WHERE id = ?",
                    (int_id(rollcall_id),)).fetchone()
    if row is None:
        raise RollCallNotFound(f"参集確認がありません / no such roll call: {rollcall_id}",
                               rollcall_id=rollcall_id)
    return tuple(row)


def load(c: sqlite3.Connection, rollcall_id: str, full: bool = True) -> RollCall:
    return _build(c, _row(c, rollcall_id), full)


def get_rollcall(db: sqlite_utils.Database, rollcall_id: str, full: bool = True) -> RollCall:
    return load(db.conn, rollcall_id, full)


def create_txn(db: sqlite_utils.Database, room_id: str, creator: str, title: str,
               needed: int | None, options: list[str], zone: Zone, client_id: str | None,
               session_id: str | None, now: float) -> tuple[Message, bool]:
    message, created = post_carrier_txn(db, "rollcall", room_id, creator, title, zone,
                                        client_id, session_id, now)
    if created:
        db.conn.execute(
            "INSERT INTO rollcalls (message_id, room_id, creator, title, needed, options) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (int(message.id), int_id(room_id), int_id(creator), title, needed,
             json.dumps(options, ensure_ascii=False)))
    return get_message(db, message.id), created


def answer_txn(db: sqlite_utils.Database, rollcall_id: str, account_id: str, option: str,
               eta_minutes: int | None, comment: str, session_id: str | None,
               now: float) -> tuple[RollCall, RollCallAnswer, tuple[str, ...] | None]:
    """Record (or replace) the member's answer; (the summary after it, the answer,
    who has still not answered -- only once the roll call is filled, else None)."""
    c = db.conn
    row = _row(c, rollcall_id)
    rid, room_id = int(row[0]), int(row[2])
    require_answerable_txn(c, room_id, int(row[1]), account_id, session_id, now)
    if row[7] is not None:
        raise RollCallClosed(f"参集確認は終了しました / roll call {rollcall_id} is closed",
                             rollcall_id=rollcall_id)
    options = json.loads(row[6])
    if option not in options:
        raise UnknownRollCallOption(f"この参集確認の選択肢ではありません / not an option of roll "
                                    f"call {rollcall_id}", option=option[:100])
    at = iso(now)
    c.execute("INSERT OR REPLACE INTO rollcall_answers (rollcall_id, account_id, option, "
              "eta_minutes, comment, at) VALUES (?, ?, ?, ?, ?, ?)",
              (rid, int_id(account_id), options.index(option), eta_minutes, comment, at))
    summary = _build(c, row, full=False)
    still = unanswered_of(c, rid, room_id) if summary.filled else None
    return summary, RollCallAnswer(account_id, option, eta_minutes, comment, at), still


def close_txn(db: sqlite_utils.Database, rollcall_id: str, account_id: str,
              now: float) -> tuple[RollCall, bool]:
    c = db.conn
    call = load(c, rollcall_id)
    require_creator(call.creator, account_id, rollcall_id)
    if call.closed_at is not None:
        return call, False
    c.execute("UPDATE rollcalls SET closed_at = ? WHERE id = ?", (iso(now), int(call.id)))
    return load(c, rollcall_id), True


def remind_txn(db: sqlite_utils.Database, rollcall_id: str, account_id: str,
               not_before: float, now: float) -> tuple[RollCall, float | None]:
    """Mark a reminder sent now, unless the last one was after ``not_before``;
    (the roll call, None -- or the time of the last reminder when it was too soon).
    The creator reminds, like the sender of a message."""
    c = db.conn
    row = _row(c, rollcall_id)
    require_creator(str(row[3]), account_id, rollcall_id)
    require_answerable_txn(c, int(row[2]), int(row[1]), account_id, None, now)
    if row[7] is not None:
        raise RollCallClosed(f"参集確認は終了しました / roll call {rollcall_id} is closed",
                             rollcall_id=rollcall_id)
    last = c.execute("SELECT reminded_ts FROM rollcalls WHERE id = ?", (int(row[0]),)).fetchone()[0]
    if last is not None and last > not_before:
        return load(c, rollcall_id), float(last)
    c.execute("UPDATE rollcalls SET reminded_at = ?, reminded_ts = ? WHERE id = ?",
              (iso(now), now, int(row[0])))
    return load(c, rollcall_id), None

