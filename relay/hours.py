"""Notifications and business hours (業務時間外の配慮): who is notified of a new message
now, whose notification waits for the hours to begin, the digest that then goes out,
and an account's opt-in to notifications after hours (on-call staff).

Outside the hours of ``[hours]`` a message is stored and shown at once, but its
``message.created`` says ``"notify": false`` to the members whose notification is
held; clients show it without a sound or a pop-up.  Urgent messages (and roll calls)
notify always, and so do members who opted in.  When hours begin, each member gets
one ``notify.digest`` with what is still unread of the held messages.  Nothing is
stored per held notification: the digest is read from the unread state of the
messages sent in the closed hours before that opening (``store.scheduled``), so
reading a message at night takes it out of the morning's digest, and the digest of
an opening that relayd slept through goes out when it starts (within those hours).
The store remembers which openings had their digest, so a restart never repeats one.
The decisions about time are ``policy.hours``'s, given ``ctx.now()``.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from typing import Any

from policy import hours as business_hours
from store.db import iso
from store.records import Audit, Message

from relay import errors
from relay.commands import Caller, Context, Done, Event
from relay.config import HoursConfig

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=8)
def _schedule(cfg: HoursConfig) -> business_hours.Hours | None:
    return cfg.schedule() if cfg.enabled else None


def _ts(created_at: str) -> float:
    return dt.datetime.fromisoformat(created_at.replace("Z", "+00:00")).timestamp()


def notify_at(ctx: Context, message: Message, always: bool = False) -> float | None:
    """When the held notification of ``message`` goes out; None when it went at once
    (within hours, urgent, a roll call, ``always``, or hours not enabled)."""
    hours = _schedule(ctx.cfg.hours)
    if hours is None or always or message.urgent:
        return None
    return business_hours.held_until(hours, _ts(message.created_at))


async def created_events(ctx: Context, members: tuple[str, ...], message: Message,
                         always: bool = False) -> tuple[Event, ...]:
    """``message.created`` for the members: ``notify`` true for those notified now,
    false (with ``notify_at``) for those whose notification is held."""
    public = message.public()
    held = notify_at(ctx, message, always)
    if held is None:
        return (Event(members, {"type": "message.created", "message": public,
                                "notify": True}),)
    on_call = await ctx.store.after_hours_among(members)
    waiting = tuple(m for m in members if m not in on_call)
    events = [Event(waiting, {"type": "message.created", "message": public,
                              "notify": False, "notify_at": iso(held)})]
    if on_call:
        events.append(Event(tuple(sorted(on_call, key=int)), {
            "type": "message.created", "message": public, "notify": True}))
    return tuple(events)


def urgent_of(obj: dict[str, Any]) -> bool:
    """``urgent`` of a request body: true or false (absent: false)."""
    value = obj.get("urgent", False)
    if not isinstance(value, bool):
        raise errors.invalid_field("urgent", "true or false")
    return value


def answer(ctx: Context, message: Message) -> dict[str, Any]:
    """The sender's answer: the message, and when its notification is held
    ``notify_at`` (RFC 3339), so the client can say 「業務時間外のため、明日 8:30 に通知され
    ます」.  Notified at once, it is the message alone, as it was before hours existed."""
    held = notify_at(ctx, message)
    return message.public() if held is None else {**message.public(), "notify_at": iso(held)}


# ------------------------------------------------------------------ the digest


async def send_digest(ctx: Context) -> int:
    """When hours have begun and this opening's digest has not gone out: one
    ``notify.digest`` per member with held messages still unread.  Returns how many
    members got one (0 when there was nothing to do)."""
    hours = _schedule(ctx.cfg.hours)
    if hours is None:
        return 0
    now = ctx.now()
    opening = business_hours.opening_of(hours, now)
    if opening is None or await ctx.store.digest_sent(opening):
        return 0
    since = business_hours.previous_close(hours, opening)
    held = await ctx.store.held_digest(since, opening)
    # Remembered first, published after: a crash in between loses a digest (the
    # messages stay unread in the room list), never sends one twice.
    if not await ctx.store.record_digest(opening, len(held), now):
        return 0
    for account_id, rooms in held.items():
        ctx.hub.publish((account_id,), {
            "type": "notify.digest", "since": iso(since), "until": iso(opening),
            "total": sum(n for _, n, _ in rooms),
            "rooms": [{"room_id": r, "count": n, "latest": last} for r, n, last in rooms]})
    if held:
        log.info("業務開始の通知まとめ / notification digest of %s sent to %d account(s)",
                 iso(opening), len(held))
    return len(held)


def next_digest(ctx: Context, now: float) -> float | None:
    """The next opening after ``now`` (after this day's end, within hours)."""
    hours = _schedule(ctx.cfg.hours)
    if hours is None:
        return None
    closing = business_hours.closing_of(hours, now)
    return business_hours.next_opening(hours, now if closing is None else closing)


# ------------------------------------------------------------------ the opt-in


async def get_settings(ctx: Context, caller: Caller) -> dict[str, Any]:
    on_call = await ctx.store.after_hours_among((caller.account.id,))
    return {"after_hours": caller.account.id in on_call}


async def set_after_hours(ctx: Context, caller: Caller, on: bool) -> Done[dict[str, Any]]:
    """The caller's opt-in to notifications after hours (audited
    ``account.settings``); the same value again changes nothing."""
    if not isinstance(on, bool):
        raise errors.invalid_field("after_hours", "true or false")
    if (await get_settings(ctx, caller))["after_hours"] == on:
        return Done({"after_hours": on})  # nothing to change, nothing to audit
    await ctx.store.set_after_hours(caller.account.id, on, ctx.now(), audit=Audit(
        "account.settings", caller.account.id, caller.account.id, {"after_hours": on}))
    return Done({"after_hours": on})
