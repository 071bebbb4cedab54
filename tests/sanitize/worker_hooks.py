"""A disarm worker that misbehaves on request, for the pool's tests.

``WorkerPool(cfg, worker_main=MAIN)`` starts its workers from this module: each runs
the production worker loop (``sanitize.worker.main``, sandbox and all), but a job whose
name is ``HOOK_PREFIX + <hook>`` misbehaves on purpose (exit, segv, sleep, spin, alloc,
lie, lie_kind, hold, flood, shrink, garbage, reach, signal) so the tests can check that
the parent fails closed and what a compromised worker can reach.  Any other name is
disarmed as production does.  Production code never imports this module; in a
production worker such a name is an ordinary file name.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import select
import sys
from typing import Callable

from sanitize.config import SanitizeConfig
from sanitize.detect import detect
from sanitize.engine import blocked, reason_for
from sanitize.jobfile import PAYLOAD_AT
from sanitize.worker import Pipe, main as worker_main, max_output, result_header, run_job

MAIN = __name__
HOOK_PREFIX = "__test_hook__="
REACH_HEAD = b"%PDF-1.7\n"  # then a JSON list of paths for the "reach" hook

# What the "hold" hook keeps, for the life of the worker (a leak).
_HELD: list[bytearray] = []


def run_job_or_hook(pipe: Pipe, cfg: SanitizeConfig, name: str, data: bytes) -> None:
    if name.startswith(HOOK_PREFIX):
        _hook(pipe, cfg, name[len(HOOK_PREFIX):], data)
    else:
        run_job(pipe, cfg, name, data)


def _hook(pipe: Pipe, cfg: SanitizeConfig, hook: str, data: bytes) -> None:
    pipe.announce(detect(data, "x").kind)
    if hook == "exit":
        os._exit(70)
    elif hook == "segv":
        import ctypes
        ctypes.string_at(0)
    elif hook == "sleep":
        _hang(pipe)
    elif hook == "spin":
        while True:
            pass
    elif hook == "alloc":
        try:
            hog = bytearray(2 * cfg.memory_mib * 1024 * 1024)
            result = blocked("unknown", "internal_error", f"allocated {len(hog)}: no RLIMIT_AS")
        except MemoryError as exc:
            result = blocked("unknown", *reason_for(exc))
        pipe.send(result_header(result))
    elif hook == "lie":  # a compromised worker: "blocked", yet the original attached
        pipe.send({**result_header(blocked("pdf", "corrupt")), "output_kind": "pdf"}, data)
    elif hook == "lie_kind":  # a compromised worker: "clean", as an executable
        pipe.send({**result_header(blocked("executable", "corrupt")), "verdict": "clean",
                   "reason": None, "output_kind": "executable"}, data)
    elif hook == "hold":  # a leak: keep half the memory limit, touched
        _HELD.append(bytearray(b"\x01") * (cfg.memory_mib * 1024 * 1024 // 2))
        pipe.send(result_header(blocked("unknown", "internal_error", "held memory")))
    elif hook == "flood":  # fill a file in memory past the output cap (not in RLIMIT_AS)
        fd = os.memfd_create("flood")
        try:
            os.pwrite(fd, b"x", max_output(cfg) + PAYLOAD_AT)
            detail = "wrote past the cap"
        except OSError as exc:
            detail = f"refused: {exc.strerror}"
        os.close(fd)
        pipe.send(result_header(blocked("unknown", "internal_error", detail)))
    elif hook == "shrink":  # a compromised worker: pull the job file from under the pool
        outcome = []
        for what, attempt in (("truncate", lambda: os.ftruncate(pipe.job.fd, 0)),
                              ("seal", lambda: fcntl.fcntl(pipe.job.fd, fcntl.F_ADD_SEALS,
                                                           fcntl.F_SEAL_GROW))):
            try:
                attempt()
                outcome.append(f"{what} done")
            except OSError:
                outcome.append(f"{what} refused")
        pipe.send(result_header(blocked("unknown", "internal_error", ", ".join(outcome))))
    elif hook == "reach":  # a compromised worker: what of the file system can it touch?
        # Only what was not refused is named (the detail is short): {"n": attempts,
        # "got": {"<index of the path>:<attempt>": "done" or the errno's name}}.
        tried, got = 0, {}
        for i, path in enumerate(json.loads(data[len(REACH_HEAD):])):
            for what, outcome in _try_everything(path).items():
                tried += 1
                if outcome not in ("EACCES", "EPERM"):
                    got[f"{i}:{what}"] = outcome
        reach = json.dumps({"n": tried, "got": got})
        pipe.send(result_header(blocked("unknown", "internal_error", reach)))
    elif hook == "signal":  # a compromised worker: can it signal these processes?
        got = {}
        for pid in json.loads(data[len(REACH_HEAD):]):
            try:
                os.kill(pid, 0)  # the check a signal goes through, without the signal
                got[pid] = "done"
            except OSError as exc:
                got[pid] = errno.errorcode.get(exc.errno or 0, str(exc))
        pipe.send(result_header(blocked("unknown", "internal_error", json.dumps(got))))
    elif hook == "garbage":
        os.write(pipe.wfd, b"\xff\xff\xff\xffnot a frame")
        _hang(pipe)


def _try_everything(path: str) -> dict[str, str]:
    """Read, write, create, rename and remove at ``path``: "done" or the error."""
    out: dict[str, str] = {}
    is_dir = os.path.isdir(path)
    new = os.path.join(path if is_dir else os.path.dirname(path), "planted")
    attempts: list[tuple[str, Callable[[], object]]] = [
        ("read", (lambda: os.listdir(path)) if is_dir else (lambda: _read(path))),
        ("create", lambda: os.close(os.open(new, os.O_WRONLY | os.O_CREAT | os.O_EXCL))),
        ("mkdir", lambda: os.mkdir(new + ".d")),
    ]
    if not is_dir:
        attempts += [("write", lambda: os.close(os.open(path, os.O_WRONLY | os.O_APPEND))),
                     ("truncate", lambda: os.truncate(path, 0)),
                     ("rename", lambda: os.rename(path, new)),
                     ("unlink", lambda: os.unlink(path))]
    for what, attempt in attempts:
        try:
            attempt()
            out[what] = "done"
        except OSError as exc:
            out[what] = errno.errorcode.get(exc.errno or 0, str(exc))
    return out


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read(16)


def _hang(pipe: Pipe) -> None:
    """Never answer, like a worker stuck in a parser, but go when the pool does: its
    end of the pipe closing wakes the poll (a test that abandons its wait, then
    exits, must not leave a worker behind for an hour)."""
    poller = select.poll()
    poller.register(pipe.rfd, select.POLLIN)
    poller.poll(3600 * 1000)  # the pool sends nothing while it waits for a reply
    os._exit(0)


def main(argv: list[str]) -> int:
    return worker_main(argv, run=run_job_or_hook)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
