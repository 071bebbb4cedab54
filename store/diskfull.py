"""A full state directory: telling it apart from other failures, and logging it once.

``is_full(exc)`` says whether an error means the file system has no room (SQLite's
SQLITE_FULL, ENOSPC, EDQUOT); ``full_error(exc)`` is the ``StorageFull`` the callers
get for it.  The writer thread and the blob store call ``EPISODE.refused(...)`` for
each write a full disk refused and ``EPISODE.written()`` after each write that went
through.

Under load a full disk refuses hundreds of writes a second: logging each would bury
the log (and the log may be on the same file system).  So an *episode* logs one ERROR
when it starts, one ERROR summary every ``SUMMARY_S`` while writes are still refused,
and one WARNING when writes go through again.  A write that succeeds less than
``QUIET_S`` after a refusal does not end the episode: a nearly full disk lets some
small writes through between refusals, and that is still the same episode.
"""

from __future__ import annotations

import errno
import logging
import sqlite3
import threading
import time
from typing import Callable

from store.errors import StorageFull

log = logging.getLogger("store")

SUMMARY_S = 30.0
QUIET_S = 1.0
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_full(exc: BaseException) -> bool:
    if isinstance(exc, StorageFull):
        return True
    if isinstance(exc, sqlite3.Error):
        return (getattr(exc, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_FULL
    return isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS


def full_error(exc: BaseException) -> StorageFull:
    err = StorageFull(f"保存領域がいっぱいです / storage is full: {exc}")
    err.__cause__ = exc
    return err


class Episode:
    """The state of one file system's fullness, for the log (thread-safe)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._started: float | None = None  # None: no episode
        self._last_refusal = 0.0
        self._last_summary = 0.0
        self._refused = 0           # in the whole episode
        self._since_summary = 0

    @property
    def active(self) -> bool:
        return self._started is not None

    @property
    def refused_total(self) -> int:
        """Writes refused in the current (or last) episode, for /metrics and tests."""
        return self._refused

    def refused(self, what: str, exc: BaseException, count: int = 1) -> None:
        now = self._clock()
        with self._lock:
            self._last_refusal = now
            if self._started is None:
                self._started = self._last_summary = now
                self._refused = self._since_summary = count
                log.error("保存領域がいっぱいです。書き込みを 503 storage_full で断っています / "
                          "storage is full: refusing writes with 503 storage_full until "
                          "space is freed (%s: %s)", what, exc)
                return
            self._refused += count
            self._since_summary += count
            if now - self._last_summary >= SUMMARY_S:
                log.error("保存領域がまだいっぱいです / storage still full: %d write(s) "
                          "refused in the last %.0f s, %d since it filled %.0f s ago",
                          self._since_summary, now - self._last_summary, self._refused,
                          now - self._started)
                self._last_summary = now
                self._since_summary = 0

    def written(self) -> None:
        if self._started is None:  # the common case: no lock
            return
        now = self._clock()
        with self._lock:
            if self._started is None or now - self._last_refusal < QUIET_S:
                return
            log.warning("書き込みが再開しました / storage has room again: writes go through "
                        "(%d refused over %.0f s)", self._refused,
                        self._last_refusal - self._started)
            self._started = None


# One per process: relayd has one state directory.
EPISODE = Episode()
