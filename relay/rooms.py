"""Rooms and direct talks: membership checks, creating a room, adding a member.

A non-member asking for a room gets ``room_not_found``, the same as for a room that
does not exist.  External accounts create rooms only when policy allows it, and then
only with people they already share a room with.
"""

from __future__ import annotations

from typing import Any

from policy import access, text
from policy.errors import Invalid
from store.errors import AccountNotFound, RoomNotFound
from store.records import Audit, Room, RoomKind, RoomSummary

from relay.commands import Actor, Caller, Context, Done, Event
from relay.outbound import check_history_out, check_text_out

MAX_ROOM_MEMBERS = 5000


def room_public(room: Room) -> dict[str, Any]:
    """A new room as it appears in a room list (nothing read, nothing said yet)."""
    return RoomSummary(room, 0, None).public()


async def rooms_of(ctx: Context, caller: Caller) -> list[RoomSummary]:
    return await ctx.store.rooms_for(caller.account.id)


async def check_room(ctx: Context, caller: Caller, room_id: str) -> Room:
    """The room if the caller is a member; room_not_found otherwise, so that a
    non-member cannot tell a room it is not in from one that does not exist."""
    room = await ctx.store.get_room(room_id)
    if caller.account.id not in room.members:
        raise RoomNotFound("room not found", room_id=room_id)
    return room


async def _check_members(ctx: Context, member_ids: tuple[str, ...]) -> None:
    for m in member_ids:
        if (await ctx.store.get_account(m)).disabled:
            raise AccountNotFound("account not found", account_id=m)


async def create_room(ctx: Context, actor: Actor, name: str, kind: RoomKind,
                      member_ids: list[str], creator: Caller | None = None) -> Done[Room]:
    """A room of ``member_ids``; a caller creating it is its first member (and is
    held to its kind's rules), relayctl's first member is recorded as creator."""
    name = text.room_name(name)
    first = [creator.account.id] if creator is not None else []
    members = tuple(dict.fromkeys([*first, *member_ids]))  # ordered, creator first
    if not members:
        raise Invalid("メンバーが必要です / a room needs members", code="invalid_request")
    if len(members) > MAX_ROOM_MEMBERS:
        raise Invalid(f"メンバーは {MAX_ROOM_MEMBERS} 人までです / at most "
                      f"{MAX_ROOM_MEMBERS} members", code="too_many_members")
    if creator is not None:
        kind_of = creator.account.kind
        access.check_create_room(kind_of, kind, len(members), ctx.cfg.policy)
        if kind_of == "external":
            unshared = [m for m in members[1:]
                        if not await ctx.store.shares_room(creator.account.id, m)]
            access.check_external_members(kind_of, unshared)
    await _check_members(ctx, members[1:])
    if creator is None or creator.zone == "lgwan":
        # A room's name is text every member sees, from wherever they read.
        await check_text_out(ctx, actor.account_id, members, None, name, "room_name")
    room = await ctx.store.create_room(
        name, kind, list(members), members[0], ctx.now(),
        audit=lambda r: Audit("room.created", actor.account_id, r.id,
                              {"name": r.name, "kind": r.kind, "members": list(r.members)}))
    return Done(room, events=(Event(room.members, {"type": "room.created",
                                                   "room": room_public(room)}),))


async def add_member(ctx: Context, caller: Caller, room_id: str,
                     account_id: str) -> Done[Room]:
    room = await check_room(ctx, caller, room_id)
    if room.kind == "direct":
        raise Invalid("ダイレクトにはメンバーを追加できません / a direct room cannot get "
                      "more members", code="direct_room")
    kind = caller.account.kind
    access.check_create_room(kind, "group", len(room.members) + 1, ctx.cfg.policy)
    if kind == "external" and not await ctx.store.shares_room(caller.account.id, account_id):
        access.check_external_members(kind, [account_id])
    await _check_members(ctx, (account_id,))
    await check_history_out(ctx, caller.account.id, room.members, room.id, account_id)
    room = await ctx.store.add_member(
        room.id, account_id, now=ctx.now(),
        audit=Audit("room.member_added", caller.account.id, room.id,
                    {"account_id": account_id}))
    return Done(room, events=(Event(room.members, {
        "type": "room.member_added", "room": room_public(room), "account_id": account_id}),))
