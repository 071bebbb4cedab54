"""Records of the structured messages of working together: tasks (タスク), notes (ノート)
with their kept versions, location posts (位置情報) and phone memos (電話取次メモ).
Frozen, slotted, plain data; ``public()`` is the wire shape (API.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Task:
    id: str
    message_id: str
    room_id: str
    created_by: str
    title: str
    assignees: tuple[str, ...]  # account ids, sorted numerically
    due: str | None  # a date "YYYY-MM-DD" or an RFC 3339 UTC time
    done_at: str | None
    done_by: str | None
    updated_at: str

    @property
    def done(self) -> bool:
        return self.done_at is not None

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "message_id": self.message_id, "room_id": self.room_id,
                "created_by": self.created_by, "title": self.title,
                "assignees": list(self.assignees), "due": self.due, "done": self.done,
                "done_by": self.done_by, "done_at": self.done_at,
                "updated_at": self.updated_at}

    def summary(self) -> dict[str, Any]:
        """As its message shows it (``Message.detail``)."""
        return self.public()


@dataclass(frozen=True, slots=True)
class Note:
    id: str
    message_id: str
    room_id: str
    created_by: str
    title: str
    body: str
    version: int
    updated_by: str
    updated_at: str

    def public(self, with_body: bool = True) -> dict[str, Any]:
        shown = {"id": self.id, "message_id": self.message_id, "room_id": self.room_id,
                 "created_by": self.created_by, "title": self.title, "version": self.version,
                 "updated_by": self.updated_by, "updated_at": self.updated_at}
        if with_body:
            shown["body"] = self.body
        return shown

    def summary(self) -> dict[str, Any]:
        """As the message announcing it shows it: without the body, which may be long
        (``GET /api/v1/notes/{id}`` has it)."""
        return self.public(with_body=False)


@dataclass(frozen=True, slots=True)
class NoteVersion:
    """One saved state of a note (the first is its creation, the last its current text)."""

    version: int
    title: str
    body: str
    saved_by: str
    saved_at: str

    def public(self) -> dict[str, Any]:
        return {"version": self.version, "title": self.title, "body": self.body,
                "saved_by": self.saved_by, "saved_at": self.saved_at}


@dataclass(frozen=True, slots=True)
class Location:
    message_id: str
    lat: float
    lon: float
    accuracy_m: float | None
    label: str | None

    def public(self) -> dict[str, Any]:
        return {"lat": self.lat, "lon": self.lon, "accuracy_m": self.accuracy_m,
                "label": self.label}

    def summary(self) -> dict[str, Any]:
        return self.public()


@dataclass(frozen=True, slots=True)
class Memo:
    id: str
    message_id: str
    room_id: str
    created_by: str
    to: str  # account id
    caller: str
    caller_org: str | None
    number: str | None
    received_at: str
    callback: bool
    note: str | None
    done_at: str | None
    done_by: str | None

    @property
    def done(self) -> bool:
        return self.done_at is not None

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "message_id": self.message_id, "to": self.to,
                "caller": self.caller, "caller_org": self.caller_org, "number": self.number,
                "received_at": self.received_at, "callback": self.callback,
                "note": self.note, "done": self.done, "done_by": self.done_by,
                "done_at": self.done_at}

    def summary(self) -> dict[str, Any]:
        return self.public()
