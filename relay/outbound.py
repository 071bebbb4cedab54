"""The check on text that leaves LGWAN (個人番号): a message body, a file name, a room
name, a display name, a room's history when it first reaches the internet.

What an internet member can read is scanned (``policy.text.scan_outbound``: however the
digits are spelled) when someone on LGWAN writes it; what is found is audited masked
and, as ``policy.my_number_outbound`` says, warned about or refused.
"""

from __future__ import annotations

from policy import access, text
from store.records import Audit, Room

from relay.commands import Caller, Context


async def check_outbound(ctx: Context, caller: Caller, room: Room, value: str,
                         where: str) -> None:
    """Text leaving LGWAN (a message body, a file name): a 個人番号 in it is audited
    and warned about or refused as policy says, when an internet member can read
    the room."""
    if caller.zone == "lgwan":
        await check_text_out(ctx, caller.account.id, room.members, room.id, value, where)


async def check_text_out(ctx: Context, actor_id: str | None, readers: tuple[str, ...],
                         subject: str | None, value: str, where: str) -> None:
    """The 個人番号 check on any text that ``readers`` will see (a room name, a display
    name, a message), when one of them may read it from the internet."""
    outbound = text.scan_outbound(value, ctx.cfg.policy)
    if outbound.verdict != "allow" and await reaches_internet(ctx, readers):
        await enforce_outbound(ctx, actor_id, subject, outbound, where)


async def enforce_outbound(ctx: Context, actor_id: str | None, subject: str | None,
                           outbound: text.Outbound, where: str) -> None:
    """Audit what the check found (masked) and refuse it when policy blocks."""
    await ctx.store.record(Audit(f"outbound.{outbound.verdict}", actor_id, subject,
                                 {"my_number": list(outbound.masked), "in": where}), ctx.now())
    outbound.enforce()


async def reaches_internet(ctx: Context, account_ids: tuple[str, ...]) -> bool:
    """Whether any of these accounts may read from the internet zone.  Only asked
    when a check found something, so the per-member look-ups are rare."""
    for member_id in account_ids:
        member = await ctx.store.get_account(member_id)
        if access.may_use_zone(member.kind, "internet"):
            return True
    return False


async def check_display_name(ctx: Context, actor_id: str | None, name: str) -> None:
    """A display name is seen by everyone who shares a room with the account, on both
    sides: it gets the check a message would, wherever it reaches."""
    outbound = text.scan_outbound(name, ctx.cfg.policy)
    if outbound.verdict != "allow":
        await enforce_outbound(ctx, actor_id, None, outbound, "display_name")


async def check_history_out(ctx: Context, actor_id: str | None, members: tuple[str, ...],
                            room_id: str, account_id: str) -> None:
    """A new member reads the whole history.  When the room reaches the internet for
    the first time through them, what was said while it was LGWAN-only gets the check
    it never had: a 個人番号 in it refuses the addition (or is audited, under ``warn``)
    until those messages are deleted (docs/SECURITY.md)."""
    if (ctx.cfg.policy.my_number_outbound == "allow"
            or await reaches_internet(ctx, members)
            or not await reaches_internet(ctx, (account_id,))):
        return
    found: list[str] = []
    # The texts of notes and phone memos are read by the new member too.
    for body in [*await ctx.store.room_bodies(room_id), *await ctx.store.room_texts(room_id)]:
        found += text.scan_outbound(body, ctx.cfg.policy).masked
    if found:
        outbound = text.Outbound(ctx.cfg.policy.my_number_outbound, tuple(dict.fromkeys(found)))
        await enforce_outbound(ctx, actor_id, room_id, outbound, "history")
