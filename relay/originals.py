"""Originals (原本): an LGWAN member asks for a quarantined original with a reason, an
admin decides, and the original is released to that requester alone until
``policy.original_release_hours`` pass.

The requester may never decide their own request, even as an admin: a municipality
with one admin creates a second one for this (see docs/OPERATIONS.md).  Every step is
audited with the change it makes; the download of a released original too.
"""

from __future__ import annotations

from policy.errors import Forbidden, Invalid
from store.records import Audit, OriginalRequest

from relay import errors
from relay.commands import Actor, Caller, Context, Done, Event
from relay.file_views import Download, reason_text
from relay.files import check_file, open_original

REQUEST_LIST_LIMIT = 200
REQUEST_STATUSES = ("pending", "approved", "denied", "all")


def check_request_status(status: str | None) -> str | None:
    """``?status=`` of the admin list: None lists every request."""
    status = status or "pending"
    if status not in REQUEST_STATUSES:
        raise errors.invalid_field("status", " or ".join(REQUEST_STATUSES))
    return None if status == "all" else status


async def request(ctx: Context, caller: Caller, file_id: str,
                  reason: str) -> Done[OriginalRequest]:
    if caller.zone != "lgwan":
        raise Forbidden("原本の申請は庁内（LGWAN）からのみできます / originals are requested "
                        "from the LGWAN side", code="lgwan_only")
    att = await check_file(ctx, caller, file_id)
    if att.origin_zone != "internet":
        raise Invalid("このファイルは無害化の対象ではありません（原本をそのまま受け取れます） / "
                      "this file was not disarmed; its original is what you receive",
                      code="not_quarantined")
    reason = reason_text(reason, "申請理由", "reason", "reason_too_long", empty="empty_reason")
    req = await ctx.store.request_original(
        att.id, caller.account.id, reason, ctx.now(),
        audit=lambda r: Audit("original.requested", caller.account.id, att.id,
                              {"request_id": r.id, "reason": reason, "sha256": att.sha256,
                               "kind": att.kind}))
    return Done(req)


async def decide(ctx: Context, actor: Actor, request_id: str, approve: bool,
                 note: str) -> Done[OriginalRequest]:
    """Approve or deny a request (once); the requester hears of it on the stream."""
    note = reason_text(note, "メモ", "note", "note_too_long")
    pending = await ctx.store.get_original_request(request_id)
    if pending.requester == actor.account_id:
        raise Forbidden("自分の申請は承認・却下できません。別の管理者に依頼してください / "
                        "you cannot decide your own request; ask another administrator",
                        code="own_request")
    ttl_s = ctx.cfg.policy.original_release_hours * 3600.0
    req = await ctx.store.decide_original_request(
        request_id, actor.account_id or "", approve, note, ctx.now(), ttl_s=ttl_s,
        audit=lambda r: Audit(f"original.{r.status}", actor.account_id, r.file_id,
                              {"request_id": r.id, "requester": r.requester, "note": note,
                               "expires_at": r.expires_at}))
    return Done(req, events=(Event((req.requester,), {"type": "original.decided",
                                                      "request": req.public()}),))


async def requests(ctx: Context, status: str | None) -> list[OriginalRequest]:
    return await ctx.store.original_requests(check_request_status(status), REQUEST_LIST_LIMIT)


async def download(ctx: Context, caller: Caller, file_id: str) -> Download:
    """The quarantined original, to the requester an admin released it to, until
    the release expires; 403 original_not_released for anyone else."""
    att = await check_file(ctx, caller, file_id)
    now = ctx.now()
    if att.origin_zone != "internet" or not await ctx.store.original_released_to(
            att.id, caller.account.id, now):
        raise errors.original_not_released()
    got = await open_original(ctx, att)
    await ctx.store.record(Audit("original.downloaded", caller.account.id, att.id,
                                 {"file_id": att.id, "sha256": att.sha256, "kind": att.kind,
                                  "zone": caller.zone}), now)
    return got
