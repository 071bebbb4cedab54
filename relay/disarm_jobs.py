"""The background work on files: the disarm queue, its jobs, and retention.

A file from the internet zone is run through the worker pool; its verdict decides:
the sanitized variant is stored and the attachment becomes ``ready``, or it becomes
``blocked``.  The outcome and its ``file.crossed`` audit entry (both hashes, the kind,
the verdict, what was removed) commit in one transaction.  A file from LGWAN is kept
as posted; a worker detects its kind (no disarm), which decides whether internet
members may have it, and reads its text for 個人番号 when it may leave
(``relay.file_outbound``).  ``file.ready`` / ``file.blocked`` go to every member after the
commit, each zone seeing its own form.

Pending work survives a restart: ``run`` queues every attachment still ``pending``.
A cancelled job leaves its attachment pending, so it is simply done again next time.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Iterator

import trio
from prometheus_client import Counter, Histogram

from policy.zones import Zone
from sanitize.pool import PoolClosed, WorkerPool
from sanitize.report import REASONS, Result, Verdict
from store.errors import Corrupt, FileNotFound, StorageFull, StoreError
from store.records import Attachment, Audit

from relay import errors, records
from relay.commands import Context, Done, Event
from relay.disarm import disarm_to
from relay.fairqueue import FairQueue
from relay.file_outbound import finish_lgwan_file, unchecked
from relay.file_views import crossing_record, file_event

log = logging.getLogger(__name__)

RETENTION_INTERVAL_S = 3600.0  # how often expired files and sessions are purged
QUEUE_RETRY_S = 5  # Retry-After of a full disarm queue
STORAGE_RETRY_S = 2.0  # a job a full disk refused runs again this much later
LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class DisarmMetrics:
    """Jobs by verdict and a latency histogram (seconds from handing the file to the
    pool until its verdict).  Not in any registry of their own: relay.metrics collects
    them into the app's."""

    def __init__(self) -> None:
        self.jobs = Counter("kakehashi_disarm_jobs", "Files from the internet disarmed, "
                            "by verdict", ["verdict"], registry=None)
        for v in Verdict:
            self.jobs.labels(v.value)
        self.seconds = Histogram("kakehashi_disarm_seconds", "Seconds from handing a file "
                                 "to the workers to its verdict", buckets=LATENCY_BUCKETS_S,
                                 registry=None)
        self.count = 0

    def observe(self, verdict: str, seconds: float) -> None:
        self.count += 1
        self.jobs.labels(verdict).inc()
        self.seconds.observe(seconds)


class DisarmJobs:
    """``run`` (started by the daemon in its nursery) starts the worker pool unless one
    was given, resumes pending work and serves the queue until cancelled; ``aclose``
    cancels it and closes a pool it started."""

    def __init__(self, ctx: Context, pool: WorkerPool | None = None) -> None:
        self.ctx = ctx
        self.pool = pool
        self._owns_pool = pool is None
        # Fair between zones and uploaders, bounded at upload time (relay.fairqueue).
        a = ctx.cfg.auth
        self._queue: FairQueue[str] = FairQueue(
            pool.size if pool is not None else ctx.cfg.sanitize.workers,
            a.upload_queue_per_account, a.upload_queue_max)
        self._wake = trio.Event()
        self._queued: set[str] = set()
        self._running: set[str] = set()
        self._scope: trio.CancelScope | None = None
        self.metrics = DisarmMetrics()

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with trio.CancelScope() as scope:
            self._scope = scope
            if self.pool is None:
                # Spawning waits for the workers' "ready": a thread, not the event loop.
                self.pool = await trio.to_thread.run_sync(WorkerPool, self.ctx.cfg.sanitize)
            self._queue.workers = self.pool.size
            whole, line = self.pool.sandbox_report()  # a missing layer is a warning
            (log.info if whole else log.warning)(
                "無害化ワーカーの隔離 / disarm worker sandbox: %s", line)
            async with trio.open_nursery() as nursery:
                for _ in range(self.pool.size):
                    nursery.start_soon(self._worker)
                nursery.start_soon(self._retention)
                pending = await self.ctx.store.pending_attachments()
                for att in pending:
                    sender = (await self.ctx.store.get_message(att.message_id)).sender
                    self.enqueue(att.id, sender, att.origin_zone)
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

    def serving(self) -> bool:
        """Whether files can be disarmed now: the pool is up and not closed."""
        return self.pool is not None and not self.pool.closed

    def check_room_for(self, owner: str) -> None:
        """429 ``upload_queue_full`` when this uploader (or everyone) has as many files
        waiting as the queue takes: refused before the body is read, nothing lost."""
        if not self._queue.admits(owner):
            raise errors.error("upload_queue_full", {"retry_after": QUEUE_RETRY_S},
                               (("retry-after", str(QUEUE_RETRY_S)),))

    def enqueue(self, attachment_id: str, owner: str, zone: Zone) -> None:
        if attachment_id in self._queued or attachment_id in self._running:
            return
        self._queued.add(attachment_id)
        self._queue.push(owner, zone, attachment_id)
        self._wake.set()

    async def _next(self) -> tuple[str, str]:
        while (job := self._queue.pop()) is None:
            self._wake = trio.Event() if self._wake.is_set() else self._wake
            await self._wake.wait()
        return job

    def depth(self) -> tuple[int, int]:
        """(files waiting for a worker, files being disarmed), for /metrics."""
        return len(self._queued), len(self._running)

    async def _worker(self) -> None:
        while True:
            owner, attachment_id = await self._next()
            self._queued.discard(attachment_id)
            self._running.add(attachment_id)
            try:
                while True:
                    try:
                        await self.disarm_attachment(attachment_id)
                        break
                    except StorageFull:
                        # The store logs a full disk once; the job waits for space
                        # (its outcome has nowhere to go) and runs again.
                        await trio.sleep(STORAGE_RETRY_S)
            except PoolClosed:
                return
            except Exception:  # the attachment stays pending: retried at the next start
                log.exception("disarm job for file %s failed; left pending", attachment_id)
            finally:
                self._running.discard(attachment_id)
                self._queue.done(owner)
                self._wake.set()  # a worker slot this owner held may be another's now

    async def _retention(self) -> None:
        store = self.ctx.store
        while True:
            try:
                now = self.ctx.now()
                # Per room kind, never below records.minimum_days (relay.records).
                for kind, got in (await records.purge(self.ctx)).items():
                    log.warning("retention: %s rooms: purged %d message(s), %d file(s) "
                                "(保存期間を過ぎた記録を削除しました)", kind,
                                got.get("messages", 0), got.get("files", 0))
                await store.purge_sessions(now)
            except StoreError as exc:
                log.error("retention purge failed: %s", exc)
            await trio.sleep(RETENTION_INTERVAL_S)

    # ------------------------------------------------------------ the job
    async def disarm_attachment(self, attachment_id: str) -> Attachment | None:
        """Run one pending attachment through the pool, record and fan out the outcome.
        None if it was no longer pending."""
        store = self.ctx.store
        att = await store.get_attachment(attachment_id)
        if att.status != "pending" and not unchecked(att, self.ctx):
            return None
        assert self.pool is not None, "DisarmJobs.run starts the pool"
        # The stored original goes to the worker's job file chunk by chunk, read (and
        # decrypted) on the worker thread: never whole in relayd's memory.
        chunks: Iterator[bytes] = store.original_chunks(att.sha256, att.origin_zone == "internet")
        now = self.ctx.now
        try:
            if att.origin_zone == "internet":
                started = time.monotonic()
                # The rebuilt file goes from the worker's job file to the blob store
                # in chunks, on the same thread: never whole in relayd's memory.
                result, variant = await disarm_to(self.pool, chunks, att.name,
                                                  store.store_variant)
                seconds = time.monotonic() - started
                self.metrics.observe(result.verdict.value, seconds)
                done = await self._record_crossing(att, result, variant)
                # No file name here: names are personal data; the id leads to the
                # audit entry that holds it.
                log.info("disarm: file %s verdict=%s kind=%s reason=%s removed=%d %.2f s",
                         att.id, result.verdict.value, result.kind, result.reason or "-",
                         len(result.removed), seconds)
                log.info("crossing: file %s internet->lgwan %s (file.crossed)", att.id,
                         "delivered" if done.status == "ready" else "blocked")
            else:
                # From LGWAN the bytes stay as posted: a worker says what they are
                # and, when they may leave, reads them for 個人番号 (no disarm).
                done = await finish_lgwan_file(self.ctx, self.pool, att, chunks)
        except (FileNotFound, Corrupt) as exc:
            # Fail closed: bytes that are gone or fail their check are never delivered.
            log.error("file %s: stored original unusable: %s", att.id, exc)
            ja, en = REASONS["internal_error"]
            report = {"removed": [], "reason": "internal_error", "message_ja": ja,
                      "message_en": en}
            audit = None
            if att.origin_zone == "internet":
                audit = Audit("file.crossed", None, att.id,
                              {"file_id": att.id, "room_id": att.room_id,
                               "sha256": att.sha256, "verdict": "blocked",
                               "reason": "internal_error"})
            done = await store.finish_attachment(att.id, "blocked", report, None, None, None,
                                                 audit=audit, now=now())
        # The room as it is now: members added while the job ran hear of it too.
        room = await store.get_room(done.room_id)
        self.ctx.apply(Done(done, events=(Event(room.members,
                                                file_event(done, self.ctx.cfg.policy)),)))
        return done

    async def _record_crossing(self, att: Attachment, result: Result,
                               variant: tuple[str, int] | None) -> Attachment:
        """The verdict and its ``file.crossed`` entry, committed together."""
        variant_sha, variant_size = variant if variant is not None else (None, None)
        status = "ready" if variant_sha is not None else "blocked"
        report: dict[str, Any] = {**result.report(), "output_kind": result.output_kind}
        sender = (await self.ctx.store.get_message(att.message_id)).sender
        return await self.ctx.store.finish_attachment(
            att.id, status, report, variant_sha, variant_size, result.output_name,
            kind=result.kind, now=self.ctx.now(),
            audit=Audit("file.crossed", sender, att.id,
                        crossing_record(att, result, variant_sha, variant_size)))
