"""Reading the objects of structured messages (tasks, notes, locations, phone memos).
Synchronous SQL run inside the store's reads and writes; nothing here writes.

``LOADERS`` give a page of messages their objects with one query per kind (never one
per message), through ``store.structured``; a deleted message shows none.  A task or memo whose message was
deleted is gone for its readers too (``TaskNotFound`` / ``MemoNotFound`` on a direct
look, left out of lists); a note lives on without the message that announced it.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Callable, Iterable, Sequence

from store.db import int_id
from store.errors import NotFound
from store.work_records import Location, Memo, Note, NoteVersion, Task

# Most ids in one "IN (...)" list.
_IN_CHUNK = 500

TASK_COLS = ("t.id, t.message_id, t.room_id, t.created_by, t.title, t.due, t.done_at, "
             "t.done_by, t.updated_at")
NOTE_COLS = ("n.id, n.message_id, n.room_id, n.created_by, n.title, n.body, n.version, "
             "n.updated_by, n.updated_at")
MEMO_COLS = ("id, message_id, room_id, created_by, to_account, caller, caller_org, number, "
             "received_at, callback, note, done_at, done_by")


class TaskNotFound(NotFound):
    code = "task_not_found"


class NoteNotFound(NotFound):
    code = "note_not_found"


class MemoNotFound(NotFound):
    code = "memo_not_found"


def _s(value: object) -> str | None:
    return None if value is None else str(value)


def _in_chunks(c: sqlite3.Connection, sql: str, ids: list[int]) -> Iterable[sqlite3.Row]:
    for i in range(0, len(ids), _IN_CHUNK):
        chunk = ids[i:i + _IN_CHUNK]
        yield from c.execute(sql.format(marks=",".join("?" * len(chunk))), chunk)


# ------------------------------------------------------------------------- tasks


def tasks_from_rows(c: sqlite3.Connection, rows: Sequence[Sequence[Any]]) -> list[Task]:
    assignees: dict[int, list[str]] = {}
    for task_id, account in _in_chunks(
            c, "SELECT task_id, account_id FROM task_assignees WHERE task_id IN ({marks}) "
               "ORDER BY task_id, account_id", [int(r[0]) for r in rows]):
        assignees.setdefault(int(task_id), []).append(str(account))
    return [Task(id=str(r[0]), message_id=str(r[1]), room_id=str(r[2]), created_by=str(r[3]),
                 title=r[4], assignees=tuple(assignees.get(int(r[0]), ())), due=r[5],
                 done_at=r[6], done_by=_s(r[7]), updated_at=r[8]) for r in rows]


def get_task(c: sqlite3.Connection, task_id: str) -> Task:
    """The task, whatever the state of its message (TaskNotFound if there is none)."""
    row = c.execute(f"SELECT {TASK_COLS} FROM tasks t WHERE t.id = ?",
                    (int_id(task_id),)).fetchone()
    if row is None:
        raise TaskNotFound(f"タスクがありません / no such task: {task_id}", task_id=task_id)
    return tasks_from_rows(c, [row])[0]


def list_tasks(c: sqlite3.Connection, account_id: str, mine: bool, done: bool | None,
               room_id: str | None, limit: int) -> list[Task]:
    """Tasks of the account's rooms whose message is not deleted (with ``mine``: only
    those assigned to the account), soonest due first, those without a due date last."""
    aid = int_id(account_id)
    if mine:
        source = ("task_assignees ta JOIN tasks t ON t.id = ta.task_id "
                  "JOIN room_members rm ON rm.room_id = t.room_id "
                  "AND rm.account_id = ta.account_id")
        where, params = ["ta.account_id = ?"], [aid]
    else:
        source = "tasks t JOIN room_members rm ON rm.room_id = t.room_id"
        where, params = ["rm.account_id = ?"], [aid]
    where.append("m.deleted_at IS NULL")
    if done is not None:
        where.append("t.done_at IS NOT NULL" if done else "t.done_at IS NULL")
    if room_id is not None:
        where.append("t.room_id = ?")
        params.append(int_id(room_id))
    rows = c.execute(
        f"SELECT {TASK_COLS} FROM {source} JOIN messages m ON m.id = t.message_id "
        f"WHERE {' AND '.join(where)} ORDER BY t.due_ts IS NULL, t.due_ts, t.id LIMIT ?",
        (*params, limit)).fetchall()
    return tasks_from_rows(c, rows)


# ------------------------------------------------------------------------- notes


def _note(r: Sequence[Any]) -> Note:
    return Note(id=str(r[0]), message_id=str(r[1]), room_id=str(r[2]), created_by=str(r[3]),
                title=r[4], body=r[5], version=int(r[6]), updated_by=str(r[7]),
                updated_at=r[8])


def get_note(c: sqlite3.Connection, note_id: str) -> Note:
    row = c.execute(f"SELECT {NOTE_COLS} FROM notes n WHERE n.id = ?",
                    (int_id(note_id),)).fetchone()
    if row is None:
        raise NoteNotFound(f"ノートがありません / no such note: {note_id}", note_id=note_id)
    return _note(row)


def room_notes(c: sqlite3.Connection, room_id: str) -> list[Note]:
    """The notes of a room, most recently saved first."""
    return [_note(r) for r in c.execute(
        f"SELECT {NOTE_COLS} FROM notes n WHERE n.room_id = ? "
        "ORDER BY n.updated_at DESC, n.id DESC", (int_id(room_id),))]


def note_versions(c: sqlite3.Connection, note_id: str) -> list[NoteVersion]:
    """Every saved state of the note, oldest first (the last is its current text)."""
    return [NoteVersion(int(r[0]), r[1], r[2], str(r[3]), r[4]) for r in c.execute(
        "SELECT version, title, body, saved_by, saved_at FROM note_versions "
        "WHERE note_id = ? ORDER BY version", (int_id(note_id),))]


# ------------------------------------------------------------------------- memos


def _memo(r: Sequence[Any]) -> Memo:
    return Memo(id=str(r[0]), message_id=str(r[1]), room_id=str(r[2]), created_by=str(r[3]),
                to=str(r[4]), caller=r[5], caller_org=r[6], number=r[7], received_at=r[8],
                callback=bool(r[9]), note=r[10], done_at=r[11], done_by=_s(r[12]))


def get_memo(c: sqlite3.Connection, memo_id: str) -> Memo:
    row = c.execute(f"SELECT {MEMO_COLS} FROM memos WHERE id = ?",
                    (int_id(memo_id),)).fetchone()
    if row is None:
        raise MemoNotFound(f"電話メモがありません / no such memo: {memo_id}", memo_id=memo_id)
    return _memo(row)


# ------------------------------------------------------------------------- a room's texts


def room_texts(c: sqlite3.Connection, room_id: str) -> list[str]:
    """The texts of a room's notes (every version) and of its phone memos (those still
    shown), which a new member can read besides the message bodies."""
    rid = int_id(room_id)
    out = [t for row in c.execute(
        "SELECT v.title, v.body FROM note_versions v JOIN notes n ON n.id = v.note_id "
        "WHERE n.room_id = ? ORDER BY v.note_id, v.version", (rid,)) for t in row if t]
    out += [t for row in c.execute(
        "SELECT caller, caller_org, number, note FROM memos f JOIN messages m "
        "ON m.id = f.message_id WHERE f.room_id = ? AND m.deleted_at IS NULL ORDER BY f.id",
        (rid,)) for t in row if t]
    return out


# ------------------------------------------------------------------------- messages
# Each gives the objects of a list of messages of its kind, by message id, for
# ``store.structured`` to put on the messages (``Message.detail``).


def task_summaries(c: sqlite3.Connection, message_ids: list[int]) -> dict[str, Task]:
    rows = list(_in_chunks(c, f"SELECT {TASK_COLS} FROM tasks t "
                              "WHERE t.message_id IN ({marks})", message_ids))
    return {t.message_id: t for t in tasks_from_rows(c, rows)}


def note_summaries(c: sqlite3.Connection, message_ids: list[int]) -> dict[str, Note]:
    return {n.message_id: n for n in map(_note, _in_chunks(
        c, f"SELECT {NOTE_COLS} FROM notes n WHERE n.message_id IN ({{marks}})", message_ids))}


def location_summaries(c: sqlite3.Connection, message_ids: list[int]) -> dict[str, Location]:
    return {str(mid): Location(str(mid), lat, lon, acc, label) for mid, lat, lon, acc, label
            in _in_chunks(c, "SELECT message_id, lat, lon, accuracy_m, label FROM locations "
                             "WHERE message_id IN ({marks})", message_ids)}


def memo_summaries(c: sqlite3.Connection, message_ids: list[int]) -> dict[str, Memo]:
    return {m.message_id: m for m in map(_memo, _in_chunks(
        c, f"SELECT {MEMO_COLS} FROM memos WHERE message_id IN ({{marks}})", message_ids))}


LOADERS: dict[str, Callable[[sqlite3.Connection, list[int]], dict[str, Any]]] = {
    "task": task_summaries,
    "note": note_summaries,
    "location": location_summaries,
    "memo": memo_summaries,
}
