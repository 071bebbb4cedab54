"""Tasks (タスク): a task is the object of a message of kind ``task``; its assignees are
rows of their own (one index range gives an account's tasks across rooms), and the
message mentions them, so an assignee's room shows the new task among its mentions.
Synchronous SQL run by the facade, each change with its audit entry."""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils

from store import extras
from store.db import int_id, iso
from store.messages import get_message
from store.records import Message, Zone
from store.work_objects import get_task
from store.work_records import Task
from store.work_writes import post_structured_txn, require_changeable, require_in_room


@dataclass(frozen=True, slots=True)
class TaskChange:
    """What a change sets; None leaves a field as it is (``due`` is cleared with
    ``set_due`` and a None ``due``)."""

    title: str | None = None
    set_due: bool = False
    due: str | None = None
    due_ts: float | None = None
    assignees: tuple[str, ...] | None = None
    done: bool | None = None


def _mentioned(assignees: tuple[str, ...], sender: str) -> tuple[str, ...]:
    return tuple(a for a in assignees if a != sender)


def _write_assignees(db: sqlite_utils.Database, task_id: int,
                     assignees: tuple[str, ...]) -> None:
    db.conn.execute("DELETE FROM task_assignees WHERE task_id = ?", (task_id,))
    db.conn.executemany("INSERT INTO task_assignees (account_id, task_id) VALUES (?, ?)",
                        [(int_id(a), task_id) for a in assignees])


def create_task_txn(db: sqlite_utils.Database, room_id: str, sender_id: str, zone: Zone,
                    client_id: str | None, now: float, session_id: str | None, title: str,
                    assignees: tuple[str, ...], due: str | None,
                    due_ts: float | None) -> tuple[Message, bool]:
    """The task and its message; (message, created).  NotInRoom for an assignee who
    is not a member."""
    mid, created = post_structured_txn(db, room_id, sender_id, zone, client_id, now,
                                       session_id, "task", title,
                                       _mentioned(assignees, sender_id))
    if created:
        rid = int_id(room_id)
        require_in_room(db.conn, rid, ((f"assignees[{i}]", a) for i, a in enumerate(assignees)))
        cur = db.conn.execute(
            "INSERT INTO tasks (message_id, room_id, created_by, title, due, due_ts, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (mid, rid, int_id(sender_id), title, due, due_ts, iso(now)))
        _write_assignees(db, int(cur.lastrowid or 0), assignees)
    return get_message(db, str(mid)), created


def update_task_txn(db: sqlite_utils.Database, task_id: str, actor_id: str,
                    change: TaskChange, now: float) -> tuple[Task, Task, Message]:
    """Apply ``change``; (the task before, after, its message).  MessageDeleted,
    NotMember, RoomArchived, NotInRoom."""
    c = db.conn
    before = get_task(c, task_id)
    row = require_changeable(c, before.message_id, actor_id)
    tid = int(before.id)
    if change.assignees is not None:
        require_in_room(c, int(before.room_id),
                        ((f"assignees[{i}]", a) for i, a in enumerate(change.assignees)))
        _write_assignees(db, tid, change.assignees)
        extras.write_mentions_txn(c, int(before.room_id), int(before.message_id),
                                  _mentioned(change.assignees, str(row[2])))
    if change.title is not None:
        c.execute("UPDATE tasks SET title = ? WHERE id = ?", (change.title, tid))
        c.execute("UPDATE messages SET body = ? WHERE id = ?", (change.title, int(row[0])))
    if change.set_due:
        c.execute("UPDATE tasks SET due = ?, due_ts = ? WHERE id = ?",
                  (change.due, change.due_ts, tid))
    if change.done is not None:
        c.execute("UPDATE tasks SET done_at = ?, done_by = ? WHERE id = ?",
                  (iso(now), int_id(actor_id), tid) if change.done else (None, None, tid))
    c.execute("UPDATE tasks SET updated_at = ? WHERE id = ?", (iso(now), tid))
    return before, get_task(c, task_id), get_message(db, before.message_id)
