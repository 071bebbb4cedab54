"""Schedule adjustments (日程調整): a member proposes candidate slots; members answer
each with yes / maybe / no (○△×) and a comment (a new answer replaces the old one);
the creator decides, and a system message announces the chosen slot.
``schedule.updated`` carries the per-slot counts to every member with the answer
that changed.  Creating and deciding are audited; an answer is its own record."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

from policy import votes
from store.records import Audit, Message
from store.schedules import ScheduleNotFound
from store.vote_records import Schedule, ScheduleSlot

from relay.answering import check_create, created_audit, created_event, room_of
from relay.commands import Caller, Context, Done, Event
from relay.rooms import check_room
from relay.work_checks import check_texts_out, take_send

JST = timezone(timedelta(hours=9))
_WEEKDAYS = "月火水木金土日"


async def create(ctx: Context, caller: Caller, room_id: str, title: str,
                 slots: list[dict[str, Any]], closes_at: str | None,
                 client_id: str | None) -> Done[Message]:
    title = votes.title(title)
    checked = votes.slots(slots)
    closes_ts = votes.deadline(closes_at, ctx.now())
    room = await check_room(ctx, caller, room_id)
    await check_create(ctx, caller, room, client_id, [
        (title, "schedule_title"), *((s.label, "slot_label") for s in checked)])
    message, created = await ctx.store.create_schedule(
        room.id, caller.account.id, title, [(s.start, s.end, s.label) for s in checked],
        closes_ts, caller.zone, client_id, caller.session.id, ctx.now(),
        audit=created_audit("schedule.created", caller, lambda m: {"slots": len(checked)}))
    if not created:
        return Done(message)
    ctx.messages_posted += 1
    return Done(message, events=(created_event(room, message),))


async def _visible(ctx: Context, caller: Caller, schedule_id: str) -> tuple[Schedule, Any]:
    schedule = await ctx.store.get_schedule(schedule_id)
    missing = ScheduleNotFound("schedule not found", schedule_id=schedule_id)
    return schedule, await room_of(ctx, caller, schedule.room_id, missing)


async def get(ctx: Context, caller: Caller, schedule_id: str) -> Schedule:
    return (await _visible(ctx, caller, schedule_id))[0]


def _updated(schedule: Schedule, members: tuple[str, ...], now: float,
             **extra: Any) -> Event:
    return Event(members, {"type": "schedule.updated", "room_id": schedule.room_id,
                           "message_id": schedule.message_id,
                           "schedule": schedule.summary(now), **extra})


async def answer(ctx: Context, caller: Caller, schedule_id: str, answers: Mapping[str, str],
                 comment: str | None) -> Done[Schedule]:
    """Replace the caller's answers (slot id -> yes / maybe / no) and comment."""
    schedule, room = await _visible(ctx, caller, schedule_id)
    said = votes.comment(comment)
    take_send(ctx, caller)
    await check_texts_out(ctx, caller, room, [(said, "schedule_comment")])
    schedule, mine = await ctx.store.answer_schedule(schedule.id, caller.account.id, answers,
                                                     said, caller.session.id, ctx.now())
    if mine is None:
        return Done(schedule)
    return Done(schedule, events=(_updated(schedule, room.members, ctx.now(),
                                           answer=mine.public()),))


def describe(slot: ScheduleSlot) -> str:
    """A slot as people read it: its time in Japan (and its label)."""
    start = datetime.fromisoformat(slot.start).astimezone(JST)
    text = f"{start:%Y年%m月%d日}（{_WEEKDAYS[start.weekday()]}）{start:%H:%M}"
    if slot.end:
        end = datetime.fromisoformat(slot.end).astimezone(JST)
        text += f"〜{end:%H:%M}" if end.date() == start.date() else f"〜{end:%m月%d日 %H:%M}"
    return f"{text} {slot.label}".strip()


async def decide(ctx: Context, caller: Caller, schedule_id: str,
                 slot_id: str) -> Done[tuple[Schedule, Message]]:
    """The creator picks a slot; a system message announces it in the room."""
    schedule, room = await _visible(ctx, caller, schedule_id)
    slot = schedule.slot(slot_id)
    text = f"日程が決まりました: {schedule.title} — {describe(slot)}" if slot else ""
    if slot is not None and schedule.creator == caller.account.id:
        await check_texts_out(ctx, caller, room, [(text, "schedule_decision")])
    decided, announced = await ctx.store.decide_schedule(
        schedule.id, caller.account.id, slot_id, text, caller.zone, caller.session.id,
        ctx.now(), audit=lambda r: Audit("schedule.decided", caller.account.id, schedule_id, {
            "room_id": room.id, "message_id": schedule.message_id, "slot": slot_id,
            "announcement": r[1].id, "respondents": len(r[0].answers)}))
    ctx.messages_posted += 1
    return Done((decided, announced), events=(
        _updated(decided, room.members, ctx.now(), decided=decided.slot(slot_id).public()
                 if decided.slot(slot_id) else None),
        created_event(room, announced)))
