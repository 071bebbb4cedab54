"""The child side of the worker pool: one process, one job at a time, sandboxed.

Forked for ``sanitize.pool.WorkerPool`` by its fork server (``sanitize.forkserver``),
never started by hand.  The server has imported every format library (so no job pays
for it) and locked itself down: the seccomp filter of ``sanitize.seccomp`` (no
sockets, no exec, no writing to files) and Landlock read-only to its code
(``sanitize.landlock``).  Before reading any job the worker adds RLIMIT_AS,
RLIMIT_NOFILE, RLIMIT_CORE=0, RLIMIT_FSIZE and a Landlock domain of its own, and
ignores SIGINT (the parent decides when workers stop).  RLIMIT_CPU is re-armed
before each job as "CPU used so far + cpu_s".

Protocol.  Frames go over the inherited pipes (stdin: requests, stdout: replies; the
real fds 0 and 1 are then pointed at /dev/null and stderr so a library that prints
cannot corrupt it): a 4-byte big-endian length and a JSON header of that length.
Nothing is pickled in either direction.  The file and the rebuilt output do not go
through the pipe but through a shared in-memory file (``sanitize.jobfile``: a memfd
the pool creates per worker, its number in argv, mapped by both sides):
``header["size"]`` bytes at offset ``PAYLOAD_AT``.  One copy in, one copy out, and no
wake-up per 64 KiB of pipe, a large share of a PDF's whole job.  Its
first ``KIND_LEN`` bytes hold the kind the worker detected for the current job, which
the pool reads only if the worker dies or times out (a frame would wake the pool once
more per job).

    parent -> worker  {"op": "run", "name": str, "size": n, "linger": s}  (file in the memfd)
                      {"op": "detect", "name": str, "size": n}    (kind only, no disarm)
                      {"op": "scan", "name": str, "size": n, "kinds": [str]}
                                     (the 個人番号 check of its text: sanitize.extract)
                      {"op": "probe"}
                      ("linger": seconds to wait on the CPU for the next request
                       after replying, instead of sleeping; see Pipe.linger)
    worker -> parent  {"op": "ready", "pid", "sandbox": {...}}          (once, at start)
                      {"op": "result", verdict, kind, output_kind, removed, reason,
                       detail, name_mismatch, seconds, "size": n}  (the output in the memfd)
                      {"op": "detected", "kind"}                  (answer to "detect")
                      {"op": "scanned", "kind", "outcome", "found"} (masked numbers only)
                      {"op": "probe", ...}

The worker's RLIMIT_FSIZE caps what it can write to that file (or any memfd of its
own) at the largest output the pool accepts: files in memory are not counted by
RLIMIT_AS.

``main`` takes the function that runs one job (``run_job`` unless given another), so
a test module can start workers that wrap this loop (``WorkerPool(worker_main=...)``)
without this module knowing of it.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import select
import signal
import struct
import sys
import time
from dataclasses import fields
from typing import Any, Callable

from sanitize import extract, forkserver, seccomp
from sanitize.config import SanitizeConfig
from sanitize.detect import detect
from sanitize.engine import disarm_bytes
from sanitize.jobfile import KEEP_BYTES, KIND_LEN, PAYLOAD_AT, JobFile
from sanitize.report import Result

HEADER_MAX = 4 * 1024 * 1024  # a long "removed" list fits; anything bigger is abuse
# The Pillow plugins the engine opens and writes images with (formats.images._FORMAT;
# JPEG 2000 and fax images inside PDFs; MPO, which Pillow makes of a multi-picture
# JPEG), imported by name instead of ``Image.init()``: Pillow's ~35 other decoders are
# never loaded, so no file can reach them (every ``Image.open`` names its formats), and
# the fork server starts ~25 ms sooner.
PILLOW_PLUGINS = ("BmpImagePlugin", "GifImagePlugin", "JpegImagePlugin", "MpoImagePlugin",
                  "PngImagePlugin", "TiffImagePlugin", "WebPImagePlugin", "Jpeg2KImagePlugin")
PILLOW_BLOCKS = 6  # Pillow's cache of 16 MiB image blocks, per worker (see _preimport)
# The longest a worker stays on its CPU after a reply, waiting for the next request
# (the pool asks for it only when a CPU is spare; see WorkerPool._call).
LINGER_MAX_S = 0.001
_LEN = struct.Struct(">I")
_NOFILE = 64


# One encoder and one decoder for every frame: json.dumps(ensure_ascii=False) builds an
# encoder per call, and json.loads sniffs the encoding of bytes, on every frame.
_encode = json.JSONEncoder(ensure_ascii=False).encode
_decode = json.JSONDecoder().decode


def frame(header: dict[str, Any], size: int = 0) -> bytes:
    """A frame: length prefix and JSON header (``size`` payload bytes in the job file)."""
    head = _encode({**header, "size": size}).encode()
    return _LEN.pack(len(head)) + head


def parse_header(raw: bytes | bytearray) -> Any:
    """A frame's JSON header; ValueError if it is not UTF-8 JSON."""
    return _decode(raw.decode())


def max_output(cfg: SanitizeConfig) -> int:
    """The largest output a worker may hand back (the pool refuses more)."""
    return max(cfg.max_expanded_bytes, 2 * cfg.max_input_bytes)


def config_to_json(cfg: SanitizeConfig) -> str:
    return json.dumps({f.name: getattr(cfg, f.name) for f in fields(cfg)})


def config_from_json(text: str) -> SanitizeConfig:
    return SanitizeConfig(**json.loads(text))


def result_header(result: Result) -> dict[str, Any]:
    """What the worker sends for a Result (the parent rebuilds names and messages)."""
    return {
        "op": "result", "verdict": result.verdict.value, "kind": result.kind,
        "output_kind": result.output_kind, "reason": result.reason,
        "detail": result.detail, "name_mismatch": result.name_mismatch,
        "seconds": result.seconds,
        "removed": [[r.code, r.detail] for r in result.removed],
    }


# --------------------------------------------------------------------------- pipes


def spin(poller: select.poll, seconds: float) -> bool:
    """Wait up to ``seconds`` for ``poller`` to be ready without leaving the CPU; True
    if it is.  Both ends of the pipe wait so for a reply or a request that is near.

    A CPU that goes idle and is woken again costs more than a short job on a VM (the
    halt, the wake-up interrupt, caches the host has used meanwhile): ~0.05 ms each
    way, a tenth of a small .xls.  Yielding on each turn hands the CPU at once to
    anything else that wants it, so the wait only uses time nobody else needs."""
    end = time.monotonic() + seconds
    while not poller.poll(0):
        if time.monotonic() >= end:
            return False
        os.sched_yield()
    return True


class Pipe:
    """The worker's end of the protocol: request frames in, replies out, and the job
    file they name."""

    def __init__(self, rfd: int, wfd: int, jobfd: int) -> None:
        self.rfd, self.wfd = rfd, wfd
        # Mapped up to KEEP_BYTES: bigger files are copied with pread/pwrite, so the
        # mapping never takes much of RLIMIT_AS from the job.
        self.job = JobFile(jobfd, map_max=PAYLOAD_AT + KEEP_BYTES)
        self._poller = select.poll()
        self._poller.register(rfd, select.POLLIN)

    def linger(self, seconds: float) -> None:
        """Wait up to ``seconds`` for the next request without leaving the CPU."""
        spin(self._poller, seconds)

    def read_exact(self, n: int) -> bytes | None:
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:
            k = os.readv(self.rfd, [view[got:]])
            if k == 0:
                return None  # the parent closed the pipe: time to go
            got += k
        return bytes(buf)

    def read_frame(self) -> tuple[dict[str, Any], bytes] | None:
        raw = self.read_exact(_LEN.size)
        if raw is None:
            return None
        (n,) = _LEN.unpack(raw)
        if n > HEADER_MAX:
            raise ValueError("request header too large")
        head = self.read_exact(n)
        if head is None:
            return None
        header = parse_header(head)
        size = int(header.get("size", 0))
        return header, self.job.read(PAYLOAD_AT, size) if size else b""

    def send(self, header: dict[str, Any], payload: bytes = b"") -> None:
        if payload:
            self.job.write(PAYLOAD_AT, payload)
        view = memoryview(frame(header, len(payload)))
        while view:
            view = view[os.write(self.wfd, view):]

    def announce(self, kind: str) -> None:
        """Leave the detected kind where the pool looks if this job never returns."""
        self.job.write(0, kind.encode("ascii", "replace")[:KIND_LEN].ljust(KIND_LEN, b"\0"))


# --------------------------------------------------------------------------- sandbox


_warmed: list[str] | None = None  # the problems, once warm (a fork of the server is)


def _preimport(defer_fonts: bool = False) -> list[str]:
    """Import every format library now, before the sandbox and before any job;
    fontTools too unless ``defer_fonts`` (``sanitize.formats.pdf_fonts.load``)."""
    global _warmed
    if _warmed is not None:
        return _warmed
    problems: list[str] = []
    import zipfile, zlib, socket, ctypes  # noqa: E401,F401 - warm imports for jobs/probe
    from sanitize.formats import module_for
    try:
        module_for("\0")  # matches nothing, so it imports every format module present
    except Exception as exc:  # a broken module only blocks its own kinds, per job
        problems.append(f"formats: {type(exc).__name__}: {exc}")
    if not defer_fonts:
        try:
            from sanitize.formats import pdf_fonts
            pdf_fonts.load()
        except Exception as exc:
            problems.append(f"fontTools: {exc}")
    for name in ("pikepdf", "PIL.Image", "lxml.etree", "olefile"):
        try:
            __import__(name)
        except Exception as exc:
            problems.append(f"{name}: {exc}")
    try:
        from PIL import Image
        for plugin in PILLOW_PLUGINS:  # registered now rather than on the first image
            importlib.import_module(f"PIL.{plugin}")
        # Keep freed image memory for the next job instead of handing it back: a 12 MP
        # photo needs two 48 MB images (decoded, then turned upright), and faulting in
        # fresh pages for them was much of its disarm time.  At most
        # PILLOW_BLOCKS x 16 MiB stay resident (the pool's retirement allows for it).
        Image.core.set_blocks_max(PILLOW_BLOCKS)
    except Exception as exc:
        problems.append(f"PIL plugins: {exc}")
    detect(b"%PDF-1.7\n", "warm.pdf")  # loads libmagic's database (opens files)
    _warmed = problems
    return problems


def _lock_down(cfg: SanitizeConfig) -> dict[str, Any]:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    fsize = PAYLOAD_AT + max_output(cfg)
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    resource.setrlimit(resource.RLIMIT_NOFILE, (_NOFILE, _NOFILE))
    mem = cfg.memory_mib * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Both inherited from the fork server; Landlock once more, for a domain of this
    # worker's own (sanitize.forkserver).
    state = seccomp.install()
    fs = forkserver.landlock_state()
    return {"seccomp": state, "denied": list(seccomp.denied_syscalls()) if state == "filter"
            else [], "landlock": fs, "memory_mib": cfg.memory_mib, "nofile": _NOFILE,
            "core": 0, "fsize": fsize}


def _arm_cpu_limit(cfg: SanitizeConfig) -> None:
    # RLIMIT_CPU counts the whole life of the process, so each job gets "used + cpu_s".
    use = resource.getrusage(resource.RUSAGE_SELF)
    soft = int(use.ru_utime + use.ru_stime) + 1 + cfg.cpu_s
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    resource.setrlimit(resource.RLIMIT_CPU, (soft if hard == resource.RLIM_INFINITY
                                             else min(soft, hard), hard))


def probe() -> dict[str, Any]:
    """What a job would meet in this worker: for the operator and the tests."""
    import socket
    out: dict[str, Any] = {}
    for label, fam in (("socket_inet", socket.AF_INET), ("socket_unix", socket.AF_UNIX)):
        try:
            socket.socket(fam, socket.SOCK_STREAM).close()
            out[label] = "allowed"
        except OSError as exc:
            out[label] = f"denied: {exc.strerror}"
    try:
        # A path that does not exist: ENOENT if exec is allowed, EPERM if filtered;
        # either way nothing runs.
        os.execv("/nonexistent/kakehashi-probe", ["probe"])
    except OSError as exc:
        out["exec"] = "denied" if exc.errno in (1, 13) else f"allowed ({exc.strerror})"
    for name in ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_CORE", "RLIMIT_NOFILE", "RLIMIT_FSIZE"):
        out[name.lower()] = list(resource.getrlimit(getattr(resource, name)))
    return out


# --------------------------------------------------------------------------- jobs


def run_job(pipe: Pipe, cfg: SanitizeConfig, name: str, data: bytes) -> None:
    """Disarm one file and send the result (the pool blanked the kind when it wrote
    the request)."""
    result = disarm_bytes(data, name, cfg, on_detect=lambda d: pipe.announce(d.kind))
    pipe.send(result_header(result), result.output or b"")


# run_job's shape: (pipe, config, declared name, file) -> None, the reply sent.
JobRunner = Callable[[Pipe, SanitizeConfig, str, bytes], None]


def main(argv: list[str], run: JobRunner = run_job) -> int:
    """The worker process: ``argv`` is the config as JSON and the job file's fd."""
    cfg = config_from_json(argv[0])
    # Keep the protocol on private fds; fd 0 and 1 become harmless for libraries.
    pipe = Pipe(os.dup(0), os.dup(1), int(argv[1]))
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    problems = _preimport()
    sandbox = _lock_down(cfg)
    pipe.send({"op": "ready", "pid": os.getpid(), "sandbox": sandbox, "problems": problems})
    linger = 0.0
    while True:
        if linger:
            pipe.linger(linger)
        frame = pipe.read_frame()
        if frame is None:
            return 0
        header, payload = frame
        try:
            linger = min(max(float(header.get("linger") or 0), 0.0), LINGER_MAX_S)
        except (TypeError, ValueError):
            linger = 0.0
        if header.get("op") == "probe":
            pipe.send({"op": "probe", **probe()})
        elif header.get("op") == "run":
            _arm_cpu_limit(cfg)
            run(pipe, cfg, str(header.get("name", "")), payload)
        elif header.get("op") == "scan":  # the 個人番号 check of a file leaving LGWAN
            _arm_cpu_limit(cfg)
            pipe.send(extract.scan_reply(payload, header, cfg, pipe.announce))
        elif header.get("op") == "detect":
            _arm_cpu_limit(cfg)
            try:
                kind = detect(payload, str(header.get("name", ""))).kind
            except Exception:  # detect copes with damage itself; anything else: no answer
                kind = "unknown"
            pipe.send({"op": "detected", "kind": kind})


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
