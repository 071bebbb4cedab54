"""The store's face for tasks, notes, location posts and phone memos: what relay awaits
(``Store`` inherits these methods).  Writes run on the writer thread, reads on the
read pool, like every other part of ``store.facade``.

A create is idempotent on the sender's ``client_id``: a repeat changes nothing, so its
``audit`` function, given the result, answers None and no entry is appended; so does
a change that finds nothing to change.  Otherwise the change and its entry commit in
the same SAVEPOINT (``Store._audited``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, TypeVar

import sqlite_utils

from store import memos, notes, tasks, work_objects, work_writes
from store.memos import MemoDraft
from store.records import Audit, Message, Zone
from store.tasks import TaskChange
from store.work_records import Memo, Note, NoteVersion, Task

T = TypeVar("T")
# The audit entry of a change given its result; None when nothing changed.
AuditWhen = Callable[[Any], Audit | None]


def _on_conn(db: sqlite_utils.Database, fn: Callable[..., T], *args: Any) -> T:
    return fn(db.conn, *args)


class WorkStore:
    if TYPE_CHECKING:
        async def _write(self, fn: Callable[..., T], *args: Any) -> T: ...

        async def _audited(self, fn: Callable[..., T], args: tuple[Any, ...],
                           audit: AuditWhen, now: float) -> T: ...

        async def _read(self, fn: Callable[..., T], *args: Any) -> T: ...

    async def _look(self, fn: Callable[..., T], *args: Any) -> T:
        """A read of ``store.work_objects`` (functions of a connection)."""
        return await self._read(_on_conn, fn, *args)

    # ---------------------------------------------------------------- tasks
    async def create_task(self, room_id: str, sender_id: str, zone: Zone,
                          client_id: str | None, now: float, session_id: str | None,
                          title: str, assignees: tuple[str, ...], due: str | None,
                          due_ts: float | None, *, audit: AuditWhen) -> tuple[Message, bool]:
        """(the message of kind task, created).  NotInRoom, RoomArchived, NotMember,
        ClientIdReused, SessionEnded."""
        return await self._audited(tasks.create_task_txn, (
            room_id, sender_id, zone, client_id, now, session_id, title, assignees, due,
            due_ts), audit, now)

    async def update_task(self, task_id: str, actor_id: str, change: TaskChange, now: float,
                          *, audit: AuditWhen) -> tuple[Task, Task, Message]:
        """(before, after, its message).  MessageDeleted, NotInRoom, RoomArchived."""
        return await self._audited(tasks.update_task_txn,
                                        (task_id, actor_id, change, now), audit, now)

    async def get_task(self, task_id: str) -> Task:
        return await self._look(work_objects.get_task, task_id)

    async def list_tasks(self, account_id: str, mine: bool, done: bool | None,
                         room_id: str | None, limit: int) -> list[Task]:
        return await self._look(work_objects.list_tasks, account_id, mine, done, room_id,
                                limit)

    # ---------------------------------------------------------------- notes
    async def create_note(self, room_id: str, sender_id: str, zone: Zone,
                          client_id: str | None, now: float, session_id: str | None,
                          title: str, body: str, *,
                          audit: AuditWhen) -> tuple[Note, Message, bool]:
        return await self._audited(notes.create_note_txn, (
            room_id, sender_id, zone, client_id, now, session_id, title, body), audit, now)

    async def save_note(self, note_id: str, actor_id: str, base_version: int,
                        title: str | None, body: str, now: float, *,
                        audit: AuditWhen) -> tuple[Note, Note]:
        """(before, after); NoteConflict when ``base_version`` is not the current one."""
        return await self._audited(notes.save_note_txn, (
            note_id, actor_id, base_version, title, body, now), audit, now)

    async def get_note(self, note_id: str) -> Note:
        return await self._look(work_objects.get_note, note_id)

    async def room_notes(self, room_id: str) -> list[Note]:
        return await self._look(work_objects.room_notes, room_id)

    async def note_versions(self, note_id: str) -> list[NoteVersion]:
        return await self._look(work_objects.note_versions, note_id)

    async def room_texts(self, room_id: str) -> list[str]:
        """The note and memo texts of a room (for a check over what it holds)."""
        return await self._look(work_objects.room_texts, room_id)

    # ---------------------------------------------------------------- locations
    async def post_location(self, room_id: str, sender_id: str, zone: Zone,
                            client_id: str | None, now: float, session_id: str | None,
                            lat: float, lon: float, accuracy_m: float | None,
                            label: str | None) -> tuple[Message, bool]:
        """A message like any other (its own record: not audited), with coordinates."""
        return await self._write(work_writes.create_location_txn, room_id, sender_id, zone,
                                 client_id, now, session_id, lat, lon, accuracy_m, label)

    # ---------------------------------------------------------------- phone memos
    async def create_memo(self, room_id: str, sender_id: str, zone: Zone,
                          client_id: str | None, now: float, session_id: str | None,
                          memo: MemoDraft, *, audit: AuditWhen) -> tuple[Message, bool]:
        return await self._audited(memos.create_memo_txn, (
            room_id, sender_id, zone, client_id, now, session_id, memo), audit, now)

    async def memo_done(self, memo_id: str, actor_id: str, now: float, *,
                        audit: AuditWhen) -> tuple[Memo, Message, bool]:
        return await self._audited(memos.memo_done_txn, (memo_id, actor_id, now),
                                        audit, now)

    async def get_memo(self, memo_id: str) -> Memo:
        return await self._look(work_objects.get_memo, memo_id)
