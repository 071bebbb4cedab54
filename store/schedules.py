"""Schedule adjustments (日程調整): the schedule, its candidate slots and one answer
row per member (their yes / maybe / no per slot, as JSON, and a comment).
Synchronous SQL run by the facade.

An answer replaces the member's earlier one; it is its own record, like a read
marker, and is not audited.  The decision (the creator picks a slot) commits with the
system message that announces it and with its audit entry.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Mapping, Sequence

import sqlite_utils

from store.answerable import marks, post_carrier_txn, require_answerable_txn, require_creator
from store.db import int_id, iso
from store.errors import NotFound, StoreError
from store.messages import get_message, post_message_txn
from store.records import Message, Zone
from store.vote_records import Schedule, ScheduleAnswer, ScheduleSlot

_COLS = ("id, message_id, room_id, creator, title, closes_at, closes_ts, decided_slot, "
         "decided_at")


class ScheduleNotFound(NotFound):
    code = "schedule_not_found"


class ScheduleClosed(StoreError):
    """Decided, or past its deadline: no more answers."""

    code, status = "schedule_closed", 409


class ScheduleDecided(StoreError):
    code, status = "schedule_decided", 409


class UnknownSlot(StoreError):
    code, status = "unknown_slot", 400


def _build(c: sqlite3.Connection, rows: Sequence[Sequence[Any]]) -> list[Schedule]:
    if not rows:
        return []
    ids = [int(r[0]) for r in rows]
    slots: dict[int, list[tuple[str, str, str | None, str]]] = {}
    for sid, slot_id, start, end, label in c.execute(
            f"SELECT schedule_id, id, start, end, label FROM schedule_slots WHERE schedule_id "
            f"IN ({marks(len(ids))}) ORDER BY schedule_id, position", ids):
        slots.setdefault(sid, []).append((str(slot_id), start, end, label))
    answers: dict[int, list[ScheduleAnswer]] = {}
    for sid, aid, given, comment, at in c.execute(
            f"SELECT schedule_id, account_id, answers, comment, at FROM schedule_answers "
            f"WHERE schedule_id IN ({marks(len(ids))}) ORDER BY schedule_id, at, account_id",
            ids):
        answers.setdefault(sid, []).append(ScheduleAnswer(str(aid), json.loads(given),
                                                          comment, at))
    out = []
    for r in rows:
        sid = int(r[0])
        mine = answers.get(sid, [])
        tallied = []
        for slot_id, start, end, label in slots.get(sid, ()):
            said = [a.answers.get(slot_id) for a in mine]
            tallied.append(ScheduleSlot(slot_id, start, end, label, said.count("yes"),
                                        said.count("maybe"), said.count("no")))
        out.append(Schedule(id=str(sid), message_id=str(r[1]), room_id=str(r[2]),
                            creator=str(r[3]), title=r[4], slots=tuple(tallied),
                            closes_at=r[5], closes_ts=r[6],
                            decided_slot=None if r[7] is None else str(r[7]),
                            decided_at=r[8], answers=tuple(mine)))
    return out


def summaries(c: sqlite3.Connection, message_ids: list[int]) -> dict[str, Schedule]:
    rows = c.execute(f"SELECT {_COLS} FROM schedules WHERE message_id IN "
                     f"({marks(len(message_ids))})", message_ids).fetchall()
    return {s.message_id: s for s in _build(c, rows)}


def load(c: sqlite3.Connection, schedule_id: str) -> Schedule:
    row = c.execute(f"SELECT {_COLS} FROM schedules WHERE id = ?",
                    (int_id(schedule_id),)).fetchone()
    if row is None:
        raise ScheduleNotFound(f"日程調整がありません / no such schedule: {schedule_id}",
                               schedule_id=schedule_id)
    return _build(c, [row])[0]


def get_schedule(db: sqlite_utils.Database, schedule_id: str) -> Schedule:
    return load(db.conn, schedule_id)


def create_txn(db: sqlite_utils.Database, room_id: str, creator: str, title: str,
               slots: list[tuple[float, float | None, str]], closes_ts: float | None,
               zone: Zone, client_id: str | None, session_id: str | None,
               now: float) -> tuple[Message, bool]:
    """The schedule, its slots ((start, end, label) timestamps) and the message that
    carries it; (message, created)."""
    message, created = post_carrier_txn(db, "schedule", room_id, creator, title, zone,
                                        client_id, session_id, now)
    if created:
        c = db.conn
        cur = c.execute("INSERT INTO schedules (message_id, room_id, creator, title, "
                        "closes_at, closes_ts) VALUES (?, ?, ?, ?, ?, ?)",
                        (int(message.id), int_id(room_id), int_id(creator), title,
                         None if closes_ts is None else iso(closes_ts), closes_ts))
        c.executemany(
            "INSERT INTO schedule_slots (schedule_id, position, start, start_ts, end, label) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(cur.lastrowid, i, iso(start), start, None if end is None else iso(end), label)
             for i, (start, end, label) in enumerate(slots)])
    return get_message(db, message.id), created


def answer_txn(db: sqlite_utils.Database, schedule_id: str, account_id: str,
               answers: Mapping[str, str], comment: str, session_id: str | None,
               now: float) -> tuple[Schedule, ScheduleAnswer | None]:
    """Replace the member's answers; (schedule, their answer, or None when it is the
    same as before)."""
    c = db.conn
    schedule = load(c, schedule_id)
    require_answerable_txn(c, int(schedule.room_id), int(schedule.message_id), account_id,
                           session_id, now)
    if schedule.is_closed(now):
        raise ScheduleClosed(f"日程調整は締め切られました / schedule {schedule_id} is closed",
                             schedule_id=schedule_id)
    for slot_id in answers:
        if schedule.slot(slot_id) is None:
            raise UnknownSlot(f"この日程調整の候補ではありません / not a slot of schedule "
                              f"{schedule_id}: {slot_id}", slot=slot_id)
    before = next((a for a in schedule.answers if a.account == account_id), None)
    if before is not None and dict(before.answers) == dict(answers) and before.comment == comment:
        return schedule, None
    c.execute("INSERT OR REPLACE INTO schedule_answers (schedule_id, account_id, answers, "
              "comment, at) VALUES (?, ?, ?, ?, ?)",
              (int(schedule.id), int_id(account_id), json.dumps(dict(answers), sort_keys=True),
               comment, iso(now)))
    schedule = load(c, schedule_id)
    return schedule, next(a for a in schedule.answers if a.account == account_id)


def decide_txn(db: sqlite_utils.Database, schedule_id: str, account_id: str, slot_id: str,
               announcement: str, zone: Zone, session_id: str | None,
               now: float) -> tuple[Schedule, Message]:
    """The creator's choice of a slot and the system message that announces it."""
    c = db.conn
    schedule = load(c, schedule_id)
    require_creator(schedule.creator, account_id, schedule_id)
    require_answerable_txn(c, int(schedule.room_id), int(schedule.message_id), account_id,
                           session_id, now)
    if schedule.decided_slot is not None:
        raise ScheduleDecided(f"日程は決定済みです / schedule {schedule_id} is decided",
                              schedule_id=schedule_id)
    if schedule.slot(slot_id) is None:
        raise UnknownSlot(f"この日程調整の候補ではありません / not a slot of schedule "
                          f"{schedule_id}: {slot_id}", slot=slot_id)
    c.execute("UPDATE schedules SET decided_slot = ?, decided_at = ? WHERE id = ?",
              (int(slot_id), iso(now), int(schedule.id)))
    message, _ = post_message_txn(db, schedule.room_id, account_id, announcement, zone, None,
                                  now, session_id=session_id, kind="system")
    return load(c, schedule_id), message
