"""Roll calls (参集確認), for disasters: a member asks who can come; each member
answers with an option (参集可 / 遅れて参集 / 参集不可 by default), minutes until
arrival and a comment; everyone sees the tally live; the creator reminds those who
have not answered and closes it.  A roll call message is always urgent.

When ``needed`` members have answered the first option the roll call is *filled*:
from then on every event and view for a member who has not answered carries the
notice that they need not come.  ``rollcall.updated`` carries the summary (counts,
not the list of answers: in a room of hundreds every answer reaches every member)
and the answers that changed it (those of a burst share one event); ``GET`` gives
every answer and who has not answered.
Creating, closing and reminding are audited; an answer is its own record.
"""

from __future__ import annotations

from typing import Any

import trio

from policy import votes
from store.records import Audit, Message
from store.rollcalls import RollCallNotFound
from store.vote_records import FILLED_NOTICE_JA, RollCall, RollCallAnswer

from relay import errors
from relay.answering import check_create, created_audit, created_event, room_of
from relay.commands import Caller, Context, Done, Event
from relay.rooms import check_room
from relay.work_checks import check_texts_out, take_send

# Answers within this window share one event: in a room of hundreds answering at
# once, one event per answer to every member would be members x answers frames.
FANOUT_WINDOW_S = 0.2


async def create(ctx: Context, caller: Caller, room_id: str, title: str, needed: int | None,
                 options: list[str] | None, client_id: str | None) -> Done[Message]:
    title = votes.title(title)
    labels = votes.options(list(votes.DEFAULT_ROLLCALL_OPTIONS) if options is None else options,
                           votes.MIN_ROLLCALL_OPTIONS, votes.MAX_ROLLCALL_OPTIONS)
    room = await check_room(ctx, caller, room_id)
    votes.needed(needed, len(room.members))
    await check_create(ctx, caller, room, client_id, [
        (title, "rollcall_title"), *((label, "rollcall_option") for label in labels)])
    message, created = await ctx.store.create_rollcall(
        room.id, caller.account.id, title, needed, labels, caller.zone, client_id,
        caller.session.id, ctx.now(),
        audit=created_audit("rollcall.created", caller, lambda m: {
            "needed": needed, "options": labels, "members": len(room.members)}))
    if not created:
        return Done(message)
    ctx.messages_posted += 1
    return Done(message, events=(created_event(room, message),))


async def _visible(ctx: Context, caller: Caller, rollcall_id: str,
                   full: bool = True) -> tuple[RollCall, Any]:
    call = await ctx.store.get_rollcall(rollcall_id, full)
    missing = RollCallNotFound("roll call not found", rollcall_id=rollcall_id)
    return call, await room_of(ctx, caller, call.room_id, missing)


async def get(ctx: Context, caller: Caller, rollcall_id: str) -> RollCall:
    return (await _visible(ctx, caller, rollcall_id))[0]


def _events(call: RollCall, members: tuple[str, ...], unanswered: tuple[str, ...] | None,
            **extra: Any) -> tuple[Event, ...]:
    """``rollcall.updated`` to every member; once filled, those who have not answered
    get it with the notice that they need not come."""
    event = {"type": "rollcall.updated", "room_id": call.room_id,
             "message_id": call.message_id, "rollcall": call.summary(), **extra}
    if not call.filled or not unanswered:
        return (Event(members, event),)
    waiting = set(unanswered)
    return (Event(tuple(m for m in members if m not in waiting), event),
            Event(tuple(unanswered), {**event, "notice": FILLED_NOTICE_JA}))


async def answer(ctx: Context, caller: Caller, rollcall_id: str, option: str,
                 eta_minutes: int | None, comment: str | None
                 ) -> Done[tuple[RollCall, RollCallAnswer]]:
    """Record the caller's answer.  Answers that commit within ``FANOUT_WINDOW_S`` of
    each other share one ``rollcall.updated``: the first of them (the leader) waits
    out the window, then publishes the tally read after every one of them committed,
    with all their answers.  Every committed answer is in a batch whose leader reads
    after it, so every member's tally converges on the last answer."""
    call, room = await _visible(ctx, caller, rollcall_id, full=False)
    votes.eta_minutes(eta_minutes)
    said = votes.comment(comment)
    take_send(ctx, caller)
    await check_texts_out(ctx, caller, room, [(said, "rollcall_comment")])
    summary, mine, _ = await ctx.store.answer_rollcall(
        call.id, caller.account.id, option, eta_minutes, said, caller.session.id, ctx.now())
    batch = ctx.pending_answers.get(call.id)
    if batch is not None:
        batch.append(mine.public())  # the leader of this batch publishes it
        return Done((summary, mine))
    ctx.pending_answers[call.id] = [mine.public()]
    # Bounded and shielded: a leader whose client went away still publishes its batch.
    with trio.CancelScope(shield=True):
        await trio.sleep(FANOUT_WINDOW_S)
        answers = ctx.pending_answers.pop(call.id)
        fresh = await ctx.store.get_rollcall(call.id, full=False)
        if fresh.filled:
            fresh = await ctx.store.get_rollcall(call.id, full=True)
    return Done((summary, mine), events=_events(fresh, room.members, fresh.unanswered,
                                                answers=answers))


async def close(ctx: Context, caller: Caller, rollcall_id: str) -> Done[RollCall]:
    call, room = await _visible(ctx, caller, rollcall_id, full=False)
    closed, changed = await ctx.store.close_rollcall(
        call.id, caller.account.id, ctx.now(),
        audit=lambda r: Audit("rollcall.closed", caller.account.id, rollcall_id, {
            "room_id": room.id, "message_id": call.message_id,
            "tally": dict(zip(r[0].options, r[0].tally)), "unanswered": r[0].unanswered_count})
        if r[1] else None)
    if not changed:
        return Done(closed)
    return Done(closed, events=_events(closed, room.members, closed.unanswered))


async def remind(ctx: Context, caller: Caller, rollcall_id: str) -> Done[RollCall]:
    """Re-notify the members who have not answered (the creator; once per
    ``REMIND_INTERVAL_S``): ``rollcall.reminded`` reaches them and nobody else."""
    call, room = await _visible(ctx, caller, rollcall_id, full=False)
    now = ctx.now()
    reminded, last = await ctx.store.remind_rollcall(
        call.id, caller.account.id, now - votes.REMIND_INTERVAL_S, now,
        audit=lambda r: None if r[1] is not None else Audit(
            "rollcall.reminded", caller.account.id, rollcall_id, {
                "room_id": room.id, "message_id": call.message_id,
                "reminded": len(r[0].unanswered)}))
    if last is not None:
        raise errors.rate_limited(last + votes.REMIND_INTERVAL_S - now)
    event: dict[str, Any] = {"type": "rollcall.reminded", "room_id": reminded.room_id,
                             "message_id": reminded.message_id, "rollcall": reminded.summary(),
                             "by": caller.account.id}
    if reminded.filled:
        event["notice"] = FILLED_NOTICE_JA
    return Done(reminded, events=(Event(reminded.unanswered, event),))
