"""The async door to the disarm workers, for the daemon's trio tasks.

``sanitize`` never imports trio, so its ``WorkerPool.run`` blocks a thread; this module
runs it on a trio worker thread.  A capacity limiter per pool keeps the number of those
threads at the number of workers: a task cancelled while it waits for a free worker
leaves cleanly (no thread was started).  A task cancelled while its job runs is
released at once (``abandon_on_cancel``); the thread finishes the job, bounded by the
pool's wall-clock kill, and its result is dropped.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

import trio

from sanitize.pool import Payload, WorkerPool
from sanitize.report import Result
from sanitize.textscan import Scan

_T = TypeVar("_T")
_limiters: weakref.WeakKeyDictionary[WorkerPool, trio.CapacityLimiter] = (
    weakref.WeakKeyDictionary())


def _limiter(pool: WorkerPool) -> trio.CapacityLimiter:
    limiter = _limiters.get(pool)
    if limiter is None:
        limiter = _limiters[pool] = trio.CapacityLimiter(pool.size)
    return limiter


async def disarm(pool: WorkerPool, data: Payload, name: str) -> Result:
    """Disarm one file (its bytes, or chunks read on the worker thread) in the pool
    without blocking the event loop.

    Always returns a Result (``blocked`` on timeout, crash or a malformed file); raises
    ``sanitize.pool.PoolClosed`` when the pool has been closed, and what the chunks'
    iterator raises (a stored file gone or failing its check).
    """
    return await trio.to_thread.run_sync(pool.run, data, name, abandon_on_cancel=True,
                                         limiter=_limiter(pool),
                                         thread_name="kakehashi-disarm")


async def disarm_to(pool: WorkerPool, data: Payload, name: str,
                    store: Callable[[Iterator[bytes]], _T]) -> tuple[Result, _T | None]:
    """``disarm``, with the rebuilt file handed to ``store`` in chunks on the worker
    thread (``WorkerPool.run_to``): relayd never holds it whole.  What ``store``
    returns comes back beside the Result (None for a blocked file)."""
    return await trio.to_thread.run_sync(pool.run_to, data, name, store,
                                         abandon_on_cancel=True, limiter=_limiter(pool),
                                         thread_name="kakehashi-disarm")


async def detect_kind(pool: WorkerPool, data: Payload, name: str) -> str:
    """The kind of a file that does not cross (detected in a worker, not disarmed)."""
    return await trio.to_thread.run_sync(pool.detect, data, name, abandon_on_cancel=True,
                                         limiter=_limiter(pool),
                                         thread_name="kakehashi-detect")


async def scan_text(pool: WorkerPool, data: Payload, name: str,
                    kinds: Iterable[str]) -> Scan:
    """The 個人番号 check of a file's text, read in a worker (``WorkerPool.scan``)
    when its kind is one of ``kinds``: only masked numbers come back."""
    return await trio.to_thread.run_sync(pool.scan, data, name, kinds, abandon_on_cancel=True,
                                         limiter=_limiter(pool),
                                         thread_name="kakehashi-scan")
