"""What the commands of polls, schedule adjustments and roll calls share: the checks
before a create once the caller's room is checked (a valid ``client_id``, the send
rate limit, the 個人番号 check of every text an internet member will read), finding
the room of something to answer without telling a non-member it exists (tasks, memos
and notes use that too), and the audit entry of a create that an idempotent repeat
does not write twice."""

from __future__ import annotations

from typing import Any, Callable, Iterable

from store.errors import NotFound, RoomNotFound
from store.records import Audit, Message, Room

from relay.commands import Caller, Context, Event
from relay.messages import check_client_id
from relay.rooms import check_room
from relay.work_checks import check_texts_out, take_send


async def check_create(ctx: Context, caller: Caller, room: Room, client_id: str | None,
                       texts: Iterable[tuple[str, str]]) -> None:
    """The checks after ``check_room``: a valid ``client_id``, the send rate limit,
    then the outbound check of ``texts``."""
    check_client_id(client_id)
    take_send(ctx, caller)
    await check_texts_out(ctx, caller, room, texts)


async def room_of(ctx: Context, caller: Caller, room_id: str, missing: NotFound) -> Room:
    """The room of a poll, schedule, roll call, task, memo or note when the caller is a
    member; else ``missing`` (that kind's not-found, as if it did not exist: admins
    included)."""
    try:
        return await check_room(ctx, caller, room_id)
    except RoomNotFound:
        raise missing from None


def created_audit(action: str, caller: Caller,
                  data: Callable[[Message], dict[str, Any]]
                  ) -> Callable[[tuple[Message, bool]], Audit | None]:
    """The entry of a create: written when the message was created, not for a
    repeat of the same ``client_id``."""
    def audit(result: tuple[Message, bool]) -> Audit | None:
        message, created = result
        if not created:
            return None
        return Audit(action, caller.account.id, message.detail.id if message.detail else None,
                     {"room_id": message.room_id, "message_id": message.id, **data(message)})
    return audit


def created_event(room: Room, message: Message) -> Event:
    return Event(room.members, {"type": "message.created", "message": message.public()})
