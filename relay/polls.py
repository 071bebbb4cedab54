"""Polls (アンケート): a member asks a question with options; members vote (a new vote
replaces the old one), the creator closes it.  ``poll.updated`` carries the new
counts to every member (and, unless the poll is anonymous, whose vote changed).
Creating and closing are audited; a vote is its own record, like a read marker."""

from __future__ import annotations

from typing import Any

from policy import votes
from store.polls import PollNotFound
from store.records import Audit, Message
from store.vote_records import Poll

from relay import errors
from relay.answering import check_create, created_audit, created_event, room_of
from relay.commands import Caller, Context, Done, Event
from relay.rooms import check_room
from relay.work_checks import take_send


async def create(ctx: Context, caller: Caller, room_id: str, question: str,
                 options: list[str], multiple: bool, anonymous: bool,
                 closes_at: str | None, client_id: str | None) -> Done[Message]:
    question = votes.title(question, "question")
    labels = votes.options(options, votes.MIN_POLL_OPTIONS, votes.MAX_POLL_OPTIONS)
    closes_ts = votes.deadline(closes_at, ctx.now())
    room = await check_room(ctx, caller, room_id)
    await check_create(ctx, caller, room, client_id, [
        (question, "poll_question"), *((label, "poll_option") for label in labels)])
    message, created = await ctx.store.create_poll(
        room.id, caller.account.id, question, labels, multiple, anonymous, closes_ts,
        caller.zone, client_id, caller.session.id, ctx.now(),
        audit=created_audit("poll.created", caller, lambda m: {
            "options": len(labels), "multiple": multiple, "anonymous": anonymous}))
    if not created:
        return Done(message)
    ctx.messages_posted += 1
    return Done(message, events=(created_event(room, message),))


async def _visible(ctx: Context, caller: Caller, poll_id: str) -> tuple[Poll, Any]:
    poll = await ctx.store.get_poll(poll_id)
    missing = PollNotFound("poll not found", poll_id=poll_id)
    return poll, await room_of(ctx, caller, poll.room_id, missing)


def _updated(poll: Poll, members: tuple[str, ...], now: float,
             change: dict[str, Any] | None = None) -> Event:
    event: dict[str, Any] = {"type": "poll.updated", "room_id": poll.room_id,
                             "message_id": poll.message_id, "poll": poll.summary(now)}
    if change is not None and not poll.anonymous:
        event["vote"] = change
    return Event(members, event)


async def get(ctx: Context, caller: Caller, poll_id: str) -> Poll:
    return (await _visible(ctx, caller, poll_id))[0]


async def vote(ctx: Context, caller: Caller, poll_id: str, option_ids: list[str]) -> Done[Poll]:
    """Replace the caller's vote (an empty list takes it back)."""
    poll, room = await _visible(ctx, caller, poll_id)
    chosen = list(dict.fromkeys(option_ids))
    if len(chosen) > 1 and not poll.multiple:
        raise errors.error("single_choice", {"poll_id": poll.id})
    take_send(ctx, caller)
    poll, changed = await ctx.store.vote(poll.id, caller.account.id, chosen,
                                         caller.session.id, ctx.now())
    if not changed:
        return Done(poll)
    return Done(poll, events=(_updated(poll, room.members, ctx.now(), {
        "account": caller.account.id, "options": chosen}),))


async def close(ctx: Context, caller: Caller, poll_id: str) -> Done[Poll]:
    poll, room = await _visible(ctx, caller, poll_id)
    poll, changed = await ctx.store.close_poll(
        poll.id, caller.account.id, ctx.now(),
        audit=lambda r: Audit("poll.closed", caller.account.id, poll_id, {
            "room_id": room.id, "message_id": r[0].message_id, "voters": r[0].voters})
        if r[1] else None)
    if not changed:
        return Done(poll)
    return Done(poll, events=(_updated(poll, room.members, ctx.now()),))
