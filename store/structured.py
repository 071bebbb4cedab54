"""Messages that carry something people answer: a poll, a schedule adjustment, a roll
call.  ``attach`` fills in each one's summary for a page of messages with a few
queries per kind (never one per message); a deleted message shows none."""

from __future__ import annotations

import dataclasses
import sqlite3
from typing import Any, Callable

from store import polls, rollcalls, schedules, work_objects
from store.records import Message

_LOADERS: dict[str, Callable[[sqlite3.Connection, list[int]], dict[str, Any]]] = {
    "poll": polls.summaries,
    "schedule": schedules.summaries,
    "rollcall": rollcalls.summaries,
    **work_objects.LOADERS,  # tasks, notes, locations, phone memos
}
_IN_CHUNK = 500


def attach(c: sqlite3.Connection, messages: list[Message]) -> list[Message]:
    wanted: dict[str, list[int]] = {}
    for m in messages:
        if m.kind in _LOADERS and not m.deleted:
            wanted.setdefault(m.kind, []).append(int(m.id))
    if not wanted:
        return messages
    found: dict[str, Any] = {}
    for kind, ids in wanted.items():
        for i in range(0, len(ids), _IN_CHUNK):
            found.update(_LOADERS[kind](c, ids[i:i + _IN_CHUNK]))
    return [dataclasses.replace(m, detail=found[m.id]) if m.id in found and not m.deleted
            else m for m in messages]
