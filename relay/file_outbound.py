"""The 個人番号 check of files leaving LGWAN, as the disarm jobs run it.

A file posted on LGWAN is kept as posted.  When its room reaches the internet (a member
may read it from there) and ``policy.my_number_outbound`` is not ``allow``, a worker
reads its text and answers with the masked 個人番号 found (``sanitize.extract``: the
text itself never comes back into relayd); otherwise a worker only detects its kind.
The finding is kept on the attachment (``report.outbound``) and decided per viewer at
each request (``policy.files.variant_for``): LGWAN members always get the file, and
internet members -- also those added later -- do not while a hit holds it.  A file
whose text cannot be read within the workers' limits is held like a hit
(``file_not_checked``).  A finding is audited (``outbound.block`` or
``outbound.warn``, ``in: "file"``, the masked numbers) in the transaction that records
the attachment's outcome.

A file not checked when it was posted (its room was LGWAN-only then) is checked when an
internet member first asks for it: it shows as ``pending`` to them meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterator

from policy import files as file_policy
from sanitize.pool import WorkerPool
from store.records import Attachment, Audit

from relay.commands import Context
from relay.disarm import detect_kind, scan_text
from relay.outbound import reaches_internet


def unchecked(att: Attachment, ctx: Context) -> bool:
    """A ready LGWAN file that internet members wait for: its text was never checked."""
    return (att.origin_zone == "lgwan" and att.status == "ready"
            and ctx.cfg.policy.my_number_outbound != "allow"
            and not isinstance(att.report.get("outbound"), dict))


async def finish_lgwan_file(ctx: Context, pool: WorkerPool, att: Attachment,
                            chunks: Iterator[bytes]) -> Attachment:
    """Detect the kind of an LGWAN file, and check its text when it may leave; record
    the outcome (and its audit entry, when the check found something) in one write."""
    policy = ctx.cfg.policy
    room = await ctx.store.get_room(att.room_id)
    if policy.my_number_outbound == "allow" or not await reaches_internet(ctx, room.members):
        kind = await detect_kind(pool, chunks, att.name)
        return await ctx.store.finish_attachment(
            att.id, "ready", {"removed": [], "kind": kind}, None, None, None,
            kind=kind, audit=None, now=ctx.now())
    # Only kinds that may leave at all are read: the rest are refused by kind anyway.
    scan = await scan_text(pool, chunks, att.name, policy.outbound_kinds)
    report: dict[str, object] = {"removed": [], "kind": scan.kind}
    audit = None
    if scan.outcome != "skipped":
        report["outbound"] = file_policy.outbound_record(scan.outcome, len(scan.found), policy)
    if scan.outcome in ("found", "unreadable"):
        sender = (await ctx.store.get_message(att.message_id)).sender
        data: dict[str, object] = {
            "in": "file", "file_id": att.id, "room_id": att.room_id, "kind": scan.kind,
            "my_number": list(scan.found),
            "reason": "my_number_in_file" if scan.outcome == "found" else "file_not_checked"}
        if scan.detail:
            data["detail"] = scan.detail
        audit = Audit(f"outbound.{policy.my_number_outbound}", sender, att.id, data)
    return await ctx.store.finish_attachment(
        att.id, "ready", report, None, None, None, kind=scan.kind, audit=audit,
        now=ctx.now())
