"""上長承認: a file from LGWAN waits for an approver before internet members get it.

Where it applies (``store.approvals``): files posted by members of a department marked
for approval (or of a department under one), and every LGWAN file posted in a room
marked for it -- in both cases only when the room reaches the internet (a member may
read it there, ``relay.outbound.reaches_internet``).  Such a file is posted with its
pending approval in one transaction (``upload`` asks ``hold_for`` before the body is
read); internet members see the message and 承認待ち, and every content route refuses
them (``policy.files.variant_for``: ``approval_pending``, then ``approval_refused``
for good after a refusal).  LGWAN members have the file as usual.

Who decides: approvers of the sender's department or of a department above it, and
admins; never the sender.  A refusal needs a reason, which LGWAN members see (internet
members see only that it was not approved).  Every request, decision, look at the
file by an approver and change of the settings is audited.  The approvers hear
``approval.requested``; the room (and the approvers) hear ``approval.decided``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from policy.errors import Forbidden
from policy.zones import Zone
from store.approvals import STATUSES, FileApproval
from store.errors import FileNotFound
from store.records import Audit, Message, Room

from relay import errors
from relay.commands import Actor, Caller, Context, Done, Event
from relay.file_views import Download, attachment_view, content_type, reason_text
from relay.outbound import reaches_internet

QUEUE_LIMIT = 200
QUEUE_STATUSES = (*STATUSES, "all")


@dataclass(frozen=True, slots=True)
class Hold:
    """A file about to be posted waits for approval; the sender's department."""

    department_id: str | None


def _lgwan_only(zone: Zone | None) -> None:
    # An approver looks at LGWAN files not yet cleared for the internet: from LGWAN.
    if zone == "internet":
        raise Forbidden("承認は庁内（LGWAN）からのみ行えます / approvals are handled from the "
                        "LGWAN side", code="approval_lgwan_only")


# ------------------------------------------------------------------------- posting


async def hold_for(ctx: Context, caller: Caller, room: Room) -> Hold | None:
    """Whether the file this caller is about to post in ``room`` waits for approval."""
    if caller.zone != "lgwan":
        return None
    held, department = await ctx.store.approval_hold(caller.account.id, room.id)
    if not held or not await reaches_internet(ctx, room.members):
        return None
    return Hold(department)


async def post_held(ctx: Context, hold: Hold, room_id: str, caller: Caller, name: str,
                    size: int, sha: str, client_id: str | None) -> tuple[Message, bool]:
    """The file's message with its pending approval and the audit entry, together."""
    def audit(result: tuple[Message, bool]) -> Audit | None:
        message, created = result
        if not created:
            return None
        att = message.attachments[0]
        return Audit("approval.requested", caller.account.id, att.id,
                     {"file_id": att.id, "room_id": att.room_id, "name": att.name,
                      "sha256": att.sha256, "size": att.size,
                      "department_id": hold.department_id})
    return await ctx.store.post_held_file(
        room_id, caller.account.id, "lgwan", name, size, sha, "", "pending", client_id,
        ctx.now(), caller.session.id, hold.department_id, audit=audit)


async def _deciders(ctx: Context, department_id: str | None) -> tuple[str, ...]:
    """Who hears of a request: its approvers, or the admins when it has none."""
    found = await ctx.store.approvers_of(department_id)
    if not found:
        found = [a.id for a in await ctx.store.list_accounts()
                 if a.kind == "admin" and not a.disabled]
    return tuple(found)


async def requested_events(ctx: Context, message: Message) -> tuple[Event, ...]:
    """``approval.requested`` for the approvers of a file just posted held."""
    got = await ctx.store.approval_of_file(message.attachments[0].id)
    if got is None:
        return ()
    return (Event(await _deciders(ctx, got.department_id),
                  {"type": "approval.requested", "approval": got.public()}),)


# ------------------------------------------------------------------------- deciding


async def _check_decider(ctx: Context, actor: Actor, got: FileApproval) -> None:
    _lgwan_only(actor.zone)
    if actor.account_id is None:
        return  # the operator at the relay host (relayctl)
    if actor.account_id == got.sender:
        raise Forbidden("自分のファイルは承認できません。別の承認者に依頼してください / you cannot "
                        "decide on your own file; ask another approver", code="own_file")
    account = await ctx.store.get_account(actor.account_id)
    if account.kind != "admin" and not await ctx.store.may_approve(account.id, got.department_id):
        raise Forbidden("このファイルを承認する権限がありません / you are not an approver for "
                        "this file", code="not_approver")


def _decided_form(got: FileApproval, view_of: Any) -> Any:
    """``approval.decided`` in each zone's form: the reason stays on LGWAN."""
    def form(zone: Zone) -> dict[str, Any]:
        approval = got.public()
        if zone != "lgwan":
            approval = {k: v for k, v in approval.items() if k not in ("reason", "decided_by")}
        return {"type": "approval.decided", "approval": approval, "file": view_of(zone),
                "room_id": got.room_id, "message_id": got.message_id}
    return form


async def decide(ctx: Context, actor: Actor, approval_id: str, approve: bool,
                 reason: str) -> Done[FileApproval]:
    """Approve, or refuse with a reason; once.  The room and the deciders hear of it."""
    reason = reason_text(reason, "差し戻しの理由", "reason", "refusal_reason_too_long",
                         empty=None if approve else "empty_refusal_reason")
    got = await ctx.store.get_approval(approval_id)
    await _check_decider(ctx, actor, got)
    decided = await ctx.store.decide_approval(
        approval_id, actor.account_id, approve, reason, ctx.now(),
        audit=lambda r: Audit(f"approval.{r.status}", actor.account_id, r.file_id,
                              {"approval_id": r.id, "file_id": r.file_id, "room_id": r.room_id,
                               "sender": r.sender, "reason": reason}))
    att = await ctx.store.get_attachment(decided.file_id)
    room = await ctx.store.get_room(decided.room_id)
    to = sorted({*room.members, *await _deciders(ctx, decided.department_id)}, key=int)
    form = _decided_form(decided, lambda zone: attachment_view(att, zone, ctx.cfg.policy))
    return Done(decided, events=(Event(tuple(to), form),))


# ------------------------------------------------------------------------- the queue


async def _scope(ctx: Context, caller: Caller) -> list[str] | None:
    """The departments whose files the caller decides (None: all, an admin)."""
    _lgwan_only(caller.zone)
    if caller.account.kind == "admin":
        return None
    return await ctx.store.approver_departments(caller.account.id)


async def queue(ctx: Context, caller: Caller, status: str | None) -> dict[str, Any]:
    """The caller's queue as approver (``approver`` false: they decide nothing)."""
    status = status or "pending"
    if status not in QUEUE_STATUSES:
        raise errors.invalid_field("status", " or ".join(QUEUE_STATUSES))
    scope = await _scope(ctx, caller)
    found = await ctx.store.approval_queue(scope, None if status == "all" else status,
                                           QUEUE_LIMIT)
    return {"approver": scope is None or bool(scope),
            "approvals": [a.public() for a in found]}


async def operator_queue(ctx: Context, status: str | None) -> list[FileApproval]:
    """Every approval (relayctl), newest first."""
    status = status or "pending"
    if status not in QUEUE_STATUSES:
        raise errors.invalid_field("status", " or ".join(QUEUE_STATUSES))
    return await ctx.store.approval_queue(None, None if status == "all" else status,
                                          QUEUE_LIMIT)


async def content(ctx: Context, caller: Caller, approval_id: str) -> Download:
    """The file as posted, for one who may decide on it (audited: approval.viewed)."""
    got = await ctx.store.get_approval(approval_id)
    await _check_decider(ctx, caller.actor, got)
    att = await ctx.store.get_attachment(got.file_id)
    try:  # a held file is from LGWAN: in the blob store, as posted
        chunks = await ctx.store.open_download(att.sha256, False)
    except FileNotFound:
        raise errors.file_purged(att.id) from None
    download = Download(att.name, content_type(att.kind, True), att.size, chunks)
    await ctx.store.record(Audit("approval.viewed", caller.account.id, att.id,
                                 {"approval_id": got.id, "file_id": att.id,
                                  "sha256": att.sha256}), ctx.now())
    return download


# ------------------------------------------------------------------------- settings


def _setting_audit(actor: Actor, what: str) -> Any:
    return lambda r: Audit(f"approval.{what}", actor.account_id, None, dict(r))


async def set_department(ctx: Context, actor: Actor, department: str,
                         on: bool) -> Done[dict[str, Any]]:
    """Files posted by members of the department (and those under it) wait, or not."""
    return Done(await ctx.store.set_department_approval(
        department, on, ctx.now(), audit=_setting_audit(actor, "department_set")))


async def set_room(ctx: Context, actor: Actor, room_id: str, on: bool) -> Done[dict[str, Any]]:
    """Every LGWAN file posted in the room waits, or not."""
    return Done(await ctx.store.set_room_approval(
        room_id, on, ctx.now(), audit=_setting_audit(actor, "room_set")))


async def set_approver(ctx: Context, actor: Actor, department: str, account_id: str,
                       on: bool) -> Done[dict[str, Any]]:
    """The account approves for the department (and those under it), or no longer."""
    account = await ctx.store.get_account(account_id)
    if on and (account.kind == "external" or account.disabled):
        raise Forbidden("庁外のアカウントや無効なアカウントは承認者にできません / an external or "
                        "disabled account cannot approve", code="not_approver")
    return Done(await ctx.store.set_approver(
        department, account.id, on, ctx.now(), audit=_setting_audit(actor, "approver_set")))
