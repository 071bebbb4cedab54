"""Files in a room: upload, the attachment view, and downloads of what a zone may have.

``upload`` validates and authorises before a byte of the body is read (membership,
name, rate limit, the 個人番号 check on names leaving LGWAN), streams the body into the
store with a byte cap (internet originals into the encrypted quarantine), commits a
message with a ``pending`` attachment, publishes it and queues the disarm job
(``relay.disarm_jobs``).  Downloads serve the variant ``policy.files.variant_for``
names, streamed from disk.  Handing LGWAN bytes to the internet side is audited
(``file.sent_out``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from policy import files as file_policy
from store.errors import FileNotFound, RoomNotFound
from store.records import Attachment, Audit, Message

from relay import approvals, errors, hours
from relay.commands import Caller, Context, Done
from relay.disarm_jobs import DisarmJobs
from relay.file_views import (Download, attachment_view, content_type, file_name,
                              hold_report, outbound_check)
from relay.messages import check_client_id
from relay.outbound import check_outbound
from relay.rooms import check_room
from relay.web import Body

log = logging.getLogger(__name__)

UPLOAD_WRITE_BYTES = 1024 * 1024  # body gathered before one write (one thread hop)


@dataclass(frozen=True, slots=True)
class NewUpload:
    caller: Caller
    room_id: str
    members: tuple[str, ...]
    name: str
    client_id: str | None
    hold: approvals.Hold | None = None  # 上長承認: the file waits for an approver


async def check_upload(ctx: Context, caller: Caller, room_id: str, raw_name: str | None,
                       client_id: str | None) -> NewUpload:
    """Everything that can refuse an upload, before its body is read."""
    room = await check_room(ctx, caller, room_id)
    name = file_name(raw_name or "")
    check_client_id(client_id)
    wait = ctx.limits.uploads.take(caller.account.id, ctx.now())
    if wait:
        raise errors.rate_limited(wait)
    # A file name is text that leaves LGWAN like a message body does.
    await check_outbound(ctx, caller, room, name, "file_name")
    return NewUpload(caller, room.id, room.members, name, client_id,
                     await approvals.hold_for(ctx, caller, room))


async def upload(ctx: Context, jobs: DisarmJobs, up: NewUpload, body: Body) -> Done[Message]:
    """Stream the body in (capped), commit the message with its pending attachment,
    publish it and queue the disarm job.  Over the cap: 413 and nothing is kept."""
    jobs.check_room_for(up.caller.account.id)  # before a byte of the body is read
    cap = ctx.cfg.http.max_upload_bytes
    zone = up.caller.zone
    quarantined = file_policy.upload_action(zone) == "sanitize"
    async with await ctx.store.open_upload(quarantined, cap) as blob:
        buf = bytearray()
        async for chunk in body.chunks(cap):
            buf += chunk
            if len(buf) >= UPLOAD_WRITE_BYTES:
                await blob.write(bytes(buf))
                buf.clear()
        if buf:
            await blob.write(bytes(buf))
        if blob.size == 0:
            raise errors.empty_file()
        sha, size = await blob.commit()
        # Inside the block: bytes whose message is not recorded (refused, a full disk,
        # a resend of one already there) are deleted, not left unnamed on disk.
        if up.hold is not None:  # with its pending approval, in the same transaction
            message, created = await approvals.post_held(ctx, up.hold, up.room_id, up.caller,
                                                         up.name, size, sha, up.client_id)
        else:
            message, created = await ctx.store.post_file(
                up.room_id, up.caller.account.id, zone, up.name, size, sha, "", "pending",
                up.client_id, ctx.now(), session_id=up.caller.session.id)
        if not created:
            blob.unused()
    if not created:
        return Done(message)
    ctx.messages_posted += 1
    jobs.enqueue(message.attachments[0].id, up.caller.account.id, zone)
    events = await hours.created_events(ctx, up.members, message)
    if up.hold is not None:
        events += await approvals.requested_events(ctx, message)
    return Done(message, events=events)


async def check_file(ctx: Context, caller: Caller, file_id: str) -> Attachment:
    """The attachment if the caller is a member of its room; file_not_found
    otherwise (a stranger cannot tell a file it may not see from none)."""
    att = await ctx.store.get_attachment(file_id)
    try:
        await check_room(ctx, caller, att.room_id)
    except RoomNotFound:
        raise FileNotFound("file not found", file_id=file_id) from None
    return att


async def view(ctx: Context, caller: Caller, file_id: str,
               jobs: DisarmJobs | None = None) -> dict[str, Any]:
    out = attachment_view(att := await check_file(ctx, caller, file_id), caller.zone,
                          ctx.cfg.policy)
    _check_later(att, out["status"], jobs, caller)
    return out


def _check_later(att: Attachment, shown: str, jobs: DisarmJobs | None, caller: Caller) -> None:
    """An LGWAN file that is ready but pending for the caller has not had the
    個人番号 check (its room reached the internet only later): queue it now; the
    members hear ``file.ready`` / ``file.blocked`` when it is done."""
    if jobs is not None and att.status == "ready" and shown == "pending":
        jobs.enqueue(att.id, caller.account.id, att.origin_zone)


async def open_original(ctx: Context, att: Attachment) -> Download:
    """The bytes as posted (an internet original comes out of the quarantine)."""
    chunks = await _open(ctx, att.id, att.sha256, att.origin_zone == "internet")
    # An LGWAN file is what LGWAN staff made; an internet original is untrusted.
    return Download(att.name, content_type(att.kind, att.origin_zone == "lgwan"),
                    att.size, chunks)


async def _open(ctx: Context, file_id: str, sha: str, quarantined: bool) -> Any:
    try:
        return await ctx.store.open_download(sha, quarantined)
    except FileNotFound:
        raise errors.file_purged(file_id) from None


async def content(ctx: Context, caller: Caller, file_id: str,
                  jobs: DisarmJobs | None = None) -> Download:
    """The bytes of the variant the caller's zone may receive."""
    att = await check_file(ctx, caller, file_id)
    variant = file_policy.variant_for(caller.zone, att.origin_zone, att.status, att.kind,
                                      ctx.cfg.policy, outbound=outbound_check(att),
                                      approval=att.approval)
    if isinstance(variant, file_policy.Denied):
        details: dict[str, Any] = {"file_id": att.id}
        _check_later(att, "pending" if variant.code == "file_pending" else "", jobs, caller)
        if variant.reason is not None:
            details.update({k: v for k, v in hold_report(variant.reason).items()
                            if k != "removed"})
        elif variant.code == "file_blocked" and att.report.get("reason"):
            details["reason"] = att.report.get("reason")
            details["message_ja"] = att.report.get("message_ja")
            details["message_en"] = att.report.get("message_en")
        raise errors.file_denied(variant.code, details)
    if variant == "sanitized":
        if att.sanitized_sha256 is None or att.sanitized_size is None:  # cannot happen
            raise errors.file_denied("file_blocked", {"file_id": att.id})
        out_kind = att.report.get("output_kind")
        return Download(att.sanitized_name or att.name,
                        content_type(out_kind if isinstance(out_kind, str) else None, True),
                        att.sanitized_size,
                        await _open(ctx, att.id, att.sanitized_sha256, False))
    download = await open_original(ctx, att)
    if att.origin_zone == "lgwan" and caller.zone == "internet":
        # The other crossing: LGWAN bytes handed to the internet side.
        await ctx.store.record(Audit("file.sent_out", caller.account.id, att.id,
                                     {"file_id": att.id, "room_id": att.room_id,
                                      "sha256": att.sha256, "kind": att.kind,
                                      "size": att.size}), ctx.now())
        log.info("crossing: file %s lgwan->internet sent (file.sent_out)", att.id)
    return download
