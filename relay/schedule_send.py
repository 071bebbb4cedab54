"""Scheduled messages (予約送信): scheduling, listing and cancelling them, and the
background work that sends each when it is due and sends the digest of held
notifications when business hours begin (``relay.hours``).

A schedule is checked like a message when it is made (membership, body, the
個人番号 check) and again when it is sent, against the room as it is then: a sender
who left the room, was disabled, a room archived, or a body that may no longer reach
the room's members, drops it (audited ``message.schedule_dropped``; the sender gets
``scheduled.dropped``).  The send and the schedule's end commit in one transaction
(``store.scheduled``), so a message is sent once whatever restarts come between.

``TimedWork.run`` takes its time from ``ctx.now()`` only: it sleeps until the next
thing is due (at most ``POLL_S``, so a changed wall clock is caught up with), and
``wake()`` makes it look at once (a new schedule, or a test that moved the clock).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from types import SimpleNamespace
from typing import Any, cast

import trio

from policy import text
from policy.errors import PolicyError
from store.errors import NotMember, RoomArchived, RoomNotFound, StoreError
from store.db import iso
from store.records import Audit, Message
from store.scheduled import Scheduled, ScheduledDone

from relay import errors, hours, mentions
from relay.commands import Caller, Context, Done, Event
from relay.messages import check_client_id
from relay.outbound import check_outbound, check_text_out
from relay.rooms import check_room

log = logging.getLogger(__name__)

MAX_PENDING = 100  # pending schedules per account
PAST_GRACE_S = 60.0  # a send_at this far in the past is taken as "now"
MAX_AHEAD_S = 366 * 86400.0  # and at most a year ahead
POLL_S = 10.0  # the longest the background work sleeps without looking
MIN_SLEEP_S = 1.0
MAX_SEND_AT_CHARS = 64


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def parse_send_at(value: object, now: float) -> float:
    """``send_at``: an RFC 3339 time with its offset, from a minute ago to a year on."""
    if not isinstance(value, str):
        raise errors.invalid_field("send_at", "an RFC 3339 time")
    try:
        if len(value) > MAX_SEND_AT_CHARS:
            raise ValueError("too long")
        when = dt.datetime.fromisoformat(value)
        if when.tzinfo is None or when.utcoffset() is None:
            raise ValueError("no offset")
        ts = when.timestamp()
    except (ValueError, OverflowError, OSError):
        raise errors.error("invalid_send_at", {"send_at": value[:MAX_SEND_AT_CHARS]}) from None
    if ts < now - PAST_GRACE_S:
        raise errors.error("send_at_past", {"send_at": value, "now": iso(now)})
    if ts > now + MAX_AHEAD_S:
        raise errors.error("send_at_too_far", {"send_at": value,
                                               "latest": iso(now + MAX_AHEAD_S)})
    return ts


async def schedule(ctx: Context, caller: Caller, room_id: str, body: str | None,
                   client_id: str | None, send_at: object,
                   urgent: bool = False) -> Done[Scheduled]:
    room = await check_room(ctx, caller, room_id)
    check_client_id(client_id)
    if body is None:
        raise errors.invalid_field("body", "a string", "missing")
    body = text.message_body(body, ctx.cfg.policy)
    now = ctx.now()
    send_ts = parse_send_at(send_at, now)
    wait = ctx.limits.sends.take(caller.account.id, now)
    if wait:
        raise errors.rate_limited(wait)
    await check_outbound(ctx, caller, room, body, "body")

    def audit(s: Scheduled) -> Audit:
        return Audit("message.scheduled", caller.account.id, s.id, {
            "room_id": room.id, "send_at": iso(s.send_ts), "urgent": s.urgent,
            "sha256": _sha256(body), "length": len(body)})
    scheduled, created = await ctx.store.schedule_message(
        room.id, caller.account.id, body, urgent, caller.zone, send_ts, client_id, now,
        MAX_PENDING, audit=audit)
    if not created:
        return Done(scheduled)
    return Done(scheduled, events=(Event((caller.account.id,), {
        "type": "scheduled.created", "scheduled": scheduled.public()}),))


async def mine(ctx: Context, caller: Caller) -> list[Scheduled]:
    """The caller's pending schedules, the earliest first."""
    return await ctx.store.pending_scheduled(caller.account.id)


async def cancel(ctx: Context, caller: Caller, scheduled_id: str) -> Done[Scheduled]:
    """Only its sender cancels a schedule (anyone else: ``scheduled_not_found``)."""
    done = await ctx.store.cancel_scheduled(
        scheduled_id, caller.account.id, ctx.now(),
        audit=Audit("message.schedule_cancelled", caller.account.id, scheduled_id, {}))
    return Done(done, events=(Event((caller.account.id,), {
        "type": "scheduled.cancelled", "scheduled": done.public()}),))


# ------------------------------------------------------------------ sending


async def _drop(ctx: Context, s: Scheduled, reason: str) -> Done[Scheduled]:
    dropped = await ctx.store.drop_scheduled(
        s.id, reason, ctx.now(), audit=Audit("message.schedule_dropped", None, s.id, {
            "room_id": s.room_id, "sender": s.sender, "reason": reason}))
    log.info("予約送信を取りやめました / scheduled message %s dropped: %s", s.id, reason)
    return Done(dropped, events=(Event((s.sender,), {
        "type": "scheduled.dropped", "scheduled": dropped.public(), "reason": reason}),))


async def send_one(ctx: Context, s: Scheduled) -> Done[Any]:
    """Send one due schedule, or drop it when its sender may no longer."""
    try:
        sender = await ctx.store.get_account(s.sender)
        if sender.disabled:
            return await _drop(ctx, s, "sender_disabled")
        room = await ctx.store.get_room(s.room_id)
        if s.sender not in room.members:
            return await _drop(ctx, s, "not_member")
        if s.origin_zone == "lgwan":  # the room's readers now, not when it was made
            await check_text_out(ctx, s.sender, room.members, room.id, s.body, "scheduled")
        # Mentions are resolved against the room as it is now; they look only at the
        # caller's account, which is the sender's here.
        found = await mentions.resolve(ctx, cast(Caller, SimpleNamespace(account=sender)),
                                       room, s.body)
        message, sent = await ctx.store.send_scheduled(
            s.id, found, ctx.now(), audit=lambda r: Audit(
                "message.schedule_sent", s.sender, s.id,
                {"room_id": s.room_id, "message_id": r[0].id}))
    except (NotMember, RoomNotFound):
        return await _drop(ctx, s, "not_member")
    except RoomArchived:
        return await _drop(ctx, s, "room_archived")
    except PolicyError as exc:  # the 個人番号 check refused it (audited outbound.block)
        return await _drop(ctx, s, exc.code)
    ctx.messages_posted += 1
    events = await hours.created_events(ctx, room.members, message)
    return Done(message, events=(*events, Event((s.sender,), {
        "type": "scheduled.sent", "scheduled": sent.public(), "message_id": message.id})))


async def send_due(ctx: Context) -> list[Message]:
    """Send every schedule that is due now; the messages sent."""
    sent: list[Message] = []
    while batch := await ctx.store.due_scheduled(ctx.now()):
        progressed = False
        for s in batch:
            try:
                value = await ctx.run(send_one(ctx, s))
            except ScheduledDone:
                continue  # cancelled (or sent) while we looked
            except StoreError as exc:
                log.error("scheduled message %s not sent (retried later): %s", s.id, exc)
                continue
            progressed = True
            if isinstance(value, Message):
                sent.append(value)
        if not progressed:
            break
    return sent


class TimedWork:
    """The background task: scheduled sends and the digest of held notifications."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._wake = trio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def tick(self) -> None:
        """One look: whatever is due at ``ctx.now()`` is done."""
        await send_due(self.ctx)
        await hours.send_digest(self.ctx)

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            self._wake = trio.Event()
            try:
                await self.tick()
                now = self.ctx.now()
                due = [t for t in (await self.ctx.store.next_scheduled(),
                                   hours.next_digest(self.ctx, now)) if t is not None]
            except StoreError as exc:
                log.error("scheduled work failed (retried): %s", exc)
                due = []
            # At least MIN_SLEEP_S: a schedule that keeps failing does not spin the loop.
            delay = min([POLL_S, *(max(MIN_SLEEP_S, t - now) for t in due)])
            with trio.move_on_after(delay):
                await self._wake.wait()
