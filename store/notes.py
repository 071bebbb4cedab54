"""Notes (ノート): a room's shared text, announced by a message of kind ``note``.  Each
save is checked against the version its writer started from (a save over someone
else's is a NoteConflict, never a silent overwrite) and kept in ``note_versions``
beside the current text.  Synchronous SQL run by the facade, each change with its
audit entry."""

from __future__ import annotations

import sqlite_utils

from store.db import int_id, iso
from store.errors import RoomArchived, StoreError
from store.messages import _require_member, get_message
from store.records import Message, Zone
from store.work_objects import get_note
from store.work_records import Note
from store.work_writes import post_structured_txn


class NoteConflict(StoreError):
    """Someone saved the note after the version this save started from."""

    code, status = "note_conflict", 409


def _keep_version(db: sqlite_utils.Database, note_id: int, version: int, title: str,
                  body: str, by: str, at: str) -> None:
    db.conn.execute("INSERT INTO note_versions (note_id, version, title, body, saved_by, "
                    "saved_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (note_id, version, title, body, int_id(by), at))


def create_note_txn(db: sqlite_utils.Database, room_id: str, sender_id: str, zone: Zone,
                    client_id: str | None, now: float, session_id: str | None, title: str,
                    body: str) -> tuple[Note, Message, bool]:
    """The note (version 1) and the message announcing it; (note, message, created)."""
    mid, created = post_structured_txn(db, room_id, sender_id, zone, client_id, now,
                                       session_id, "note", title)
    c = db.conn
    if created:
        at = iso(now)
        cur = c.execute("INSERT INTO notes (message_id, room_id, created_by, title, body, "
                        "version, updated_by, updated_at) VALUES (?, ?, ?, ?, ?, 1, ?, ?)",
                        (mid, int_id(room_id), int_id(sender_id), title, body,
                         int_id(sender_id), at))
        _keep_version(db, int(cur.lastrowid or 0), 1, title, body, sender_id, at)
    note_id = c.execute("SELECT id FROM notes WHERE message_id = ?", (mid,)).fetchone()[0]
    return get_note(c, str(note_id)), get_message(db, str(mid)), created


def save_note_txn(db: sqlite_utils.Database, note_id: str, actor_id: str, base_version: int,
                  title: str | None, body: str, now: float) -> tuple[Note, Note]:
    """A new version (the note before, after), when ``base_version`` is still the
    current one (NoteConflict otherwise).  Saving the text it already has changes
    nothing (before and after are the same)."""
    c = db.conn
    note = get_note(c, note_id)
    rid = int(note.room_id)
    _require_member(c, rid, int_id(actor_id), note.room_id)
    if c.execute("SELECT archived_at FROM rooms WHERE id = ?", (rid,)).fetchone()[0]:
        raise RoomArchived(f"ルームはアーカイブ済みです / room {rid} is archived",
                           room_id=note.room_id)
    if base_version != note.version:
        raise NoteConflict(f"ノートは他の人が更新しました / note {note_id} was saved by someone "
                           "else", note_id=note_id, version=note.version,
                           updated_by=note.updated_by, updated_at=note.updated_at)
    title = note.title if title is None else title
    if title == note.title and body == note.body:
        return note, note
    at, version = iso(now), note.version + 1
    c.execute("UPDATE notes SET title = ?, body = ?, version = ?, updated_by = ?, "
              "updated_at = ? WHERE id = ?",
              (title, body, version, int_id(actor_id), at, int(note.id)))
    _keep_version(db, int(note.id), version, title, body, actor_id, at)
    if title != note.title:  # the message announcing the note is found by its title
        c.execute("UPDATE messages SET body = ? WHERE id = ? AND deleted_at IS NULL",
                  (title, int(note.message_id)))
    return note, get_note(c, note_id)
