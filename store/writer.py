"""The writer thread: the one write connection, and group commit.

Operations are plain functions ``fn(db, *args)`` (the ``*_txn`` functions).  The thread
takes the first queued operation, then whatever else arrives within the group-commit
window (up to a maximum), runs each in its own SAVEPOINT inside one ``BEGIN
IMMEDIATE`` transaction, COMMITs once (one fsync for the whole group), and only then
hands the batch to ``notify`` so the waiting callers resume.  A failing operation is
rolled back to its savepoint and carries its exception; the others still commit.
Just before COMMIT, once a few hundred new message bodies are queued for the search
index, they enter it together (``store.search.index_pending``): FTS5 writes to disk
at every SAVEPOINT, so one statement for many bodies costs far less than one each.

Failures are logged at ERROR here, once each, where they happen: an operation that
failed with an SQLite error (or a bug), or a group lost whole (BEGIN or COMMIT
failed, or the thread ended with work queued).  A full disk (SQLITE_FULL) is the
exception: its refusals are ``StorageFull`` and are logged once per episode
(``store.diskfull``).  A failed COMMIT is rolled back and the connection goes on:
when space returns the next group commits (a WAL checkpoint that could not run for
lack of space simply runs at a later commit).  An operation's own refusal (a
StoreError such as LoginExists) is an answer, not a failure, and is not logged.
The callers get the error and do not log it again.

This module knows nothing of trio: the facade passes a ``notify`` that wakes trio
tasks from this thread (``TrioToken.run_sync_soon``).
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from typing import Any, Callable

import sqlite_utils

from store import search
from store.diskfull import EPISODE, full_error, is_full
from store.errors import StoreError, StoreUnavailable

log = logging.getLogger(__name__)

COMMIT_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Op:
    """One queued operation; ``done`` is whatever the notifier needs (a trio.Event)."""

    __slots__ = ("fn", "args", "result", "error", "done")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], done: Any) -> None:
        self.fn = fn
        self.args = args
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = done


_STOP = object()


class Writer:
    def __init__(self, db: sqlite_utils.Database, group_commit_ms: float, group_max: int,
                 notify: Callable[[list[Op]], None]) -> None:
        self._db = db
        self._window = group_commit_ms / 1000.0
        self._max = group_max
        self._notify = notify
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        # Figures for /metrics and the benchmark: groups committed, ops in them.
        self.groups = 0
        self.ops = 0
        # How long each group took from BEGIN to COMMIT (fsync included), as
        # cumulative counts per upper bound of COMMIT_BUCKETS_S, for /metrics.
        self.commit_counts = [0] * len(COMMIT_BUCKETS_S)
        self.commit_sum_s = 0.0
        # Trigrams committed to the search index's term table (a cache: may forget).
        self._trigrams: set[str] = set()

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        """The thread is running and takes new work."""
        return self._thread.is_alive() and not self._closed

    def submit(self, op: Op) -> None:
        if self._closed:
            raise StoreUnavailable("ストアは閉じています / the store is closed")
        self._queue.put(op)

    def stop(self) -> None:
        """Blocking: commit what is queued, then end the thread and close the connection."""
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
        self._thread.join()

    # ----------------------------------------------------------------- the thread

    def _run(self) -> None:
        try:
            self._index_left()
            stopping = False
            while not stopping:
                first = self._queue.get()
                if first is _STOP:
                    break
                batch: list[Op] = [first]  # type: ignore[list-item]
                deadline = time.monotonic() + self._window
                while len(batch) < self._max:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            break
                        try:
                            nxt = self._queue.get(timeout=remaining)
                        except queue.Empty:
                            break
                    if nxt is _STOP:
                        stopping = True
                        break
                    batch.append(nxt)  # type: ignore[arg-type]
                started = time.monotonic()
                try:
                    self._commit(batch)
                except Exception as exc:  # SAVEPOINT/RELEASE itself failed: lose the group
                    self._rollback()
                    self._fail(batch, exc)
                self.groups += 1
                self.ops += len(batch)
                self._observe(time.monotonic() - started)
                try:
                    self._notify(batch)
                except Exception:  # the event loop is gone; nobody is waiting
                    log.exception("store writer: could not notify waiters")
        finally:
            # Whatever ends this thread, nobody may wait forever: refuse new work and
            # fail what is still queued.
            self._closed = True
            left: list[Op] = []
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not _STOP:
                    left.append(item)  # type: ignore[arg-type]
            if left:
                self._fail(left, RuntimeError("store writer stopped"))
                try:
                    self._notify(left)
                except Exception:
                    log.exception("store writer: could not notify waiters")
            self._db.conn.close()

    def _index_left(self) -> None:
        """Index a long queue another writer left for the search index (search finds
        it meanwhile, more slowly)."""
        c = self._db.conn
        try:
            if c.execute("SELECT 1 FROM messages_fts_pending LIMIT 1 OFFSET ?",
                         (search.INDEX_BATCH - 1,)).fetchone() is None:
                return
            c.execute("BEGIN IMMEDIATE")
            search.index_pending(self._db)
            c.execute("COMMIT")
        except sqlite3.Error as exc:
            log.error("store writer: could not index queued messages: %s", exc)
            self._rollback()

    def _observe(self, seconds: float) -> None:
        self.commit_sum_s += seconds
        for i, le in enumerate(COMMIT_BUCKETS_S):
            if seconds <= le:
                self.commit_counts[i] += 1

    def _commit(self, batch: list[Op]) -> None:
        c = self._db.conn
        try:
            c.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            self._fail(batch, exc)
            return
        started = 0  # ops in the current transaction so far (to fail if it is lost)
        for i, op in enumerate(batch):
            c.execute("SAVEPOINT op")
            try:
                op.result = op.fn(self._db, *op.args)
            except Exception as exc:  # this op fails, the group goes on
                op.error = exc
                if is_full(exc):
                    op.error = full_error(exc)
                    EPISODE.refused(getattr(op.fn, "__name__", "write"), exc)
                elif not isinstance(exc, StoreError):
                    log.error("store write %s failed: %s",
                              getattr(op.fn, "__name__", op.fn), exc,
                              exc_info=not isinstance(exc, sqlite3.Error))
                if c.in_transaction:
                    c.execute("ROLLBACK TO op")
                else:
                    # The error took the whole transaction with it (e.g. disk full):
                    # the ops before it in this transaction are lost too.
                    self._fail(batch[started:i], exc)
                    started = i + 1
                    try:
                        c.execute("BEGIN IMMEDIATE")
                    except sqlite3.Error as exc2:
                        self._fail(batch[i + 1:], exc2)
                        return
                    continue
            c.execute("RELEASE op")
        try:
            # New bodies enter the search index together, a few hundred at a time.
            added = search.index_pending(self._db, self._trigrams, search.INDEX_BATCH)
            c.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            self._fail(batch[started:], exc)
            return
        EPISODE.written()
        if len(self._trigrams) + len(added) > search.KNOWN_TRIGRAMS:
            self._trigrams.clear()
        self._trigrams |= added

    def _rollback(self) -> None:
        """End a failed transaction so the connection takes the next group.  SQLite
        may already have rolled it back (a full disk can); a ROLLBACK that fails
        leaves nothing worse than what it was undoing."""
        c = self._db.conn
        if c.in_transaction:
            try:
                c.execute("ROLLBACK")
            except sqlite3.Error as exc:
                log.error("store writer: rollback failed: %s", exc)

    @staticmethod
    def _fail(ops: list[Op], exc: BaseException) -> None:
        lost = [op for op in ops if op.error is None]
        full = is_full(exc)
        if lost and full:
            EPISODE.refused("commit", exc, len(lost))
        elif lost:
            log.error("store writer: %d write(s) not committed: %s", len(lost), exc)
        for op in lost:
            if full:
                err: StoreUnavailable = full_error(exc)
            else:
                err = StoreUnavailable(f"書き込みに失敗しました / write failed: {exc}")
                err.__cause__ = exc
            op.error, op.result = err, None
