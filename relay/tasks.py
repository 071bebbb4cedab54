"""Tasks (タスク): a member gives a room's members something to do, with a due date;
the assignees (or the one who made it) change it and mark it done; each person sees
their open tasks across their rooms.

A task is the object of a message of kind ``task`` that mentions its assignees.  Only
members of the room see or change it (anyone else, admins included, gets
``task_not_found``); external members use it like anyone else in their rooms.  The
creation (``task.created``) and every change (``task.updated``) commit with their
audit entry, which names what changed but never the title's text.  A title written
from LGWAN gets the 個人番号 check of a message.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from store.records import Audit, Message
from store.tasks import TaskChange
from store.work_objects import TaskNotFound
from store.work_records import Task

from relay import errors
from relay.answering import room_of
from relay.commands import Caller, Context, Done, Event
from relay.messages import check_client_id
from relay.rooms import check_room
from relay.work_checks import check_texts, parse_when, take_send, title as check_title

MAX_ASSIGNEES = 100
# A due date may be this far ahead (and as far back as 2000: a task entered late).
DUE_AHEAD = timedelta(days=10 * 366)
LIST_DEFAULT_LIMIT = 100
LIST_MAX_LIMIT = 500


def parse_due(raw: Any, now: float) -> tuple[str, float]:
    return parse_when(raw, "due", now, DUE_AHEAD, None, date_ok=True)


async def visible_task(ctx: Context, caller: Caller, task_id: str) -> Task:
    """The task if the caller is a member of its room and its message is still there;
    ``task_not_found`` otherwise (a stranger cannot tell it from none)."""
    task = await ctx.store.get_task(task_id)
    await room_of(ctx, caller, task.room_id, TaskNotFound("task not found", task_id=task_id))
    if (await ctx.store.get_message(task.message_id)).deleted:
        raise TaskNotFound("task not found", task_id=task_id)
    return task


def _not_members(assignees: tuple[str, ...], members: tuple[str, ...]) -> None:
    for i, account in enumerate(assignees):
        if account not in members:
            raise errors.error("not_in_room", {"field": f"assignees[{i}]",
                                               "account_id": account})


async def create(ctx: Context, caller: Caller, room_id: str, title: str,
                 assignees: tuple[str, ...], due: Any, client_id: str | None) -> Done[Message]:
    """The message of kind ``task``; a repeat of its ``client_id`` answers the first."""
    room = await check_room(ctx, caller, room_id)
    check_client_id(client_id)
    title = check_title(title)
    if not assignees:
        raise errors.invalid_field("assignees", "a list of 1 or more member ids", "empty")
    _not_members(assignees, room.members)
    due_at, due_ts = parse_due(due, ctx.now()) if due is not None else (None, None)
    take_send(ctx, caller)
    await check_texts(ctx, caller, room, {"task_title": title})

    def audit(result: tuple[Message, bool]) -> Audit | None:
        message, created = result
        if not created:
            return None
        return Audit("task.created", caller.account.id, message.detail.id, {
            "room_id": room.id, "message_id": message.id, "assignees": list(assignees),
            "due": due_at, "title_length": len(title)})
    message, created = await ctx.store.create_task(
        room.id, caller.account.id, caller.zone, client_id, ctx.now(), caller.session.id,
        title, assignees, due_at, due_ts, audit=audit)
    if not created:
        return Done(message)
    ctx.messages_posted += 1
    return Done(message, events=(Event(room.members, {"type": "message.created",
                                                      "message": message.public()}),))


def _changes(task: Task, change: TaskChange) -> TaskChange:
    """Only what differs from the task as it is."""
    return TaskChange(
        title=change.title if change.title not in (None, task.title) else None,
        set_due=change.set_due and change.due != task.due, due=change.due, due_ts=change.due_ts,
        assignees=(change.assignees if change.assignees is not None
                   and tuple(sorted(change.assignees, key=int)) != task.assignees else None),
        done=change.done if change.done is not None and change.done != task.done else None)


async def update(ctx: Context, caller: Caller, task_id: str, change: TaskChange) -> Done[Task]:
    """Change a task: its creator or one of its assignees.  What is already so changes
    nothing (no audit entry, no event)."""
    task = await visible_task(ctx, caller, task_id)
    me = caller.account.id
    if me != task.created_by and me not in task.assignees:
        raise errors.error("not_assigned", {"task_id": task.id})
    room = await ctx.store.get_room(task.room_id)
    if change.title is not None:
        change = dataclasses.replace(change, title=check_title(change.title))
    if change.assignees is not None:
        if not change.assignees:
            raise errors.invalid_field("assignees", "a list of 1 or more member ids", "empty")
        _not_members(change.assignees, room.members)
    change = _changes(task, change)
    if change == TaskChange():
        return Done(task)
    take_send(ctx, caller)
    await check_texts(ctx, caller, room, {"task_title": change.title})

    def audit(result: tuple[Task, Task, Message]) -> Audit:
        before, after, _ = result
        data: dict[str, Any] = {"room_id": room.id, "message_id": task.message_id}
        if change.done is not None:
            data["done"] = {"from": before.done, "to": after.done}
        if change.title is not None:
            data["title_length"] = {"from": len(before.title), "to": len(after.title)}
        if change.set_due:
            data["due"] = {"from": before.due, "to": after.due}
        if change.assignees is not None:
            data["assignees"] = {"from": list(before.assignees), "to": list(after.assignees)}
        return Audit("task.updated", me, task.id, data)
    _, after, message = await ctx.store.update_task(task.id, me, change, ctx.now(),
                                                    audit=audit)
    return Done(after, events=(Event(room.members, {
        "type": "task.updated", "room_id": room.id, "message_id": message.id,
        "task": after.public()}),))


async def listing(ctx: Context, caller: Caller, assignee: str, done: bool | None,
                  room_id: str | None, limit: int) -> list[Task]:
    """Tasks of the caller's rooms: assigned to them (``assignee="me"``) or all
    (``"any"``), soonest due first."""
    if room_id is not None:
        await check_room(ctx, caller, room_id)
    return await ctx.store.list_tasks(caller.account.id, assignee == "me", done, room_id,
                                      limit)
