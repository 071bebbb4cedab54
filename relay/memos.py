"""Phone memos (電話取次メモ): a member who took a call writes down who called for whom
(``to``, a member of the room), from where and which number, whether to call back;
the message of kind ``memo`` mentions the recipient, who marks it done when handled.

Only the recipient or the writer marks it done (``not_assigned`` otherwise).  The
memo's texts are personal data: none of them reaches the audit log, which records
the creation (``memo.created``) and the handling (``memo.done``) with who and when.
Every text written from LGWAN gets the 個人番号 check of a message — a number field is
exactly where a 個人番号 could be typed by mistake.
"""

from __future__ import annotations

from datetime import timedelta

from store.memos import MemoDraft
from store.records import Audit, Message
from store.work_objects import MemoNotFound
from store.work_records import Memo

from relay import errors
from relay.answering import room_of
from relay.commands import Caller, Context, Done, Event
from relay.messages import check_client_id
from relay.rooms import check_room
from relay.shapes import Fields
from relay.work_checks import account_id, boolean, check_texts, limited, parse_when, take_send

MAX_NAME_CHARS = 100  # caller, caller_org
MAX_NUMBER_CHARS = 40  # a number with its extension (内線) written out
MAX_NOTE_CHARS = 1000
# A call is written down after it came in: a little clock skew ahead, a year back.
RECEIVED_AHEAD = timedelta(minutes=10)
RECEIVED_BEHIND = timedelta(days=366)


def read(f: Fields, now: float) -> MemoDraft:
    """The memo of a request, checked (but for its recipient's membership)."""
    received_at, _ = parse_when(f.obj.get("received_at"), "received_at", now,
                                RECEIVED_AHEAD, RECEIVED_BEHIND, date_ok=False)
    caller = limited(f.req_str("caller"), "caller", MAX_NAME_CHARS, required=True)
    assert caller is not None
    callback = boolean(f, "callback")
    assert callback is not None
    return MemoDraft(
        to=account_id(f, "to"), caller=caller,
        caller_org=limited(f.opt_str("caller_org"), "caller_org", MAX_NAME_CHARS),
        number=limited(f.opt_str("number"), "number", MAX_NUMBER_CHARS),
        received_at=received_at, callback=callback,
        note=limited(f.opt_str("note"), "note", MAX_NOTE_CHARS))


async def visible_memo(ctx: Context, caller: Caller, memo_id: str) -> Memo:
    """The memo if the caller is a member of its room and its message is still there;
    ``memo_not_found`` otherwise."""
    memo = await ctx.store.get_memo(memo_id)
    await room_of(ctx, caller, memo.room_id, MemoNotFound("memo not found", memo_id=memo_id))
    if (await ctx.store.get_message(memo.message_id)).deleted:
        raise MemoNotFound("memo not found", memo_id=memo_id)
    return memo


async def create(ctx: Context, caller: Caller, room_id: str, f: Fields,
                 client_id: str | None) -> Done[Message]:
    room = await check_room(ctx, caller, room_id)
    check_client_id(client_id)
    memo = read(f, ctx.now())
    if memo.to not in room.members:
        raise errors.error("not_in_room", {"field": "to", "account_id": memo.to})
    take_send(ctx, caller)
    await check_texts(ctx, caller, room, {
        "memo_caller": memo.caller, "memo_caller_org": memo.caller_org,
        "memo_number": memo.number, "memo_note": memo.note})

    def audit(result: tuple[Message, bool]) -> Audit | None:
        message, created = result
        if not created:
            return None
        return Audit("memo.created", caller.account.id, message.detail.id, {
            "room_id": room.id, "message_id": message.id, "to": memo.to,
            "callback": memo.callback})
    message, created = await ctx.store.create_memo(
        room.id, caller.account.id, caller.zone, client_id, ctx.now(), caller.session.id,
        memo, audit=audit)
    if not created:
        return Done(message)
    ctx.messages_posted += 1
    return Done(message, events=(Event(room.members, {"type": "message.created",
                                                      "message": message.public()}),))


async def done(ctx: Context, caller: Caller, memo_id: str) -> Done[Memo]:
    """Mark the memo handled: its recipient or its writer; again changes nothing."""
    memo = await visible_memo(ctx, caller, memo_id)
    me = caller.account.id
    if me not in (memo.to, memo.created_by):
        raise errors.error("not_assigned", {"memo_id": memo.id})
    if memo.done:
        return Done(memo)
    take_send(ctx, caller)

    def audit(result: tuple[Memo, Message, bool]) -> Audit | None:
        handled, _, changed = result
        if not changed:
            return None
        return Audit("memo.done", me, memo.id, {"room_id": memo.room_id,
                                                "message_id": memo.message_id,
                                                "to": memo.to, "received_at": memo.received_at})
    handled, message, changed = await ctx.store.memo_done(memo.id, me, ctx.now(), audit=audit)
    if not changed:
        return Done(handled)
    room = await ctx.store.get_room(memo.room_id)
    return Done(handled, events=(Event(room.members, {
        "type": "memo.updated", "room_id": room.id, "message_id": message.id,
        "memo": handled.public()}),))
