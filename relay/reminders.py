"""Reminders (リマインド): the sender of a message notifies again the members who have
not read it yet.

At most one reminder per message every ``REMIND_INTERVAL_S`` (kept in the store, so a
restart does not reset it); each is audited (``message.reminded``, naming who was
reminded) in the same transaction.  A reminder is the sender's deliberate nudge: it
goes out at once, within business hours or not.
"""

from __future__ import annotations

from store.edits import NotYourMessage
from store.reactions import MessageDeleted
from store.records import Audit

from relay.commands import Caller, Context, Done, Event
from relay.messages import visible_message

REMIND_INTERVAL_S = 600.0


async def remind(ctx: Context, caller: Caller, message_id: str) -> Done[list[str]]:
    """The members reminded (those who have not read it; none: nothing happens)."""
    message = await visible_message(ctx, caller, message_id)
    if message.sender != caller.account.id:
        raise NotYourMessage("not the sender", message_id=message_id)
    if message.deleted:
        raise MessageDeleted("message deleted", message_id=message_id)
    readers = await ctx.store.readers(message_id)
    unread = tuple(a for a in readers.unread if a != caller.account.id)
    if not unread:
        return Done([])
    await ctx.store.remind(message_id, ctx.now(), REMIND_INTERVAL_S, audit=Audit(
        "message.reminded", caller.account.id, message_id,
        {"room_id": message.room_id, "accounts": list(unread)}))
    return Done(list(unread), events=(Event(unread, {
        "type": "message.reminded", "message": message.public(),
        "by": caller.account.id}),))
