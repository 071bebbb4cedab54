"""Files across the boundary (issue 4): upload, disarm, download, originals, retention.

The way of a file (ARCHITECTURE.md "A file's way through"):

1. ``check_upload`` validates and authorises before a byte of the body is read
   (membership, name, rate limit, the 個人番号 check on names leaving LGWAN);
   ``do_upload`` streams the body into the store with a byte cap (internet originals
   into the encrypted quarantine), commits a message with a ``pending`` attachment,
   fans it out at once and queues a disarm job.
2. The job runs in the worker pool (``relay.disarm``, never on the event loop).  For a
   file from the internet zone the verdict decides: the sanitized variant is stored and
   the attachment becomes ``ready``, or it becomes ``blocked``; one ``file.crossed``
   audit entry records both hashes, the kind, the verdict and what was removed.  A file
   from LGWAN is kept as posted; a worker only detects its kind (no disarm), which
   decides whether internet members may have it (``policy.files.outbound_allowed``).
   ``file.ready`` / ``file.blocked`` then go to every member's sessions, each zone
   seeing its own form (an LGWAN file whose kind may not leave is "blocked" for the
   internet side only).
3. Downloads serve the variant ``policy.files.variant_for`` names, streamed from disk.
4. Originals: an LGWAN member asks with a reason, an admin decides, the original is
   released to that requester alone until ``policy.original_release_hours`` pass.

Pending work survives a restart: ``run`` queues every attachment still ``pending``.
A cancelled job leaves its attachment pending, so it is simply done again next time.
"""

from __future__ import annotations

import logging
import math
import sys
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass
from typing import Any, AsyncIterator, BinaryIO, Callable, Iterator

import trio

from policy import files as file_policy
from policy import text
from policy.config import PolicyConfig
from policy.errors import Forbidden, Invalid
from policy.ratelimit import Limiter, Rate
from sanitize.kinds import ALWAYS_BLOCKED, KINDS
from sanitize.pool import PoolClosed, WorkerPool
from sanitize.report import REASONS, Result, Verdict
from store.errors import Corrupt, FileNotFound, RoomNotFound, StoreError
from store.facade import Store
from store.records import Attachment, Message, OriginalRequest, Zone

from relay import errors
from relay.config import Config
from relay.disarm import detect_kind, disarm_to
from relay.hub import Hub
from relay.service import Caller, Service, check_client_id
from relay.web import Body, Response

log = logging.getLogger(__name__)

# Limits, each named once (STYLE.md rule 3).
MAX_NAME_CHARS = 255  # a file name, after normalising (what file systems take)
MAX_REASON_CHARS = 1000  # a request's reason, an admin's note
UPLOAD_WRITE_BYTES = 1024 * 1024  # body gathered before one write (one thread hop)
DOWNLOAD_CHUNK_BYTES = 1024 * 1024
ORIGINAL_CHUNK = 1024 * 1024  # a stored LGWAN original, read into a worker's job file
RETENTION_INTERVAL_S = 3600.0  # how often expired files are purged
REQUEST_LIST_LIMIT = 200
REQUEST_STATUSES = ("pending", "approved", "denied", "all")
LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
OCTET_STREAM = "application/octet-stream"
# Kinds a browser would run if it ever displayed them: an original of these is served
# as plain bytes (the disarmed variants of html/svg are rebuilt and typed as such).
_ACTIVE_IN_BROWSER = frozenset({"html", "svg", "xml"})


# --------------------------------------------------------------------------- pure parts


def file_name(raw: str) -> str:
    """The stored form of a declared file name: normalised like text (no controls, no
    bidi overrides), without any directory part, 1..MAX_NAME_CHARS characters."""
    name = text.normalise(raw).replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name or name in (".", ".."):
        raise Invalid("ファイル名が必要です / a file name is required (?name=)",
                      code="invalid_file_name")
    if len(name) > MAX_NAME_CHARS:
        raise Invalid(f"ファイル名が長すぎます（最大 {MAX_NAME_CHARS} 文字） / file name too "
                      f"long (max {MAX_NAME_CHARS} characters)", code="invalid_file_name",
                      limit=MAX_NAME_CHARS)
    return name


def reason_text(raw: str, what_ja: str, what_en: str, required: bool) -> str:
    out = text.normalise(raw)
    if required and not out:
        raise Invalid(f"{what_ja}を入力してください / a {what_en} is required",
                      code=f"empty_{what_en}")
    if len(out) > MAX_REASON_CHARS:
        raise Invalid(f"{what_ja}が長すぎます（最大 {MAX_REASON_CHARS} 文字） / {what_en} too "
                      f"long (max {MAX_REASON_CHARS} characters)", code=f"{what_en}_too_long")
    return out


def content_disposition(name: str) -> str:
    """``attachment`` with an ASCII fallback and the exact name as RFC 5987
    ``filename*`` (Japanese names survive; quotes and controls cannot break out)."""
    fallback = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\%;' else "_" for c in name)
    quoted = urllib.parse.quote(name, safe="")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quoted}"


def content_type(kind: str | None, disarmed: bool) -> str:
    """The MIME type to serve: the kind's own for known kinds, plain bytes for kinds
    never delivered and for originals a browser would execute."""
    k = KINDS.get(kind or "")
    if k is None or k.name in ALWAYS_BLOCKED or (not disarmed and k.name in _ACTIVE_IN_BROWSER):
        return OCTET_STREAM
    return k.mime


def download_headers(name: str, ctype: str, size: int) -> tuple[tuple[str, str], ...]:
    return (("content-type", ctype), ("content-length", str(size)),
            ("content-disposition", content_disposition(name)),
            ("x-content-type-options", "nosniff"), ("cache-control", "no-store"),
            # Should a browser show it after all, it runs nothing and loads nothing.
            ("content-security-policy", "default-src 'none'; sandbox"))


def _policy_blocked_report() -> dict[str, Any]:
    ja, en = REASONS["policy_blocked"]
    return {"removed": [], "reason": "policy_blocked", "message_ja": ja, "message_en": en}


def attachment_view(att: Attachment, zone: Zone, cfg: PolicyConfig) -> dict[str, Any]:
    """An attachment as a viewer in ``zone`` sees it: API.md's shape, plus ``content``
    (what a download gives this zone: variant, name, size) or None when refused.

    A file from LGWAN whose kind may not leave shows as ``blocked`` (policy_blocked)
    to the internet side; the stored status is the disarm status, which LGWAN sees."""
    view = att.public()
    view["message_id"] = att.message_id
    view["room_id"] = att.room_id
    variant = file_policy.variant_for(zone, att.origin_zone, att.status, att.kind, cfg)
    if isinstance(variant, file_policy.Denied):
        if variant.code == "policy_blocked":
            view["status"] = "blocked"
            view["report"] = _policy_blocked_report()
        view["content"] = None
    elif variant == "sanitized":
        view["content"] = {"variant": "sanitized", "name": att.sanitized_name or att.name,
                           "size": att.sanitized_size}
    else:
        view["content"] = {"variant": "original", "name": att.name, "size": att.size}
    return view


def file_event(att: Attachment, cfg: PolicyConfig) -> Callable[[Zone], dict[str, Any]]:
    """``file.ready`` / ``file.blocked`` in each zone's form (for ``Hub.publish``)."""
    def form(zone: Zone) -> dict[str, Any]:
        view = attachment_view(att, zone, cfg)
        kind = "file.ready" if view["status"] == "ready" else "file.blocked"
        return {"type": kind, "file": view, "message_id": att.message_id,
                "room_id": att.room_id}
    return form


def crossing_record(att: Attachment, result: Result, variant_sha: str | None,
                    variant_size: int | None) -> dict[str, Any]:
    """The audit data of one file crossing from the internet into LGWAN."""
    return {"file_id": att.id, "room_id": att.room_id, "name": att.name,
            "sha256": att.sha256, "size": att.size,
            "sanitized_sha256": variant_sha, "sanitized_size": variant_size,
            "kind": result.kind, "output_kind": result.output_kind,
            "verdict": result.verdict.value, "reason": result.reason,
            "removed": dict(Counter(r.code for r in result.removed)),
            "name_mismatch": result.name_mismatch}


class DisarmMetrics:
    """Counters for /metrics: jobs by verdict and a latency histogram (seconds from
    handing the file to the pool until its verdict)."""

    def __init__(self) -> None:
        self.jobs: dict[str, int] = {v.value: 0 for v in Verdict}
        self.buckets = [0] * len(LATENCY_BUCKETS_S)
        self.count = 0
        self.total_s = 0.0

    def observe(self, verdict: str, seconds: float) -> None:
        self.jobs[verdict] = self.jobs.get(verdict, 0) + 1
        self.count += 1
        self.total_s += seconds
        for i, le in enumerate(LATENCY_BUCKETS_S):
            if seconds <= le:
                self.buckets[i] += 1

    def lines(self, queued: int, running: int) -> list[str]:
        out = ["# TYPE kakehashi_disarm_jobs_total counter",
               *(f'kakehashi_disarm_jobs_total{{verdict="{v}"}} {n}'
                 for v, n in sorted(self.jobs.items())),
               "# TYPE kakehashi_disarm_seconds histogram",
               *(f'kakehashi_disarm_seconds_bucket{{le="{le}"}} {n}'
                 for le, n in zip(LATENCY_BUCKETS_S, self.buckets)),
               f'kakehashi_disarm_seconds_bucket{{le="+Inf"}} {self.count}',
               f"kakehashi_disarm_seconds_sum {self.total_s:.6f}",
               f"kakehashi_disarm_seconds_count {self.count}",
               "# TYPE kakehashi_disarm_queue_depth gauge",
               f"kakehashi_disarm_queue_depth {queued}",
               "# TYPE kakehashi_disarm_running gauge",
               f"kakehashi_disarm_running {running}"]
        return out


# --------------------------------------------------------------------------- plans


@dataclass(frozen=True, slots=True)
class NewUpload:
    caller: Caller
    room_id: str
    members: tuple[str, ...]
    name: str
    client_id: str | None


@dataclass(frozen=True, slots=True)
class Download:
    name: str
    content_type: str
    size: int
    chunks: AsyncIterator[bytes]

    def response(self) -> Response:
        return Response(200, download_headers(self.name, self.content_type, self.size),
                        stream=self.chunks)


# --------------------------------------------------------------------------- originals
# Module functions: relayctl decides requests without a running relay.


async def do_decide(store: Store, cfg: Config, request_id: str, admin_id: str, approve: bool,
                    note: str, now: float) -> OriginalRequest:
    """Approve or deny a request for an original (once) and audit the decision."""
    note = reason_text(note, "メモ", "note", required=False)
    ttl_s = cfg.policy.original_release_hours * 3600.0
    # The store audits the decision in the same transaction.
    return await store.decide_original_request(request_id, admin_id, approve, note, now, ttl_s)


def check_request_status(status: str | None) -> str | None:
    """``?status=`` of the admin list: None lists every request."""
    status = status or "pending"
    if status not in REQUEST_STATUSES:
        raise errors.invalid_field("status", " or ".join(REQUEST_STATUSES))
    return None if status == "all" else status


# --------------------------------------------------------------------------- the service


class FileService:
    """Uploads, downloads, originals and the background work (disarm jobs, retention).

    ``run`` (started by the daemon in its nursery) starts the worker pool unless one was
    given, resumes pending work and serves the job queue until cancelled; ``aclose``
    cancels it and closes a pool it started."""

    def __init__(self, cfg: Config, store: Store, hub: Hub, service: Service,
                 now: Callable[[], float], pool: WorkerPool | None = None) -> None:
        self.cfg = cfg
        self.store = store
        self.hub = hub
        self.service = service
        self.now = now
        self.pool = pool
        self._owns_pool = pool is None
        self.uploads = Limiter(Rate(cfg.auth.upload_burst, cfg.auth.upload_refill_s))
        # Unbounded, but every entry is an upload that passed the per-account limit.
        self._jobs_in, self._jobs_out = trio.open_memory_channel[str](math.inf)
        self._queued: set[str] = set()
        self._running: set[str] = set()
        self._scope: trio.CancelScope | None = None
        self.metrics = DisarmMetrics()

    # ------------------------------------------------------------ background
    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with trio.CancelScope() as scope:
            self._scope = scope
            if self.pool is None:
                # Spawning waits for the workers' "ready": a thread, not the event loop.
                self.pool = await trio.to_thread.run_sync(WorkerPool, self.cfg.sanitize)
            async with trio.open_nursery() as nursery:
                for _ in range(self.pool.size):
                    nursery.start_soon(self._worker)
                nursery.start_soon(self._retention)
                pending = await self.store.pending_attachments()
                for att in pending:
                    self.enqueue(att.id)
                if pending:
                    log.warning("resuming %d pending disarm job(s) (無害化を再開します)",
                                len(pending))
                task_status.started()

    async def aclose(self) -> None:
        if self._scope is not None:
            self._scope.cancel()
        if self._owns_pool and self.pool is not None:
            pool, self.pool = self.pool, None
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(pool.close)

    def enqueue(self, attachment_id: str) -> None:
        if attachment_id in self._queued or attachment_id in self._running:
            return
        self._queued.add(attachment_id)
        self._jobs_in.send_nowait(attachment_id)

    def metric_lines(self) -> list[str]:
        return self.metrics.lines(len(self._queued), len(self._running))

    async def _worker(self) -> None:
        async for attachment_id in self._jobs_out:
            self._queued.discard(attachment_id)
            self._running.add(attachment_id)
            try:
                await self.disarm_attachment(attachment_id)
            except PoolClosed:
                return
            except Exception:  # the attachment stays pending: retried at the next start
                log.exception("disarm job for file %s failed; left pending", attachment_id)
            finally:
                self._running.discard(attachment_id)

    async def _retention(self) -> None:
        while True:
            try:
                purged = await self.store.purge_expired(self.now())
                if purged:
                    log.warning("retention: purged %d file(s) older than %d days "
                                "(保存期間を過ぎたファイルを削除しました)", purged,
                                self.cfg.store.retention_days)
            except StoreError as exc:
                log.error("retention purge failed: %s", exc)
            await trio.sleep(RETENTION_INTERVAL_S)

    # ------------------------------------------------------------ the disarm job
    async def disarm_attachment(self, attachment_id: str) -> Attachment | None:
        """Run one pending attachment through the pool, record and fan out the outcome.
        None if it was no longer pending."""
        att = await self.store.get_attachment(attachment_id)
        if att.status != "pending":
            return None
        assert self.pool is not None, "FileService.run starts the pool"
        # The stored original goes to the worker's job file chunk by chunk, read (and
        # decrypted) on the worker thread: never whole in relayd's memory.
        chunks = self._original_chunks(att)
        try:
            if att.origin_zone == "internet":
                started = time.monotonic()
                # The rebuilt file goes from the worker's job file to the blob store
                # in chunks, on the same thread: never whole in relayd's memory.
                result, variant = await disarm_to(self.pool, chunks, att.name,
                                                  self._store_variant)
                self.metrics.observe(result.verdict.value, time.monotonic() - started)
                report: dict[str, Any] = {**result.report(), "output_kind": result.output_kind}
                done = await self._record_crossing(att, result, variant, report)
            else:
                # From LGWAN the bytes stay as posted: a worker only says what they are
                # (a full disarm would spend the CPU internet files are waiting for).
                kind = await detect_kind(self.pool, chunks, att.name)
                done = await self.store.finish_attachment(
                    att.id, "ready", {"removed": [], "kind": kind}, None, None, None,
                    kind=kind)
        except (FileNotFound, Corrupt) as exc:
            # Fail closed: bytes that are gone or fail their check are never delivered.
            log.error("file %s: stored original unusable: %s", att.id, exc)
            ja, en = REASONS["internal_error"]
            done = await self.store.finish_attachment(
                att.id, "blocked", {"removed": [], "reason": "internal_error",
                                    "message_ja": ja, "message_en": en}, None, None, None)
        await self._publish(done)
        return done

    def _original_chunks(self, att: Attachment) -> Iterator[bytes]:
        if att.origin_zone == "internet":
            yield from self.store.quarantine.chunks(att.sha256)  # each frame checked
            return
        with self.store.blobs.open(att.sha256) as f:
            while chunk := f.read(ORIGINAL_CHUNK):
                yield chunk

    def _store_variant(self, chunks: Iterator[bytes]) -> tuple[str, int]:
        with self.store.blobs.writer(sys.maxsize) as w:  # the pool caps outputs
            for chunk in chunks:
                w.write(chunk)
            return w.commit()

    async def _record_crossing(self, att: Attachment, result: Result,
                               variant: tuple[str, int] | None,
                               report: dict[str, Any]) -> Attachment:
        variant_sha, variant_size = variant if variant is not None else (None, None)
        status = "ready" if variant_sha is not None else "blocked"
        sender = (await self.store.get_message(att.message_id)).sender
        # Audit first: a crash between the two leaves the file pending, so it is done
        # (and audited) again after the restart; never a crossing without its entry.
        await self.store.audit("file.crossed", sender, att.id,
                               crossing_record(att, result, variant_sha, variant_size),
                               self.now())
        return await self.store.finish_attachment(att.id, status, report, variant_sha,
                                                  variant_size, result.output_name,
                                                  kind=result.kind)

    async def _publish(self, att: Attachment) -> None:
        # The room as it is now: members added while the job ran hear of it too.
        room = await self.store.get_room(att.room_id)
        self.hub.publish(room.members, file_event(att, self.cfg.policy))

    # ------------------------------------------------------------ upload
    async def check_upload(self, caller: Caller, room_id: str, raw_name: str | None,
                           client_id: str | None) -> NewUpload:
        """Everything that can refuse an upload, before its body is read."""
        room = await self.service.check_room(caller, room_id)
        name = file_name(raw_name or "")
        check_client_id(client_id)
        wait = self.uploads.take(caller.account.id, self.now())
        if wait:
            raise errors.rate_limited(wait)
        # A file name is text that leaves LGWAN like a message body does.
        await self.service.check_outbound(caller, room, name, "file_name")
        return NewUpload(caller, room.id, room.members, name, client_id)

    async def do_upload(self, up: NewUpload, body: Body) -> Message:
        """Stream the body in (capped), commit the message with its pending attachment,
        fan it out and queue the disarm job.  Over the cap: 413 and nothing is kept."""
        cap = self.cfg.http.max_upload_bytes
        zone = up.caller.zone
        quarantined = file_policy.upload_action(zone) == "sanitize"
        async with await self.store.open_upload(quarantined, cap) as blob:
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
        message, created = await self.store.post_file(
            up.room_id, up.caller.account.id, zone, up.name, size, sha, "", "pending",
            up.client_id, self.now())
        if created:
            self.service.messages_posted += 1
            self.hub.publish(up.members, {"type": "message.created", "message": message.public()})
            self.enqueue(message.attachments[0].id)
        return message

    # ------------------------------------------------------------ download
    async def check_file(self, caller: Caller, file_id: str) -> Attachment:
        """The attachment if the caller is a member of its room; file_not_found
        otherwise (a stranger cannot tell a file it may not see from none)."""
        att = await self.store.get_attachment(file_id)
        try:
            await self.service.check_room(caller, att.room_id)
        except RoomNotFound:
            raise FileNotFound("file not found", file_id=file_id) from None
        return att

    async def view(self, caller: Caller, file_id: str) -> dict[str, Any]:
        return attachment_view(await self.check_file(caller, file_id), caller.zone,
                               self.cfg.policy)

    async def content(self, caller: Caller, file_id: str) -> Download:
        """The bytes of the variant the caller's zone may receive."""
        att = await self.check_file(caller, file_id)
        variant = file_policy.variant_for(caller.zone, att.origin_zone, att.status, att.kind,
                                          self.cfg.policy)
        if isinstance(variant, file_policy.Denied):
            details: dict[str, Any] = {"file_id": att.id}
            if variant.code == "file_blocked" and att.report.get("reason"):
                details["reason"] = att.report.get("reason")
                details["message_ja"] = att.report.get("message_ja")
                details["message_en"] = att.report.get("message_en")
            raise errors.file_denied(variant.code, variant.status, details)
        if variant == "sanitized":
            if att.sanitized_sha256 is None or att.sanitized_size is None:  # cannot happen
                raise errors.file_denied("file_blocked", 403, {"file_id": att.id})
            out_kind = att.report.get("output_kind")
            return Download(att.sanitized_name or att.name,
                            content_type(out_kind if isinstance(out_kind, str) else None, True),
                            att.sanitized_size,
                            await self._open_blob(att.id, att.sanitized_sha256))
        download = await self._original(att)
        if att.origin_zone == "lgwan" and caller.zone == "internet":
            # The other crossing: LGWAN bytes handed to the internet side.
            await self.store.audit("file.sent_out", caller.account.id, att.id,
                                   {"file_id": att.id, "room_id": att.room_id,
                                    "sha256": att.sha256, "kind": att.kind,
                                    "size": att.size}, self.now())
        return download

    async def _original(self, att: Attachment) -> Download:
        if att.origin_zone == "internet":
            chunks = await self._open_quarantined(att.id, att.sha256)
        else:
            chunks = await self._open_blob(att.id, att.sha256)
        # An LGWAN file is what LGWAN staff made; an internet original is untrusted.
        return Download(att.name, content_type(att.kind, att.origin_zone == "lgwan"),
                        att.size, chunks)

    async def _open_blob(self, file_id: str, sha: str) -> AsyncIterator[bytes]:
        try:
            f = await trio.to_thread.run_sync(self.store.blobs.open, sha)
        except FileNotFound:
            raise errors.file_purged(file_id) from None
        return _read_file(f)

    async def _open_quarantined(self, file_id: str, sha: str) -> AsyncIterator[bytes]:
        if not await trio.to_thread.run_sync(self.store.quarantine.exists, sha):
            raise errors.file_purged(file_id)
        return _iterate(self.store.quarantine.chunks(sha))

    # ------------------------------------------------------------ originals
    async def request_original(self, caller: Caller, file_id: str,
                               reason: str) -> OriginalRequest:
        if caller.zone != "lgwan":
            raise Forbidden("原本の申請は庁内（LGWAN）からのみできます / originals are requested "
                            "from the LGWAN side", code="lgwan_only")
        att = await self.check_file(caller, file_id)
        if att.origin_zone != "internet":
            raise Invalid("このファイルは無害化の対象ではありません（原本をそのまま受け取れます） / "
                          "this file was not disarmed; its original is what you receive",
                          code="not_quarantined")
        reason = reason_text(reason, "申請理由", "reason", required=True)
        now = self.now()
        req = await self.store.request_original(att.id, caller.account.id, reason, now)
        await self.store.audit("original.requested", caller.account.id, att.id,
                               {"request_id": req.id, "reason": reason, "sha256": att.sha256,
                                "kind": att.kind}, now)
        return req

    async def decide(self, caller: Caller, request_id: str, approve: bool,
                     note: str) -> OriginalRequest:
        self.service.check_admin(caller)
        req = await do_decide(self.store, self.cfg, request_id, caller.account.id, approve,
                              note, self.now())
        self.hub.publish([req.requester], {"type": "original.decided", "request": req.public()})
        return req

    async def requests(self, caller: Caller, status: str | None) -> list[OriginalRequest]:
        self.service.check_admin(caller)
        return await self.store.original_requests(check_request_status(status),
                                                  REQUEST_LIST_LIMIT)

    async def original(self, caller: Caller, file_id: str) -> Download:
        """The quarantined original, to the requester an admin released it to, until
        the release expires; 403 original_not_released for anyone else."""
        att = await self.check_file(caller, file_id)
        now = self.now()
        if att.origin_zone != "internet" or not await self.store.original_released_to(
                att.id, caller.account.id, now):
            raise errors.original_not_released()
        download = await self._original(att)
        await self.store.audit("original.downloaded", caller.account.id, att.id,
                               {"file_id": att.id, "sha256": att.sha256, "kind": att.kind,
                                "zone": caller.zone}, now)
        return download


async def _read_file(f: BinaryIO) -> AsyncIterator[bytes]:
    try:
        while chunk := await trio.to_thread.run_sync(f.read, DOWNLOAD_CHUNK_BYTES):
            yield chunk
    finally:
        f.close()


async def _iterate(frames: Iterator[bytes]) -> AsyncIterator[bytes]:
    """A blocking iterator (decrypting frames from disk) read on worker threads."""
    try:
        while (chunk := await trio.to_thread.run_sync(next, frames, None)) is not None:
            yield chunk
    finally:
        close = getattr(frames, "close", None)
        if close is not None:
            close()
