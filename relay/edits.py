"""Editing and deleting messages, and reading their earlier versions.

The sender edits a text message of theirs (not a file, not a stamp); the sender or an
admin who is a member of the room deletes any message.  An admin sees nothing of a
room they are not in, so for them such a message does not exist either.  Each change
commits with its audit entry (``message.edited`` / ``message.deleted``, naming the
version kept and the SHA-256 of the text it replaced, never the text itself); the
earlier text stays in the store for the sender and admins (``versions``).  An edit
from LGWAN is checked like a new message when an internet member can read it.
"""

from __future__ import annotations

import hashlib

from policy import text
from store.edits import NotEditable, NotYourMessage
from store.reactions import MessageDeleted
from store.records import Audit, Message, MessageVersion

from relay import errors, mentions
from relay.commands import Caller, Context, Done, Event
from relay.messages import visible_message
from relay.outbound import check_outbound


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _is_admin(caller: Caller) -> bool:
    return caller.account.kind == "admin"


async def edit(ctx: Context, caller: Caller, message_id: str, body: str) -> Done[Message]:
    message = await visible_message(ctx, caller, message_id)
    if message.sender != caller.account.id:
        raise NotYourMessage("not the sender", message_id=message_id)
    if message.deleted:
        raise MessageDeleted("message deleted", message_id=message_id)
    if message.kind != "text":
        raise NotEditable("not editable", message_id=message_id, kind=message.kind)
    body = text.message_body(body, ctx.cfg.policy)
    if body == message.body:
        return Done(message)  # nothing to change: no version, no event
    wait = ctx.limits.sends.take(caller.account.id, ctx.now())
    if wait:
        raise errors.rate_limited(wait)
    room = await ctx.store.get_room(message.room_id)
    await check_outbound(ctx, caller, room, body, "body")

    def audit(result: tuple[Message, MessageVersion]) -> Audit:
        version = result[1]
        return Audit("message.edited", caller.account.id, message_id, {
            "room_id": room.id, "version": version.id,
            "previous_sha256": _sha256(version.body), "length": len(body)})
    edited, _ = await ctx.store.edit_message(
        message_id, caller.account.id, body, await mentions.resolve(ctx, caller, room, body),
        ctx.now(), audit=audit)
    return Done(edited, events=(Event(room.members, {"type": "message.updated",
                                                     "message": edited.public()}),))


async def delete(ctx: Context, caller: Caller, message_id: str) -> Done[Message]:
    message = await visible_message(ctx, caller, message_id)
    by_sender = message.sender == caller.account.id
    if not by_sender and not _is_admin(caller):
        raise NotYourMessage("not the sender", message_id=message_id)
    if message.deleted:
        return Done(message)  # deleting again changes nothing

    def audit(result: tuple[Message, MessageVersion]) -> Audit:
        version = result[1]
        return Audit("message.deleted", caller.account.id, message_id, {
            "room_id": message.room_id, "sender": message.sender, "version": version.id,
            "previous_sha256": _sha256(version.body),
            "by": "sender" if by_sender else "admin"})
    deleted, _ = await ctx.store.delete_message(message_id, caller.account.id, ctx.now(),
                                                audit=audit)
    room = await ctx.store.get_room(message.room_id)
    return Done(deleted, events=(Event(room.members, {
        "type": "message.deleted", "room_id": deleted.room_id, "message_id": deleted.id,
        "message": deleted.public()}),))


async def versions(ctx: Context, caller: Caller,
                   message_id: str) -> tuple[Message, list[MessageVersion]]:
    """The message and its earlier versions, for its sender and admins of the room."""
    message = await visible_message(ctx, caller, message_id)
    if message.sender != caller.account.id and not _is_admin(caller):
        raise NotYourMessage("not the sender", message_id=message_id)
    return message, await ctx.store.message_versions(message_id)
