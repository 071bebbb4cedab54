"""Messages: sending (over HTTP or the stream alike) text, stamps and replies, read
markers (既読), history and who has read what.  Text leaving LGWAN is checked by
``relay.outbound``.

A message and a read marker are their own record (append-only rows): they are not
audited twice.  The acknowledgement of a send comes after its COMMIT; events are
published after it too.
"""

from __future__ import annotations

from dataclasses import dataclass

from policy import text
from policy.errors import Invalid
from store.errors import MessageNotFound, RoomNotFound
from store.records import Message, Readers, Room
from store.scheduled import CLIENT_ID_PREFIX

from relay import errors, hours, mentions
from relay.commands import Caller, Context, Done, Event
from relay.outbound import check_outbound
from relay.rooms import check_room
from relay.stamps import check_stamp

HISTORY_DEFAULT_LIMIT = 50
HISTORY_MAX_LIMIT = 200
MAX_CLIENT_ID_CHARS = 128


def check_client_id(client_id: str | None) -> None:
    """``client_id`` (idempotent sends and uploads) is optional, 1 to N characters."""
    # The prefix names the messages scheduled sends post (store.scheduled).
    if client_id is not None and (not 0 < len(client_id) <= MAX_CLIENT_ID_CHARS
                                  or client_id.startswith(CLIENT_ID_PREFIX)):
        raise Invalid(f"client_id は 1〜{MAX_CLIENT_ID_CHARS} 文字です / client_id must be "
                      f"1 to {MAX_CLIENT_ID_CHARS} characters", code="invalid_client_id")


async def visible_message(ctx: Context, caller: Caller, message_id: str) -> Message:
    """The message if the caller is a member of its room; message_not_found otherwise
    (a stranger cannot tell a message it may not see from none)."""
    message = await ctx.store.get_message(message_id)
    try:
        await check_room(ctx, caller, message.room_id)
    except RoomNotFound:
        raise MessageNotFound("message not found", message_id=message_id) from None
    return message


async def _check_reply(ctx: Context, room: Room, reply_to: str) -> None:
    """A reply answers a message of the same room that is still there."""
    try:
        message: Message | None = await ctx.store.get_message(reply_to)
    except MessageNotFound:
        message = None
    if message is None or message.room_id != room.id or message.deleted:
        raise errors.error("invalid_reply", {"reply_to": reply_to})


async def send(ctx: Context, caller: Caller, room_id: str, body: str | None,
               client_id: str | None, *, reply_to: str | None = None,
               stamp: str | None = None, urgent: bool = False) -> Done[Message]:
    """A text message, or a stamp message (``stamp``: an id of the catalogue, no
    body), optionally answering ``reply_to``; its ``@names`` become its mentions.
    An ``urgent`` one (緊急) notifies at once, within business hours or not."""
    room = await check_room(ctx, caller, room_id)
    check_client_id(client_id)
    if stamp is not None:
        if body:
            raise errors.invalid_field("body", "no body with a stamp")
        check_stamp(stamp)
        body = ""
    elif body is None:
        raise errors.invalid_field("body", "a string", "missing")
    else:
        body = text.message_body(body, ctx.cfg.policy)
    if reply_to is not None:
        await _check_reply(ctx, room, reply_to)
    wait = ctx.limits.sends.take(caller.account.id, ctx.now())
    if wait:
        raise errors.rate_limited(wait)
    await check_outbound(ctx, caller, room, body, "body")
    post = ctx.store.post_urgent if urgent else ctx.store.post_message
    message, created = await post(
        room.id, caller.account.id, body, caller.zone, client_id, ctx.now(),
        session_id=caller.session.id, kind="text" if stamp is None else "stamp",
        stamp=stamp, reply_to=reply_to,
        mentions=await mentions.resolve(ctx, caller, room, body))
    if not created:
        return Done(message)
    ctx.messages_posted += 1
    return Done(message, events=await hours.created_events(ctx, room.members, message))


@dataclass(frozen=True, slots=True)
class ReadUpTo:
    room_id: str
    up_to: str


async def mark_read(ctx: Context, caller: Caller, room_id: str,
                    up_to: str) -> Done[ReadUpTo]:
    room = await check_room(ctx, caller, room_id)
    message = await ctx.store.get_message(up_to)
    if message.room_id != room.id:
        raise MessageNotFound("message not found", message_id=up_to)
    me = caller.account.id
    done = ReadUpTo(room.id, message.id)
    if not await ctx.store.mark_read(room.id, me, message.id):
        return Done(done)
    return Done(done, events=(Event(room.members, {
        "type": "message.read", "room_id": room.id, "account_id": me,
        "up_to": message.id}),))


async def history(ctx: Context, caller: Caller, room_id: str, before: str | None,
                  limit: int, after: str | None = None) -> list[Message]:
    """A page of history: the newest, those before ``before``, or (catching up after
    a reconnect) those after ``after``."""
    await check_room(ctx, caller, room_id)
    if before is not None and after is not None:
        raise errors.invalid_field("after", "either before or after, not both")
    return await ctx.store.history(room_id, before, limit, after)


async def readers(ctx: Context, caller: Caller, message_id: str) -> Readers:
    await visible_message(ctx, caller, message_id)
    return await ctx.store.readers(message_id)
