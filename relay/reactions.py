"""Reactions: a member puts a stamp of the catalogue on a message of their room, or
takes it back.  Each is its own record (like a read marker) and is not audited;
``reaction.changed`` reaches every member when something changed."""

from __future__ import annotations

from store.reactions import MessageDeleted
from store.records import Message

from relay import errors
from relay.commands import Caller, Context, Done, Event
from relay.messages import visible_message
from relay.stamps import check_stamp


async def react(ctx: Context, caller: Caller, message_id: str, stamp: str,
                on: bool) -> Done[Message]:
    """Put (``on``) or take back the caller's stamp; doing it twice changes nothing."""
    check_stamp(stamp)
    message = await visible_message(ctx, caller, message_id)
    if message.deleted:
        raise MessageDeleted("message deleted", message_id=message_id)
    wait = ctx.limits.sends.take(caller.account.id, ctx.now())
    if wait:
        raise errors.rate_limited(wait)
    message, changed = await ctx.store.set_reaction(message.id, caller.account.id, stamp, on,
                                                    ctx.now())
    if not changed:
        return Done(message)
    room = await ctx.store.get_room(message.room_id)
    return Done(message, events=(Event(room.members, {
        "type": "reaction.changed", "room_id": message.room_id, "message_id": message.id,
        "stamp": stamp, "account_id": caller.account.id, "on": on,
        "reactions": [r.public() for r in message.reactions]}),))
