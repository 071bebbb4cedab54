"""The parent side of the disarm workers: pre-forked, sandboxed, replaceable.

``WorkerPool(cfg)`` starts ``cfg.workers`` (default: one per CPU) processes running
``sanitize.worker`` and hands each ``run(data, name)`` to an idle one.  The calling
thread blocks; the pool is thread-safe.  What the parent trusts of a worker is only
what it re-validates: a JSON header (never a pickle) and, for a non-blocked verdict,
the output bytes.  File names and user messages are recomputed here.

Failures are verdicts, never the original (CDR.md "Process model"):

* no reply within ``cfg.timeout_s`` -> the worker is killed, ``blocked``/``timeout``;
* the worker dies (signal, ``os._exit``, RLIMIT_CPU's SIGXCPU, a malformed reply)
  -> ``blocked``/``worker_crashed`` (``timeout`` for SIGXCPU);
* the dead worker is replaced at once; the next job runs normally.

Workers are also retired when their memory has grown (a huge file leaves a big heap
behind) or after many jobs.  The successor is started first and the old worker goes
on serving until it is ready, so no job waits for a worker to start.

Workers are forked by one fork server (``sanitize.forkserver``), started with the
pool (or before it, by a caller that has other work to do meanwhile: ``server=``),
that has imported every format library: a worker is ready a few milliseconds after
it is asked for, the imports are paid once per pool, not once per worker.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from sanitize import textscan
from sanitize.config import SanitizeConfig
from sanitize.engine import blocked, output_name
from sanitize.forkserver import START_TIMEOUT_S, ForkServer, WorkerProcess, launch
from sanitize.kinds import ALWAYS_BLOCKED, KINDS
from sanitize.report import REASONS, Removed, Result, Verdict, messages_for
from sanitize.jobfile import KIND_LEN, PAYLOAD_AT, JobFile
from sanitize.textscan import Scan
from sanitize.worker import (HEADER_MAX, config_to_json, frame, max_output,
                             parse_header, spin as worker_spin)

# A worker is retired when its resident memory has grown by more than this share of
# its memory limit since it started (one huge file can leave the heap that big), or
# after this many jobs, so slow leaks cannot accumulate for the life of the daemon.
# Pillow's block cache (sanitize.worker.PILLOW_BLOCKS, 96 MiB) is normal growth.
RETIRE_GROWTH = 0.4
JOBS_PER_WORKER = 5000
# How long a worker waits on its CPU for the next request after a reply, when a CPU
# is spare (sanitize.worker.spin): longer than the pool takes to hand it the next
# queued file, short enough to cost little when none comes.
LINGER_S = 0.0003
# How long the caller waits on its CPU for the reply before it sleeps, when a CPU is
# spare for it too: most small files (text, CSV, a small workbook) are disarmed
# within it; a longer job costs a spare CPU at most this much more.
REPLY_SPIN_S = 0.002
_REMOVED_MAX = 100_000
# The module a worker process runs (its ``main(argv)``).
WORKER_MAIN = "sanitize.worker"
OUTPUT_CHUNK = 1024 * 1024  # what run_to's store is handed at a time
_T = TypeVar("_T")


class PoolError(Exception):
    """The pool itself cannot serve (closed, or workers cannot start)."""


class PoolClosed(PoolError):
    pass


# A file, or its chunks (read from disk or decrypted as they are written).
Payload = bytes | Iterable[bytes]


class _TooLarge(Exception):
    """The file is over ``max_input_bytes``: refused before a worker parses it."""


class _NotSent(Exception):
    """Writing the file failed before the request went out (``cause`` says why)."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


class _WorkerLost(Exception):
    """The current worker can no longer be trusted; ``reason`` goes to the Result."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.kind = "unknown"  # what the worker had detected, if it got that far


@dataclass(slots=True, eq=False)  # identity: one record per live process
class _Worker:
    proc: WorkerProcess
    wfd: int
    rfd: int
    job: JobFile  # shared with it: detected kind, then the file or its output
    ready: bool = False
    jobs: int = 0
    statm: int = -1  # /proc/<pid>/statm, kept open: a pread per job, no open/close
    base_rss: int = 0  # its own resident bytes (_rss) when it reported ready
    heir: _Worker | None = None  # its successor, importing while it still serves


class WorkerPool:
    """Pre-forked disarm workers.  ``run`` blocks the calling thread; ``close`` stops
    them.

    ``worker_main`` names the module whose ``main(argv)`` each worker process runs,
    imported from the package root: ``sanitize.worker`` unless a test starts workers
    from a module of its own that wraps that one (to make a worker misbehave)."""

    def __init__(self, cfg: SanitizeConfig, *, workers: int | None = None,
                 jobs_per_worker: int = JOBS_PER_WORKER,
                 worker_main: str = WORKER_MAIN, server: ForkServer | None = None) -> None:
        self.cfg = cfg
        self._config = json.loads(config_to_json(cfg))  # what each spawn request carries
        self.size = workers or cfg.workers or os.cpu_count() or 1
        try:
            self._cpus = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            self._cpus = os.cpu_count() or 1
        self._worker_main = worker_main
        self._jobs_per_worker = jobs_per_worker
        self._retire_growth = int(RETIRE_GROWTH * cfg.memory_mib * 1024 * 1024)
        self._cond = threading.Condition()
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._closed = False
        self._missing = 0  # slots whose replacement could not be spawned yet
        # Since start, for /metrics: workers lost by reason (worker_crashed, timeout,
        # limit_exceeded, …) and workers retired while healthy (worn: memory or jobs).
        self.lost: dict[str, int] = {}
        self.retired = 0
        self.sandbox: dict[str, Any] = {}  # as the last worker to start reported it
        self.problems: list[str] = []
        try:
            # ``server``: launched by the caller (sanitize.forkserver.launch), who owns
            # it no more: the pool closes it.
            self._server = server or launch(worker_main)
            self._server.wait_ready()
        except OSError as exc:
            if server is not None:
                server.close()
            raise PoolError(f"disarm workers did not start: {exc}") from None
        workers_: list[_Worker] = []
        try:
            workers_ += [self._spawn() for _ in range(self.size)]
            deadline = time.monotonic() + START_TIMEOUT_S
            for w in workers_:
                self._await_ready(w, deadline)
        except (_WorkerLost, OSError) as exc:
            for w in workers_:
                self._kill(w)
            self._server.close()
            raise PoolError(f"disarm workers did not start: {getattr(exc, 'detail', exc)}"
                            ) from None
        self._idle.extend(workers_)

    # ------------------------------------------------------------------ public

    def run(self, data: Payload, name: str) -> Result:
        """Disarm one file in a worker; never raises for anything the file does.

        ``data`` is the file, or its chunks: they are written straight into the
        worker's job file, so a big file is never also held whole by the caller.  An
        exception raised by the chunks' iterator (a stored file failing its check)
        reaches the caller, and the worker stays in service."""
        start = time.monotonic()
        return self._disarm(data, name, start, lambda h, body: self._result(
            h, body, name, time.monotonic() - start))

    def run_to(self, data: Payload, name: str,
               store: Callable[[Iterator[bytes]], _T]) -> tuple[Result, _T | None]:
        """``run``, with the output handed to ``store`` in chunks instead of whole.

        ``store`` reads the output straight from the worker's job file (while the
        worker is held), so the caller never holds a rebuilt file whole either; what it
        returns comes back beside the Result, whose ``output`` is then None.  It is
        not called for a blocked file (None comes back).  What it raises reaches the
        caller, and the worker stays in service."""
        start = time.monotonic()
        stored: list[_T] = []

        def accept(h: dict[str, Any], body: _Body) -> Result:
            result = self._result(h, body, name, time.monotonic() - start, keep=False)
            if result.verdict is not Verdict.BLOCKED:
                stored.append(store(body.chunks()))
            return result

        result = self._disarm(data, name, start, accept)
        return result, stored[0] if stored else None

    def _disarm(self, data: Payload, name: str, start: float,
                accept: Callable[[dict[str, Any], _Body], Result]) -> Result:
        try:
            return self._call({"op": "run", "name": name}, data, accept)
        except _TooLarge as exc:
            # Refused before any parsing: nothing to gain from shipping it.
            return blocked("unknown", "too_large", str(exc))
        except _WorkerLost as exc:
            return blocked(exc.kind, exc.reason, exc.detail, seconds=time.monotonic() - start)

    def detect(self, data: Payload, name: str) -> str:
        """The kind of a file, detected in a worker without disarming it (for files
        that stay in their own zone); "unknown" if the worker cannot tell or fails."""
        try:
            return self._call({"op": "detect", "name": name}, data, lambda h, _: _known_kind(
                h.get("kind")) if h.get("op") == "detected" else "unknown")
        except (_TooLarge, _WorkerLost):
            return "unknown"

    def scan(self, data: Payload, name: str, kinds: Iterable[str]) -> Scan:
        """The 個人番号 check of a file's text, read in a worker (``sanitize.extract``)
        when its kind is one of ``kinds``; only masked numbers come back.  A file the
        worker cannot read in time, or that kills it, is ``unreadable``."""
        def accept(h: dict[str, Any], _: _Body) -> Scan:
            try:
                return textscan.from_header(h, _known_kind(h.get("kind")))
            except ValueError as exc:
                raise _WorkerLost("worker_crashed", f"protocol error: {exc}") from None
        try:
            return self._call({"op": "scan", "name": name, "kinds": sorted(kinds)}, data,
                              accept)
        except _TooLarge as exc:
            return textscan.unreadable("unknown", f"too_large: {exc}")
        except _WorkerLost as exc:
            return textscan.unreadable(exc.kind, f"{exc.reason}: {exc.detail}")

    def probe(self) -> dict[str, Any]:
        """Ask one worker what a job would meet there (sockets, exec, rlimits)."""
        try:
            return self._call({"op": "probe"}, b"", lambda h, _: h)
        except _WorkerLost as exc:
            raise PoolError(exc.detail) from None

    def _call(self, header: dict[str, Any], data: Payload,
              accept: Callable[[dict[str, Any], _Body], _T]) -> _T:
        """One request to an idle worker; ``accept`` turns the reply into the answer
        while the worker is still held, so a reply it refuses (``_WorkerLost``) costs
        the worker its place, and anything else it raises leaves the worker in
        service.  Raises ``_WorkerLost`` with the kind the worker had detected when it
        fails on this request."""
        if isinstance(data, (bytes, bytearray)) and len(data) > self.cfg.max_input_bytes:
            raise _TooLarge(f"{len(data)} bytes > {self.cfg.max_input_bytes}")
        w = self._acquire()
        # With a CPU to spare (fewer busy workers than CPUs), the worker may wait on
        # its CPU for the next file; with every CPU busy it sleeps at once, leaving
        # the CPU to the other workers and to the callers that feed them.  The caller
        # waits on its CPU for the reply when there is one for it as well (each busy
        # worker and its caller take two).
        busy = len(self._busy)
        if busy < self._cpus:
            header = {**header, "linger": LINGER_S}
        try:
            deadline = time.monotonic() + self.cfg.timeout_s
            self._send(w, header, data, deadline)
            reply, body = self._recv(w, deadline, spin=2 * busy <= self._cpus)
        except _NotSent as exc:
            self._release(w)  # nothing reached the worker: it is as good as before
            raise exc.cause from None
        except _WorkerLost as exc:
            raise self._lose(w, exc) from None
        try:
            answer = accept(reply, body)
        except _WorkerLost as exc:
            raise self._lose(w, exc) from None
        except BaseException:
            # The worker has answered: anything else ``accept`` raises is the caller's
            # own failure (its store), and the worker waits for the next request.
            w.jobs += 1
            self._release(w)
            raise
        w.jobs += 1
        self._release(w)
        return answer

    def _lose(self, w: _Worker, exc: _WorkerLost) -> _WorkerLost:
        exc.kind = _detected(w)
        with self._cond:
            self.lost[exc.reason] = self.lost.get(exc.reason, 0) + 1
        self._replace(w)
        return exc

    def worker_pids(self) -> list[int]:
        """Process ids of the current workers (for monitoring: RSS, CPU)."""
        with self._cond:
            return [w.proc.pid for w in (*self._idle, *self._busy)]

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Stop every worker; jobs still running finish with a stopped worker."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._cond.notify_all()
        for w in idle:
            self._kill(w)
        self._server.close()

    def sandbox_report(self) -> tuple[bool, str]:
        """(every layer in force, one line for the log): what the workers run under."""
        sb = self.sandbox
        fs, sc = str(sb.get("landlock", "?")), str(sb.get("seccomp", "?"))
        whole = fs.startswith("abi ") and sc == "filter"
        line = (f"{self.size} worker(s), Landlock {fs}, seccomp {sc}, "
                f"RLIMIT_AS {sb.get('memory_mib', '?')} MiB")
        if self.problems:
            line += "; problems: " + "; ".join(self.problems)
        return whole and not self.problems, line

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ workers

    def _spawn(self) -> _Worker:
        """A new worker, forked by the server (ServerGone, an OSError, if it cannot)."""
        job = JobFile.create()
        try:
            proc, wfd, rfd = self._server.spawn(job.fd, self._config)
        except BaseException:
            job.close()
            raise
        for fd in (wfd, rfd):
            os.set_blocking(fd, False)
        try:
            statm = os.open(f"/proc/{proc.pid}/statm", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            statm = -1  # no /proc: workers are retired by job count only
        return _Worker(proc, wfd, rfd, job, statm=statm)

    def _await_ready(self, w: _Worker, deadline: float) -> None:
        header, _ = self._recv(w, deadline, reason="worker_crashed")  # no payload
        if header.get("op") != "ready":
            raise _WorkerLost("worker_crashed", f"unexpected first frame {header.get('op')!r}")
        w.ready = True
        w.base_rss = _rss(w)
        sandbox = header.get("sandbox")
        if isinstance(sandbox, dict):
            self.sandbox = sandbox
        problems = header.get("problems")
        if isinstance(problems, list):
            self.problems = [str(p) for p in problems]

    def _acquire(self) -> _Worker:
        with self._cond:
            while not self._idle and not self._missing and not self._closed:
                self._cond.wait()
            if self._closed:
                raise PoolClosed("the disarm pool is closed")
            if self._idle:
                w = self._idle.pop()
                self._busy.add(w)
            else:
                w = None
                self._missing -= 1  # this caller re-spawns the lost slot itself
        if w is None:
            try:
                w = self._spawn()
            except OSError as exc:
                with self._cond:
                    self._missing += 1
                raise _WorkerLost("worker_crashed", f"cannot start a worker: {exc}") from None
            with self._cond:
                self._busy.add(w)
        if not w.ready:
            try:
                self._await_ready(w, time.monotonic() + START_TIMEOUT_S)
            except _WorkerLost:
                self._replace(w)
                raise
        return w

    def _release(self, w: _Worker) -> None:
        w = self._succession(w)
        with self._cond:
            self._busy.discard(w)
            if self._closed:
                stop = True
            else:
                stop = False
                self._idle.append(w)
                self._cond.notify()
        if stop:
            self._kill(w)

    def _succession(self, w: _Worker) -> _Worker:
        """The worker to put back after a job: ``w``, or its successor once ready."""
        if w.heir is None:
            if not self._closed and self._worn(w):
                try:
                    w.heir = self._spawn()
                except OSError:
                    pass  # no process to spare right now: keep serving, retry next job
            return w
        poller = select.poll()
        poller.register(w.heir.rfd, select.POLLIN)
        if not poller.poll(0):
            return w  # still importing
        heir, w.heir = w.heir, None
        try:
            self._await_ready(heir, time.monotonic() + START_TIMEOUT_S)
        except _WorkerLost:
            self._kill(heir)  # it died starting: the next job spawns another
            return w
        self._kill(w)
        self.retired += 1
        with self._cond:
            self._busy.discard(w)
            self._busy.add(heir)
        return heir

    def _worn(self, w: _Worker) -> bool:
        # Resident now, not peak: a big photo's buffers are handed back when it is done
        # and are no reason to restart; a heap that stays grown is.
        return w.jobs >= self._jobs_per_worker or _rss(w) - w.base_rss > self._retire_growth

    def _replace(self, w: _Worker) -> None:
        heir, w.heir = w.heir, None
        self._kill(w)
        with self._cond:
            self._busy.discard(w)
            if self._closed:
                if heir is not None:
                    self._kill(heir)
                return
        # The new worker imports in the background; whoever takes it waits for "ready".
        try:
            fresh = heir or self._spawn()
        except OSError:
            # Out of processes or memory right now: the next caller retries the spawn
            # (and gets "blocked" if it fails again) rather than waiting forever.
            with self._cond:
                self._missing += 1
                self._cond.notify()
            return
        with self._cond:
            if self._closed:
                stop = True
            else:
                stop = False
                self._idle.append(fresh)
                self._cond.notify()
        if stop:
            self._kill(fresh)

    @classmethod
    def _kill(cls, w: _Worker) -> None:
        if w.heir is not None:
            cls._kill(w.heir)
            w.heir = None
        if w.proc.poll() is None:
            w.proc.kill()
        w.proc.wait()
        w.proc.close()
        for fd in (w.wfd, w.rfd):
            if fd >= 0:
                os.close(fd)
        w.wfd = w.rfd = -1
        w.job.close()
        if w.statm >= 0:
            os.close(w.statm)
            w.statm = -1

    # ------------------------------------------------------------------ wire

    def _send(self, w: _Worker, header: dict[str, Any], payload: Payload,
              deadline: float) -> None:
        try:
            # A blank kind first: a job that dies before detecting reports "unknown".
            w.job.write(0, _BLANK_KIND)
            if isinstance(payload, (bytes, bytearray)):
                w.job.write(PAYLOAD_AT, payload)
                size = len(payload)
            else:
                size = self._write_chunks(w.job, payload)
            w.job.trim(PAYLOAD_AT + size)  # the pages a huge earlier job left behind
        except (OSError, ValueError) as exc:  # ENOSPC/ENOMEM; a mapping that failed
            raise _WorkerLost("worker_crashed", f"job file: {exc}") from None
        view = memoryview(frame(header, size))
        while view:
            try:
                view = view[os.write(w.wfd, view):]
            except BlockingIOError:  # a pipe full of a long header: wait for room
                self._wait(w, w.wfd, select.POLLOUT, deadline)
            except OSError as exc:  # EPIPE: the worker is gone
                raise self._lost(w, f"send: {exc.strerror}") from None

    def _write_chunks(self, job: JobFile, chunks: Iterable[bytes]) -> int:
        """Write the chunks after the kind; their total size.  What the iterator
        raises, and a file over the size limit, come out as _NotSent."""
        size = 0
        it = iter(chunks)
        while True:
            try:
                chunk = next(it)
            except StopIteration:
                return size
            except Exception as exc:  # the caller's reading failed, not the worker
                raise _NotSent(exc) from exc
            size += len(chunk)
            if size > self.cfg.max_input_bytes:
                raise _NotSent(_TooLarge(f"more than {self.cfg.max_input_bytes} bytes"))
            # An OSError here is the job file's: _send turns it into a loss.
            job.write(PAYLOAD_AT + size - len(chunk), chunk)

    def _recv(self, w: _Worker, deadline: float, reason: str = "timeout",
              spin: bool = False) -> tuple[dict[str, Any], _Body]:
        # A worker sends one frame per request and then waits, so whatever the pipe
        # holds is this frame: read it in as few calls as it arrives in.
        buf = bytearray()
        need = 4
        ready = spin and _spin(w.rfd, REPLY_SPIN_S)
        while len(buf) < need:
            if not ready:
                self._wait(w, w.rfd, select.POLLIN, deadline, reason)
            ready = False
            try:
                chunk = os.read(w.rfd, max(need - len(buf), 65536))
            except BlockingIOError:
                continue
            if not chunk:
                raise self._lost(w, "closed its pipe")
            buf += chunk
            if need == 4 and len(buf) >= 4:
                need += int.from_bytes(buf[:4], "big")
                if need - 4 > HEADER_MAX:
                    raise self._lost(w, f"header of {need - 4} bytes")
        if len(buf) > need:
            raise self._lost(w, "more than one frame")
        try:
            header = parse_header(buf[4:])
            size = int(header.get("size", 0))
        except (ValueError, TypeError, AttributeError):
            raise self._lost(w, "malformed header") from None
        if not isinstance(header, dict) or not 0 <= size <= max_output(self.cfg):
            raise self._lost(w, f"payload of {size} bytes")
        return header, _Body(w.job, size)

    def _wait(self, w: _Worker, fd: int, event: int, deadline: float,
              reason: str = "timeout") -> None:
        poller = select.poll()
        poller.register(fd, event)
        left = deadline - time.monotonic()
        if left <= 0 or not poller.poll(left * 1000):
            raise _WorkerLost(reason, "no reply in time")

    def _lost(self, w: _Worker, what: str) -> _WorkerLost:
        """The worker broke the protocol or died: name why, from its exit status."""
        try:
            rc = w.proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            return _WorkerLost("worker_crashed", f"protocol error: {what}")
        if rc == -signal.SIGXCPU:
            return _WorkerLost("timeout", f"CPU limit of {self.cfg.cpu_s} s (SIGXCPU)")
        if not w.proc.status_known:
            how = "exit status unknown: the fork server had stopped"
        elif rc < 0:
            how = f"signal {signal.Signals(-rc).name}"
        else:
            how = f"exit status {rc}"
        return _WorkerLost("worker_crashed", f"worker {what} ({how})")

    # ------------------------------------------------------------------ results

    def _result(self, h: dict[str, Any], body: _Body, name: str, seconds: float,
                keep: bool = True) -> Result:
        """Rebuild a Result from a worker's header, trusting nothing unchecked; with
        its output read from the job file if ``keep`` (else left there for a store)."""
        if h.get("op") != "result":
            raise _WorkerLost("worker_crashed", f"protocol error: op {h.get('op')!r}")
        try:
            verdict = Verdict(h["verdict"])
            kind = _known_kind(h["kind"])
            removed = tuple(Removed(str(c)[:200], str(d)[:500])
                            for c, d in h.get("removed") or [])[:_REMOVED_MAX]
            mismatch = bool(h.get("name_mismatch"))
            detail = str(h.get("detail") or "")
        except (KeyError, ValueError, TypeError):
            raise _WorkerLost("worker_crashed", "protocol error: malformed result") from None
        if verdict is Verdict.BLOCKED:
            reason = h.get("reason")
            if reason not in REASONS:
                reason = "internal_error"
            # Whatever bytes came with a blocked verdict are never read.
            return blocked(kind, reason, detail, name_mismatch=mismatch, seconds=seconds)
        out_kind = h.get("output_kind")
        if out_kind not in KINDS or out_kind in ALWAYS_BLOCKED or not body.size \
                and out_kind not in ("text", "csv"):
            raise _WorkerLost("worker_crashed", f"protocol error: output kind {out_kind!r}")
        if verdict is Verdict.SANITIZED and not removed:
            verdict = Verdict.CLEAN
        ja, en = messages_for(verdict, None, len(removed))
        return Result(verdict=verdict, kind=kind, output=body.read() if keep else None,
                      output_kind=out_kind,
                      output_name=output_name(name, out_kind), removed=removed,
                      detail=detail, name_mismatch=mismatch, seconds=seconds,
                      message_ja=ja, message_en=en)


@dataclass(frozen=True, slots=True)
class _Body:
    """A reply's payload, still in the worker's job file: read only if wanted (the
    bytes of a blocked file never are), whole or in chunks.  A job file shorter than
    announced is the worker's fault."""

    job: JobFile
    size: int

    def read(self) -> bytes:
        return self._at(0, self.size) if self.size else b""

    def chunks(self) -> Iterator[bytes]:
        for offset in range(0, self.size, OUTPUT_CHUNK):
            yield self._at(offset, min(OUTPUT_CHUNK, self.size - offset))

    def _at(self, offset: int, n: int) -> bytes:
        try:
            return self.job.read(PAYLOAD_AT + offset, n)
        except (OSError, ValueError) as exc:
            raise _WorkerLost("worker_crashed", f"protocol error: {exc}") from None


def _spin(fd: int, seconds: float) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return worker_spin(poller, seconds)


def _detected(w: _Worker) -> str:
    """The kind a worker announced for its current job (it died or timed out)."""
    try:
        raw = w.job.read(0, KIND_LEN)
    except (OSError, ValueError):
        return "unknown"
    return _known_kind(raw.rstrip(b"\0").decode("ascii", "replace"))


def _rss(w: _Worker) -> int:
    """Resident bytes of a worker's own memory, heap and buffers (0 where /proc cannot
    tell).  File and shared pages are left out: the job file it maps is not growth."""
    try:
        fields = os.pread(w.statm, 64, 0).split()
        return (int(fields[1]) - int(fields[2])) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


_PAGE = os.sysconf("SC_PAGE_SIZE")
_BLANK_KIND = bytes(KIND_LEN)


def _known_kind(kind: object) -> str:
    return kind if isinstance(kind, str) and kind in KINDS else "unknown"
