"""The fork server: one locked-down process that has imported every format library
once and forks a ready worker in milliseconds.

Why.  A worker started as a fresh interpreter spent ~0.3–0.9 s importing pikepdf,
Pillow, lxml and libmagic before its first file: ``relayctl sanitize`` paid it
before any work, two workers paid it twice on the same cores, and relayd's
replacement for a crashed worker came that late.  A fork of a process that has
imported everything costs a few milliseconds.

Who forks.  relayd runs trio and threads, and a fork of a threaded process is unsafe,
so the pool (``sanitize.pool``) starts this server once as a child process
(``python -I``, minimal environment, cwd ``/``: ``launch``), and talks to it over a
unix SOCK_SEQPACKET socket pair:

    pool -> server   {"op": "spawn", "id": n, "config": {…}}
                       + the worker's job file (SCM_RIGHTS)
    server -> pool   {"op": "ready", "pid", "sandbox", "problems"}   (once, at start)
                     {"op": "spawned", "id": n, "pid": p}
                       + the pool's ends of the worker's two pipes and a pidfd
                     {"op": "exited", "pid": p, "rc": r}  (r as subprocess reports it:
                       negative for a signal; the pool reads SIGXCPU, SIGSEGV from it)

The server parses nothing, but it holds everything a worker holds, so it is locked
down before it answers "ready": the seccomp filter (no sockets, exec, or writing to
files: ``sanitize.seccomp``) and Landlock read-only to its code
(``sanitize.landlock``); its children inherit both.  Each worker then sets its own
rlimits and enters a Landlock domain of its own (so it cannot signal its siblings or
the server), and reports "ready" on its pipe (``sanitize.worker``).  The child closes
the socket and every descriptor of other workers before it runs a job.

The server reaps its children and reports each exit status; it exits when the pool
closes the socket (relayd stopping or dying), leaving workers to end when their
pipes close.

Starting early.  The server's imports (~0.25 s) are most of ``relayctl sanitize``'s
time for a small file, and they need nothing from the caller: the configuration
travels with each spawn request, not on the server's command line.  So the command
line launches the server first (``launch(wait=False)``) and loads its configuration,
parses its arguments and imports its own modules while the server imports on the
other CPU; the pool waits for "ready" when it first needs a worker.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import resource
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from typing import TYPE_CHECKING, Any

import sanitize

if TYPE_CHECKING:
    from sanitize import landlock

# The sandbox modules (``sanitize.landlock``, ``sanitize.seccomp``) are imported by the
# server and the workers where they lock down, not here: the command line imports this
# module to launch the server as early as it can, and needs neither.

_MSG_MAX = 64 * 1024
START_TIMEOUT_S = 60.0  # the server's imports of pikepdf, Pillow, lxml; a fork
# glibc's malloc in a worker: give freed heap back to the system only past 32 MiB,
# and take blocks under 4 MiB from the heap rather than mmap.  By default a worker
# handed back its heap after every file and faulted it in again for the next, a
# measurable share of a small file's time.  Memory a file leaves behind
# is bounded by the pool's retirement; other C libraries ignore the variable.
MALLOC_TUNABLES = "glibc.malloc.trim_threshold=33554432:glibc.malloc.mmap_threshold=4194304"
_POLL_NO_PIDFD_MS = 100  # reaping by polling where pidfd_open is missing (Linux < 5.3)


# --------------------------------------------------------------------------- sandbox

# The Landlock ruleset built by the server (None before, a string if unavailable):
# a forked worker enters a domain of its own from the same rules.
_ruleset: landlock.Ruleset | str | None = None
_server_pid = 0


def landlock_state() -> str:
    """Restrict this process with the server's rules (building them first when this
    process is not a fork of the server): "abi N", or why Landlock is not in force."""
    global _ruleset
    from sanitize import landlock

    if _ruleset is None:
        _ruleset = landlock.Ruleset.build(readable_paths())
    if isinstance(_ruleset, str):
        return _ruleset
    state = _ruleset.restrict()
    if os.getpid() != _server_pid:
        _ruleset.close()  # a worker has no use for it once restricted
    return state


def readable_paths() -> list[str]:
    from sanitize import landlock

    return landlock.code_paths(os.path.dirname(os.path.realpath(sanitize.__file__)))


def _lock_down_server() -> dict[str, Any]:
    from sanitize import landlock, seccomp

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the pool decides when to stop
    global _server_pid
    _server_pid = os.getpid()
    fs = landlock_state()
    sc = seccomp.install()
    readable = list(_ruleset.paths) if isinstance(_ruleset, landlock.Ruleset) else []
    return {"landlock": fs, "seccomp": sc, "readable": readable}


# --------------------------------------------------------------------------- server


def _send(sock: socket.socket, msg: dict[str, Any], fds: list[int] = ()) -> None:  # type: ignore[assignment]
    data = json.dumps(msg).encode()
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.send(data)


def main(argv: list[str]) -> int:
    """The server process: ``argv`` is the worker module, the socket's fd and, from the
    command line, ``defer-fonts`` (``launch``)."""
    module_name, sock_fd = argv[0], int(argv[1])
    defer_fonts = argv[2:3] == ["defer-fonts"]
    sock = socket.socket(fileno=sock_fd)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # a library that prints goes to the log, as in a worker
    os.close(devnull)
    # No collections while importing: imports build objects that live as long as the
    # process, and there is nothing for the collector to find among them.
    gc.disable()
    module = importlib.import_module(module_name)
    from sanitize import worker
    problems = worker._preimport(defer_fonts)
    sandbox = _lock_down_server()
    # What the imports allocated stays untouched by the collector in every child: a
    # collection would write to (and so copy) the pages the children share.  No
    # gc.collect() first: a full collection of it all cost ~11 ms of every start, to
    # free the little garbage that imports leave.
    gc.freeze()
    gc.enable()
    _send(sock, {"op": "ready", "pid": os.getpid(), "sandbox": sandbox, "problems": problems})
    children: dict[int, int] = {}  # pidfd (or -pid without pidfds) -> pid
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    no_pidfd = False
    while True:
        events = poller.poll(_POLL_NO_PIDFD_MS if no_pidfd and children else None)
        for fd, _ in events:
            if fd == sock.fileno():
                try:
                    data, fds, _flags, _ = socket.recv_fds(sock, _MSG_MAX, 4)
                except OSError:
                    data, fds = b"", []
                if not data:
                    # The pool has gone: workers end when their pipes close.  No
                    # interpreter teardown (freeing what the imports built: the pool's
                    # close waited 18-35 ms for it): nothing here is left to flush.
                    sys.stderr.flush()
                    os._exit(0)
                try:
                    req = json.loads(data)
                except ValueError:
                    req = {}
                if (req.get("op") != "spawn" or len(fds) != 1
                        or not isinstance(req.get("config"), dict)):
                    for f in fds:
                        os.close(f)
                    continue
                pid, pidfd = _fork_worker(sock, module, json.dumps(req["config"]), fds[0],
                                          req.get("id"), children)
                if pidfd >= 0:
                    children[pidfd] = pid
                    poller.register(pidfd, select.POLLIN)
                else:
                    no_pidfd = True
                    children[-pid] = pid
            elif fd in children:
                poller.unregister(fd)
                pid = children.pop(fd)
                os.close(fd)
                _reap(sock, pid, 0)
        if no_pidfd:
            for key, pid in list(children.items()):
                if key < 0 and _reap(sock, pid, os.WNOHANG):
                    del children[key]


def _reap(sock: socket.socket, pid: int, flags: int) -> bool:
    try:
        got, status = os.waitpid(pid, flags)
    except ChildProcessError:
        return True
    if got == 0:
        return False
    _send(sock, {"op": "exited", "pid": pid, "rc": os.waitstatus_to_exitcode(status)})
    return True


def _fork_worker(sock: socket.socket, module: Any, cfg_json: str, job_fd: int,
                 req_id: Any, children: dict[int, int]) -> tuple[int, int]:
    """Fork one worker; send the pool its pipe ends and pidfd.  (pid, our pidfd)."""
    to_worker_r, to_worker_w = os.pipe2(os.O_CLOEXEC)
    from_worker_r, from_worker_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        status = 70
        try:
            sock.close()
            for fd in (*[k for k in children if k >= 0], to_worker_w, from_worker_r):
                os.close(fd)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            os.dup2(to_worker_r, 0)
            os.dup2(from_worker_w, 1)
            os.close(to_worker_r)
            os.close(from_worker_w)
            status = int(module.main([cfg_json, str(job_fd)]) or 0)
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(status)
    os.close(to_worker_r)
    os.close(from_worker_w)
    os.close(job_fd)
    try:
        pidfd = os.pidfd_open(pid)
        fds = [to_worker_w, from_worker_r, pidfd]
    except (AttributeError, OSError):
        pidfd = -1
        fds = [to_worker_w, from_worker_r]
    try:
        _send(sock, {"op": "spawned", "id": req_id, "pid": pid}, fds)
    except OSError:
        pass  # the pool is gone; the worker sees its pipe close and ends
    os.close(to_worker_w)
    os.close(from_worker_r)
    return pid, pidfd


# --------------------------------------------------------------------------- client


class ServerGone(OSError):
    """The fork server has stopped (or could not start)."""


class WorkerProcess:
    """A worker forked by the server, as the pool sees it: kill it, wait for it, its
    exit status (from the server)."""

    def __init__(self, pid: int, pidfd: int, server: ForkServer, gen: int) -> None:
        self.pid, self.pidfd, self._server, self._gen = pid, pidfd, server, gen
        self.returncode: int | None = None
        self.status_known = True

    def poll(self) -> int | None:
        if self.returncode is None:
            rc = self._server._status(self.pid)
            if rc is not None:
                self.returncode = rc
            elif self._exited_unreported():
                self.returncode, self.status_known = -signal.SIGKILL, False
        return self.returncode

    def kill(self) -> None:
        if self.poll() is not None:
            return
        try:
            if self.pidfd >= 0:
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            else:
                os.kill(self.pid, signal.SIGKILL)  # not reaped yet: the pid is still its
        except ProcessLookupError:
            pass

    def wait(self, timeout: float | None = None) -> int:
        """The exit status; ``subprocess.TimeoutExpired`` if it runs past ``timeout``.
        ``status_known`` is False when the server went before it could report it."""
        end = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            left = None if end is None else end - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0)
            self._server._wait_status(self.pid, 0.01 if left is None else min(left, 0.01),
                                      self._gen)
        assert self.returncode is not None
        return self.returncode

    def close(self) -> None:
        self._server._forget(self.pid)
        if self.pidfd >= 0:
            os.close(self.pidfd)
            self.pidfd = -1

    def _exited_unreported(self) -> bool:
        """Gone, with the server (which would report the status) gone too."""
        if self._server.alive(self._gen):
            return False
        if self.pidfd < 0:
            return True
        poller = select.poll()
        poller.register(self.pidfd, select.POLLIN)
        return bool(poller.poll(0))


def launch(worker_main: str = "sanitize.worker", *, wait: bool = True,
           defer_fonts: bool = False) -> ForkServer:
    """Start a fork server whose workers run ``worker_main`` (a module's ``main(argv)``,
    imported from the package root).  ``wait=False`` returns while it still imports:
    ``wait_ready`` (or the first ``spawn``) waits for it.  ``defer_fonts``: the server
    does not import fontTools (a quarter of its start); a worker imports it at its
    first embedded font (``sanitize.formats.pdf_fonts``).  For the command line, whose
    few workers live for one run; relayd's are ready for any file."""
    root = os.path.dirname(os.path.dirname(os.path.realpath(sanitize.__file__)))
    env = {"PATH": os.defpath, "LANG": "C.UTF-8", "GLIBC_TUNABLES": MALLOC_TUNABLES}
    # -I: no PYTHON* variables, no user site, no cwd on sys.path; the package root is
    # given explicitly, so the server and its workers run our code and only ours.  The
    # modules are arguments, not part of the code: names, never run as Python.
    boot = ("import importlib, sys; sys.path.insert(0, sys.argv[1]); "
            "sys.exit(importlib.import_module(sys.argv[2]).main(sys.argv[3:]))")
    server = ForkServer([sys.executable, "-I", "-c", boot, root], env, worker_main,
                        START_TIMEOUT_S, ("defer-fonts",) if defer_fonts else ())
    if wait:
        server.wait_ready()
    return server


class ForkServer:
    """The pool's handle on its fork server; ``spawn`` is thread-safe, and starts the
    server again if it has died.  It is launched at once; ``wait_ready`` waits for
    its imports (``spawn`` does, too)."""

    def __init__(self, argv_prefix: list[str], env: dict[str, str], worker_main: str,
                 start_timeout: float, options: tuple[str, ...] = ()) -> None:
        self._argv_prefix, self._env, self._options = argv_prefix, env, options
        self._worker_main = worker_main
        self._start_timeout = start_timeout
        self._lock = threading.Lock()  # one spawn at a time; (re)starting the server
        self._cond = threading.Condition()
        self._replies: dict[int, tuple[dict[str, Any], list[int]]] = {}
        self._statuses: dict[int, int | None] = {}  # pid -> rc once exited
        self._next_id = 0
        self._closed = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._alive = False
        self._gen = 0
        self.sandbox: dict[str, Any] = {}
        self.problems: list[str] = []
        # Launched, not yet "ready": (process, socket, when launched).
        self._launched: tuple[subprocess.Popen[bytes], socket.socket, float] | None = None
        self._launch()

    # -- lifecycle

    def _launch(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            proc = subprocess.Popen(
                [*self._argv_prefix, "sanitize.forkserver", self._worker_main,
                 str(theirs.fileno()), *self._options],
                stdin=subprocess.DEVNULL, env=self._env, close_fds=True,
                pass_fds=(theirs.fileno(),), cwd="/")
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._launched = (proc, ours, time.monotonic())

    def wait_ready(self) -> None:
        """Wait until the server launched has imported and locked itself down.
        ServerGone if it did not start (or was closed)."""
        with self._lock:
            self._await_ready()

    def _start(self) -> None:
        self._launch()
        self._await_ready()

    def _await_ready(self) -> None:
        if self._launched is None:
            if self._closed:
                raise ServerGone("the fork server is closed")
            return
        proc, ours, launched = self._launched
        self._launched = None
        poller = select.poll()
        poller.register(ours, select.POLLIN)
        ready: dict[str, Any] = {}
        left = max(0.0, launched + self._start_timeout - time.monotonic())
        if poller.poll(left * 1000):
            try:
                ready = json.loads(ours.recv(_MSG_MAX) or b"{}")
            except (OSError, ValueError):
                ready = {}
        if ready.get("op") != "ready":
            ours.close()
            proc.kill()
            proc.wait()
            raise ServerGone(f"the fork server did not start (exit status {proc.returncode})")
        self.sandbox = dict(ready.get("sandbox") or {})
        self.problems = [str(p) for p in ready.get("problems") or []]
        with self._cond:
            self._proc, self._sock, self._alive = proc, ours, True
            self._gen += 1
        threading.Thread(target=self._read, args=(ours, self._gen),
                         name="kakehashi-forkserver", daemon=True).start()

    def alive(self, gen: int | None = None) -> bool:
        """Whether the server (the one of generation ``gen``, if given) still runs."""
        return self._alive and (gen is None or gen == self._gen)

    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._launched is not None:
                # Still importing (a usage error on the command line): it holds
                # nothing yet, so it need not finish.
                proc, ours, _ = self._launched
                self._launched = None
                ours.close()
                proc.kill()
                proc.wait()
            self._stop()

    def _stop(self) -> None:
        sock, proc = self._sock, self._proc
        with self._cond:
            self._sock, self._proc, self._alive = None, None, False
            self._cond.notify_all()
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes the reader; the server sees EOF
            except OSError:
                pass
        if proc is not None:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if sock is not None:
            sock.close()

    # -- requests

    def spawn(self, job_fd: int, config: dict[str, Any]) -> tuple[WorkerProcess, int, int]:
        """Fork a worker sharing ``job_fd`` and running with ``config`` (the JSON form
        of its SanitizeConfig): (its process, the fd to write requests to, the fd to
        read replies from).  ServerGone if there is no server."""
        with self._lock:
            if self._closed:
                raise ServerGone("the fork server is closed")
            self._await_ready()
            if not self._alive:
                self._stop()  # reap the one that died
                self._start()  # ServerGone (or OSError) if it cannot
            sock, gen = self._sock, self._gen
            assert sock is not None
            self._next_id += 1
            req_id = self._next_id
            try:
                socket.send_fds(sock, [json.dumps({"op": "spawn", "id": req_id,
                                                   "config": config}).encode()], [job_fd])
            except OSError as exc:
                raise ServerGone(f"the fork server is gone: {exc}") from None
            with self._cond:
                end = time.monotonic() + self._start_timeout
                while req_id not in self._replies and self.alive(gen):
                    if not self._cond.wait(end - time.monotonic()):
                        break
                reply = self._replies.pop(req_id, None)
            if reply is None:
                raise ServerGone("the fork server did not answer")
            msg, fds = reply
            return (WorkerProcess(int(msg["pid"]), fds[2] if len(fds) > 2 else -1, self,
                                  gen), fds[0], fds[1])

    def _read(self, sock: socket.socket, gen: int) -> None:
        while True:
            try:
                data, fds, _flags, _ = socket.recv_fds(sock, _MSG_MAX, 4)
            except OSError:
                data, fds = b"", []
            if not data:
                with self._cond:
                    if self._gen == gen:
                        self._alive = False  # died: the next spawn starts another
                    self._cond.notify_all()
                return
            try:
                msg = json.loads(data)
            except ValueError:
                msg = {}
            with self._cond:
                if msg.get("op") == "spawned" and len(fds) >= 2:
                    self._replies[int(msg.get("id", -1))] = (msg, fds)
                    # Known before the spawner wakes: it may exit first.
                    self._statuses.setdefault(int(msg.get("pid", -1)), None)
                    fds = []
                elif msg.get("op") == "exited" and msg.get("pid") in self._statuses:
                    self._statuses[msg["pid"]] = int(msg.get("rc", -1))
                self._cond.notify_all()
            for f in fds:
                os.close(f)

    def _status(self, pid: int) -> int | None:
        with self._cond:
            return self._statuses.get(pid)

    def _wait_status(self, pid: int, timeout: float, gen: int) -> None:
        with self._cond:
            if self._statuses.get(pid) is None and self.alive(gen):
                self._cond.wait(timeout)
                return
        time.sleep(timeout)  # no server to report it: the caller polls the pidfd

    def _forget(self, pid: int) -> None:
        with self._cond:
            self._statuses.pop(pid, None)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
