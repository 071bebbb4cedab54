"""The worker pool with real processes: verdicts through the pipes, crashes, timeouts,
memory and CPU limits, the seccomp filter, a lying worker, threads, and the trio door.

Misbehaviour is triggered by the hooks of ``tests.sanitize.worker_hooks``, a worker
module of the tests' own that a pool runs only when built with ``worker_main=HOOKS``."""

from __future__ import annotations

import io
import os
import platform
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from PIL import Image

from relay.disarm import disarm
from sanitize.config import SanitizeConfig
from sanitize import pool as pool_module
from sanitize.pool import PoolClosed, WorkerPool
from sanitize.report import Result, Verdict
from sanitize.jobfile import PAYLOAD_AT, JobFile
from sanitize.worker import Pipe, frame, max_output
from store.db import StatePaths
from store.facade import Store
from tests.store.conftest import config as store_config
from tests.sanitize.worker_hooks import HOOK_PREFIX, MAIN as HOOKS

ELF = b"\x7fELF\x02\x01\x01" + bytes(57)
PDF_HEAD = b"%PDF-1.7\n"
CFG = SanitizeConfig(timeout_s=2.0, memory_mib=512)


@pytest.fixture(scope="module")
def pool() -> WorkerPool:
    with WorkerPool(CFG, workers=2, worker_main=HOOKS) as p:
        yield p  # type: ignore[misc]


def hook(p: WorkerPool, name: str) -> Result:
    return p.run(PDF_HEAD + b"secret original bytes", HOOK_PREFIX + name)


def assert_blocked(result: Result, reason: str) -> None:
    assert result.verdict is Verdict.BLOCKED, result
    assert result.reason == reason, result
    assert result.output is None and result.output_name is None


def jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (0, 90, 0)).save(buf, "JPEG", exif=exif)
    return buf.getvalue()


def test_verdict_through_the_pool(pool: WorkerPool) -> None:
    result = pool.run(ELF, "report.pdf")
    assert_blocked(result, "executable")
    assert result.kind == "executable" and result.name_mismatch
    assert result.message_ja and result.message_en


def test_detect_only(pool: WorkerPool) -> None:
    assert pool.detect(ELF, "report.pdf") == "executable"
    assert pool.detect(jpeg(), "写真.jpg") == "jpeg"
    assert pool.detect(b"", "empty") != "executable"


def test_rebuilt_file_through_the_pool(pool: WorkerPool) -> None:
    pytest.importorskip("sanitize.formats.images")
    result = pool.run(jpeg(), "写真.jpg")
    assert result.verdict is Verdict.SANITIZED and result.output_name == "写真.jpg"
    assert result.output is not None
    with Image.open(io.BytesIO(result.output)) as im:
        assert im.size == (40, 30) and not im.getexif()


def test_killed_worker_blocks_that_file_and_is_replaced(pool: WorkerPool) -> None:
    result = hook(pool, "exit")
    assert_blocked(result, "worker_crashed")
    assert result.kind == "pdf"  # detected before it died
    # Both slots still serve (the dead one was replaced), several times over.
    for _ in range(4):
        assert_blocked(pool.run(ELF, "a"), "executable")


def test_segfault_is_worker_crashed(pool: WorkerPool) -> None:
    result = hook(pool, "segv")
    assert_blocked(result, "worker_crashed")
    assert "SIGSEGV" in result.detail
    assert_blocked(pool.run(ELF, "a"), "executable")


def test_wall_clock_timeout(pool: WorkerPool) -> None:
    assert_blocked(hook(pool, "sleep"), "timeout")
    assert_blocked(pool.run(ELF, "a"), "executable")


def test_cpu_limit_kills_a_spinning_worker() -> None:
    # Wall clock far away: only RLIMIT_CPU (SIGXCPU) can stop it.
    with WorkerPool(SanitizeConfig(timeout_s=60, cpu_s=1), workers=1, worker_main=HOOKS) as p:
        result = hook(p, "spin")
        assert_blocked(result, "timeout")
        assert "SIGXCPU" in result.detail
        assert_blocked(p.run(ELF, "a"), "executable")


def test_memory_bomb_hits_rlimit_as(pool: WorkerPool) -> None:
    assert_blocked(hook(pool, "alloc"), "limit_exceeded")


def test_lying_worker_never_hands_over_the_original(pool: WorkerPool) -> None:
    # "blocked" with the original attached: the bytes are dropped.
    assert_blocked(hook(pool, "lie"), "corrupt")
    # "clean" as an executable: refused, and the worker is not trusted again.
    assert_blocked(hook(pool, "lie_kind"), "worker_crashed")
    # Garbage instead of a frame.
    assert_blocked(hook(pool, "garbage"), "worker_crashed")
    assert_blocked(pool.run(ELF, "a"), "executable")


def test_sandbox_inside_a_worker(pool: WorkerPool) -> None:
    report = pool.probe()
    assert report["rlimit_as"] == [CFG.memory_mib * 1024 * 1024] * 2
    assert report["rlimit_core"] == [0, 0]
    assert report["rlimit_nofile"][0] <= 64
    # Files in memory (the job file, a PDF's memfd) escape RLIMIT_AS: capped on their own.
    assert report["rlimit_fsize"] == [PAYLOAD_AT + max_output(CFG)] * 2
    assert hook(pool, "flood").detail.startswith("refused: File too large")
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "aarch64"):
        pytest.skip("the seccomp filter is written for Linux x86_64/aarch64")
    assert pool.sandbox["seccomp"] == "filter"
    assert report["socket_inet"].startswith("denied")
    assert report["socket_unix"].startswith("denied")
    assert report["exec"] == "denied"


def test_hooks_are_off_by_default() -> None:
    with WorkerPool(CFG, workers=1) as p:
        # In a production worker the magic name is just a name: the content decides.
        assert_blocked(p.run(ELF, HOOK_PREFIX + "exit"), "executable")


def test_too_large_is_refused_before_a_worker_sees_it() -> None:
    with WorkerPool(SanitizeConfig(max_input_bytes=16), workers=1) as p:
        result = p.run(ELF, "a")
        assert_blocked(result, "too_large")
        assert result.kind == "unknown"


def test_many_threads_share_the_pool(pool: WorkerPool) -> None:
    results: dict[int, Result] = {}

    def job(i: int) -> None:
        results[i] = hook(pool, "exit") if i == 3 else pool.run(ELF, f"{i}.bin")

    threads = [threading.Thread(target=job, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(results) == 10
    assert results[3].reason == "worker_crashed"
    assert all(r.reason == "executable" for i, r in results.items() if i != 3)


def test_closed_pool_refuses() -> None:
    p = WorkerPool(CFG, workers=1)
    p.close()
    with pytest.raises(PoolClosed):
        p.run(ELF, "a")


async def test_async_door(pool: WorkerPool) -> None:
    with trio.fail_after(20):
        assert_blocked(await disarm(pool, ELF, "a.pdf"), "executable")
        # A cancelled caller is released at once, not after the worker's timeout...
        with trio.move_on_after(0.2) as scope:
            await disarm(pool, PDF_HEAD, HOOK_PREFIX + "sleep")
        assert scope.cancelled_caught
        # ...and the pool keeps serving.
        assert_blocked(await disarm(pool, ELF, "b.pdf"), "executable")


def test_failed_respawn_blocks_instead_of_hanging(monkeypatch: pytest.MonkeyPatch) -> None:
    # fork() failing (EAGAIN, ENOMEM) cannot be provoked safely on a shared machine, so
    # this one test makes the spawn fail: the pool must answer "blocked", never hang.
    with WorkerPool(CFG, workers=1, worker_main=HOOKS) as p:
        real_spawn = p._spawn

        def no_fork() -> object:
            raise BlockingIOError(11, "Resource temporarily unavailable")

        monkeypatch.setattr(p, "_spawn", no_fork)
        assert_blocked(hook(p, "exit"), "worker_crashed")  # its replacement fails too
        assert_blocked(p.run(ELF, "a"), "worker_crashed")  # no worker: blocked, at once
        monkeypatch.setattr(p, "_spawn", real_spawn)
        assert_blocked(p.run(ELF, "a"), "executable")  # the slot comes back


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _served_until_replaced(p: WorkerPool, old: int) -> list[int]:
    """Run jobs until the worker ``old`` is gone; the worker pid seen after each job."""
    seen = []
    for _ in range(20_000):  # a successor imports in well under a minute
        assert_blocked(p.run(ELF, "a"), "executable")
        seen.append(p.worker_pids()[0])
        if seen[-1] != old:
            return seen
    raise AssertionError("the worker was never retired")


@pytest.mark.skipif(platform.system() != "Linux", reason="reads /proc")
def test_worn_worker_is_retired_without_making_a_job_wait() -> None:
    with WorkerPool(CFG, workers=1, jobs_per_worker=3) as p:
        first = p.worker_pids()[0]
        seen = _served_until_replaced(p, first)
        # The successor was asked for after the third job; the old worker served the
        # fourth while it started (the pid is read after each job, once the pool has
        # put back the worker that served it, or its ready successor), then it was
        # stopped, not left behind.
        assert seen[:3] == [first] * 3 and len(seen) >= 4
        assert not _alive(first) and _alive(seen[-1])


@pytest.mark.skipif(platform.system() != "Linux", reason="reads /proc")
def test_worker_whose_memory_grew_is_retired() -> None:
    with WorkerPool(CFG, workers=1, worker_main=HOOKS, jobs_per_worker=10**9) as p:
        first = p.worker_pids()[0]
        assert_blocked(p.run(ELF, "a"), "executable")
        assert p.worker_pids() == [first]  # an ordinary job does not retire it
        assert_blocked(hook(p, "hold"), "internal_error")  # keeps half its memory limit
        seen = _served_until_replaced(p, first)
        assert not _alive(first) and _alive(seen[-1])


def _job_file_memory() -> list[int]:
    """Bytes of memory held by the pool's shared job files, as this process sees them."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("/memfd:kakehashi-job"):
                held.append(os.fstat(int(fd)).st_blocks * 512)
        except OSError:
            pass  # the directory's own descriptor, or one closed meanwhile
    return held


@pytest.mark.skipif(platform.system() != "Linux", reason="memfd and /proc")
def test_a_huge_file_does_not_keep_its_memory() -> None:
    with WorkerPool(CFG, workers=1) as p:
        huge = bytes(range(256)) * (160 * 1024)  # 40 MiB, refused at detect
        assert_blocked(p.run(huge, "disk.img"), "unknown_kind")
        assert max(_job_file_memory()) >= len(huge)
        assert_blocked(p.run(ELF, "a"), "executable")
        assert max(_job_file_memory()) < 1024 * 1024  # given back for the next file
        assert p.run(jpeg(), "a.jpg").verdict is Verdict.SANITIZED  # and still usable


@pytest.mark.skipif(platform.system() != "Linux", reason="memfd seals")
def test_a_worker_cannot_pull_the_job_file_from_under_the_pool(pool: WorkerPool) -> None:
    # relayd maps each job file: shrunk under that mapping, it would die of SIGBUS.
    assert hook(pool, "shrink").detail == "truncate refused, seal refused"
    photo = jpeg()
    result = pool.run(photo, "a.jpg")
    assert result.verdict is Verdict.SANITIZED
    with Image.open(io.BytesIO(result.output or b"")) as im:
        assert im.size == (40, 30) and not im.getexif()


def test_a_file_in_chunks_is_disarmed_like_the_whole_file(pool: WorkerPool) -> None:
    pytest.importorskip("sanitize.formats.images")
    data = jpeg()
    whole = pool.run(data, "写真.jpg")
    parts = pool.run((data[i:i + 100] for i in range(0, len(data), 100)), "写真.jpg")
    assert parts.verdict is whole.verdict is Verdict.SANITIZED
    assert parts.output == whole.output and parts.removed == whole.removed
    assert pool.detect(iter([ELF[:3], ELF[3:]]), "a.pdf") == "executable"


def test_run_to_hands_the_output_to_a_store_in_chunks(
        pool: WorkerPool, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("sanitize.formats.images")
    monkeypatch.setattr(pool_module, "OUTPUT_CHUNK", 100)
    data = jpeg()
    whole = pool.run(data, "写真.jpg")
    seen: list[bytes] = []

    def store(chunks: Iterator[bytes]) -> str:
        seen.extend(chunks)
        return "stored"

    result, stored = pool.run_to(data, "写真.jpg", store)
    assert stored == "stored" and result.output is None
    assert result.verdict is Verdict.SANITIZED and result.removed == whole.removed
    assert result.output_name == whole.output_name
    assert len(seen) > 1 and max(map(len, seen)) <= 100
    assert b"".join(seen) == whole.output
    # Blocked: the store is never called, whatever bytes the worker left.
    result, stored = pool.run_to(ELF, "a.pdf", store)
    assert_blocked(result, "executable")
    assert stored is None
    result, stored = pool.run_to(PDF_HEAD + b"original", HOOK_PREFIX + "lie", store)
    assert_blocked(result, "corrupt")
    assert stored is None and b"".join(seen) == whole.output  # not called again


def test_a_failing_store_reaches_the_caller_and_the_worker_stays() -> None:
    pytest.importorskip("sanitize.formats.images")

    def full_disk(chunks: Iterator[bytes]) -> None:
        next(chunks)
        raise OSError(28, "No space left on device")

    with WorkerPool(CFG, workers=1) as p:
        first = p.worker_pids()
        with pytest.raises(OSError, match="No space left"):
            p.run_to(jpeg(), "a.jpg", full_disk)
        assert p.run(jpeg(), "a.jpg").verdict is Verdict.SANITIZED
        assert p.worker_pids() == first


def test_chunks_over_the_limit_or_failing_to_read_leave_the_worker_in_service() -> None:
    cfg = SanitizeConfig(timeout_s=2.0, max_input_bytes=1000)
    with WorkerPool(cfg, workers=1) as p:
        assert_blocked(p.run(iter([bytes(600), bytes(600)]), "big.bin"), "too_large")

        def unreadable() -> Iterator[bytes]:
            yield b"%PDF-1.7\n"
            raise OSError(5, "Input/output error")  # the stored file cannot be read

        with pytest.raises(OSError):
            p.run(unreadable(), "a.pdf")
        # The one worker was neither lost nor kept busy: the next file goes through.
        assert p.worker_pids() and p.run(ELF, "a").reason == "executable"


def _landlock_here() -> bool:
    from sanitize import landlock
    try:
        return landlock.abi() >= 1
    except OSError:
        return False


def _reach(p: WorkerPool, paths: list[Path]) -> tuple[int, dict[str, str]]:
    """From inside a worker: read, write, create, rename, remove at each path.  The
    number of attempts, and those not refused ("<path>: <attempt>" -> outcome)."""
    import json
    from tests.sanitize.worker_hooks import REACH_HEAD
    result = p.run(REACH_HEAD + json.dumps([str(x) for x in paths]).encode(),
                   HOOK_PREFIX + "reach")
    reach = json.loads(result.detail)
    return reach["n"], {f"{paths[int(k.split(':')[0])]}: {k.split(':')[1]}": v
                        for k, v in reach["got"].items()}


@pytest.mark.skipif(not _landlock_here(), reason="Landlock is not available here")
def test_a_worker_can_neither_read_nor_write_the_state_directory(
        pool: WorkerPool, tmp_path: Path) -> None:
    # A real state directory: the database, the key files, a stored blob.
    state = tmp_path / "state"

    async def make() -> Path:
        store = await Store.open(store_config(state))
        try:
            return store.blobs.path(store.blobs.put(b"a stored original"))
        finally:
            await store.aclose()

    blob = trio.run(make)
    paths = StatePaths(state)
    files = [paths.db, paths.keys / "audit.key", paths.keys / "quarantine.key", blob]
    dirs = [state, paths.keys, paths.blobs, paths.quarantine, paths.tmp]
    assert all(f.is_file() for f in files) and all(d.is_dir() for d in dirs)
    before = {f: f.read_bytes() for f in files}
    # Outside it too: the tree relayd runs from and the system's files.
    source = Path(__file__).resolve().parents[2]
    others = [Path("/etc/passwd"), source / "README.md", source / "tests"]
    tried, allowed = _reach(pool, files + dirs + others)
    assert tried == 7 * (len(files) + 2) + 3 * (len(dirs) + 1) and allowed == {}
    assert {f: f.read_bytes() for f in files} == before
    assert not any(p.name.startswith("planted") for p in tmp_path.rglob("*"))
    # What a job needs still works: a file is disarmed in the same worker pool.
    assert pool.run(jpeg(), "写真.jpg").verdict is Verdict.SANITIZED
    assert pool.sandbox["landlock"].startswith("abi ")


def test_the_worker_reads_a_request_in_pieces_or_two_in_one_read() -> None:
    """The worker's end of the protocol over real pipes: a header longer than one read
    of the pipe, then two requests that arrive in one read, then the pool's close."""
    r, w = os.pipe()
    job = JobFile.create()
    job.write(PAYLOAD_AT, b"the file")
    pipe = Pipe(r, os.open(os.devnull, os.O_WRONLY), os.dup(job.fd))
    name = "住民票の写し" * 20_000  # ~360 KB of header: several reads of a 64 KiB pipe
    writer = threading.Thread(target=os.write, args=(w, frame({"op": "run", "name": name}, 8)))
    writer.start()
    header, data = pipe.read_frame()  # type: ignore[misc]
    writer.join()
    assert header["name"] == name and data == b"the file"
    os.write(w, frame({"op": "probe"}) + frame({"op": "detect", "name": "a.pdf"}, 3))
    assert pipe.read_frame() == ({"op": "probe", "size": 0}, b"")
    assert pipe.read_frame() == ({"op": "detect", "name": "a.pdf", "size": 3}, b"the")
    os.close(w)
    assert pipe.read_frame() is None
    job.close()
