"""Notes (ノート): a room's shared text that any member writes, announced by a message
of kind ``note``.

A save names the version it started from (``base_version``): when someone saved in
between, it is refused with ``note_conflict`` (409, with the current version) and the
writer merges by hand; nothing is overwritten unseen.  Every saved state is kept and
readable by the room's members.  Creation (``note.created``) and each save
(``note.saved``) commit with their audit entry, which names the version and the SHA-256
of the replaced text, never a text.  From LGWAN the title and body get the 個人番号
check of a message.
"""

from __future__ import annotations

import hashlib

from store.records import Audit, Message
from store.work_objects import NoteNotFound
from store.work_records import Note, NoteVersion

from relay.answering import room_of
from relay.commands import Caller, Context, Done, Event
from relay.messages import check_client_id
from relay.rooms import check_room
from relay.work_checks import check_texts, limited, take_send, title as check_title

MAX_BODY_CHARS = 50_000


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def check_body(body: str) -> str:
    """A note's body: normalised, at most MAX_BODY_CHARS characters, may be empty."""
    return limited(body, "body", MAX_BODY_CHARS) or ""


async def visible_note(ctx: Context, caller: Caller, note_id: str) -> Note:
    """The note if the caller is a member of its room; ``note_not_found`` otherwise."""
    note = await ctx.store.get_note(note_id)
    await room_of(ctx, caller, note.room_id, NoteNotFound("note not found", note_id=note_id))
    return note


async def create(ctx: Context, caller: Caller, room_id: str, title: str, body: str,
                 client_id: str | None) -> Done[Note]:
    room = await check_room(ctx, caller, room_id)
    check_client_id(client_id)
    title, body = check_title(title), check_body(body)
    take_send(ctx, caller)
    await check_texts(ctx, caller, room, {"note_title": title, "note_body": body})

    def audit(result: tuple[Note, Message, bool]) -> Audit | None:
        note, message, created = result
        if not created:
            return None
        return Audit("note.created", caller.account.id, note.id, {
            "room_id": room.id, "message_id": message.id, "version": 1,
            "length": len(body)})
    note, message, created = await ctx.store.create_note(
        room.id, caller.account.id, caller.zone, client_id, ctx.now(), caller.session.id,
        title, body, audit=audit)
    if not created:
        return Done(note)
    ctx.messages_posted += 1
    return Done(note, events=(Event(room.members, {"type": "message.created",
                                                   "message": message.public()}),))


async def save(ctx: Context, caller: Caller, note_id: str, base_version: int,
               title: str | None, body: str) -> Done[Note]:
    """A new version by any member; the text it already has changes nothing."""
    note = await visible_note(ctx, caller, note_id)
    title = None if title is None else check_title(title)
    body = check_body(body)
    room = await ctx.store.get_room(note.room_id)
    take_send(ctx, caller)
    await check_texts(ctx, caller, room, {
        "note_title": title if title != note.title else None,
        "note_body": body if body != note.body else None})

    def audit(result: tuple[Note, Note]) -> Audit | None:
        before, after = result
        if after.version == before.version:
            return None
        return Audit("note.saved", caller.account.id, note.id, {
            "room_id": room.id, "version": after.version, "base_version": base_version,
            "previous_sha256": _sha256(before.title + "\n" + before.body),
            "length": len(after.body)})
    before, after = await ctx.store.save_note(note.id, caller.account.id, base_version,
                                              title, body, ctx.now(), audit=audit)
    if after.version == before.version:
        return Done(after)
    return Done(after, events=(Event(room.members, {
        "type": "note.updated", "room_id": room.id, "note": after.public()}),))


async def notes_of(ctx: Context, caller: Caller, room_id: str) -> list[Note]:
    await check_room(ctx, caller, room_id)
    return await ctx.store.room_notes(room_id)


async def versions(ctx: Context, caller: Caller, note_id: str) -> tuple[Note, list[NoteVersion]]:
    note = await visible_note(ctx, caller, note_id)
    return note, await ctx.store.note_versions(note.id)
