"""The store's async face for records (公文書): the retention purge per room kind, a
room's history and the audit log for a disclosure request, and the usage report.
Methods ``Store`` inherits (``store.facade`` holds the plumbing they use)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, TypeVar

import sqlite_utils
import trio

from store import audit as audit_log, records_export, retention, usage

if TYPE_CHECKING:
    from store.blobs import BlobStore, Quarantine

T = TypeVar("T")
# Messages (and files) per room kind purged in one transaction: a first purge of years
# of history goes in many short transactions, never one that holds the writer long.
PURGE_BATCH = 2000


def _purge_and_audit_txn(db: sqlite_utils.Database, key: bytes,
                         plan: dict[str, tuple[int, int]], floor_days: int, now: float,
                         limit: int) -> tuple[dict[str, Any], list[str], list[str], bool]:
    counts, blobs, originals, more = retention.purge_txn(db, plan, floor_days, now, limit)
    if counts:
        audit_log.append_txn(db, key, "records.purged", None, None,
                             {"rooms": counts, "minimum_days": floor_days}, now)
    return counts, blobs, originals, more


class RecordsStore:
    """Mixed into ``store.facade.Store``."""

    if TYPE_CHECKING:
        _audit_key: bytes
        blobs: BlobStore
        quarantine: Quarantine

        async def _write(self, fn: Callable[..., T], *args: Any) -> T: ...
        async def _read(self, fn: Callable[..., T], *args: Any) -> T: ...

    async def purge_records(self, plan: dict[str, tuple[int, int]], floor_days: int,
                            now: float, batch: int = PURGE_BATCH) -> dict[str, dict[str, int]]:
        """Retention: per room kind, empty messages older than its message days and
        remove file contents older than its file days (0: keep), in batches of one
        transaction each with its ``records.purged`` entry; file bytes go after the
        COMMIT that marked them.  Returns the counts summed per room kind."""
        total: dict[str, dict[str, int]] = {}
        while True:
            counts, blobs, originals, more = await self._write(
                _purge_and_audit_txn, self._audit_key, plan, floor_days, now, batch)
            for kind, got in counts.items():
                into = total.setdefault(kind, {})
                for k, v in got.items():
                    into[k] = v if k.endswith("_days") else into.get(k, 0) + v

            def unlink() -> None:
                for sha in blobs:
                    self.blobs.delete(sha)
                for sha in originals:
                    self.quarantine.delete(sha)
            await trio.to_thread.run_sync(unlink)
            if not more:
                return total

    async def room_history(self, room_id: str, start: str, end: str) -> dict[str, Any]:
        """A room's messages written in [start, end) with everything a disclosure
        shows (store.records_export).  RoomNotFound."""
        return await self._read(records_export.room_history, room_id, start, end)

    async def audit_range(self, start: str, end: str) -> list[dict[str, Any]]:
        """The audit entries of [start, end) with their chain MACs."""
        return await self._read(records_export.audit_range, start, end)

    async def usage_report(self, start: str, end: str, start_ts: float,
                           end_ts: float) -> dict[str, Any]:
        """The usage report of [start, end) (store.usage)."""
        return await self._read(usage.usage, start, end, start_ts, end_ts)
