"""The walls around a disarm worker, each on its own: the seccomp filter without
Landlock (what a kernel before 5.13 gets), Landlock without the filter, the fork
server locked down like its workers, and a worker kept from signalling the others.

Each wall is tried in a forked child of the test process (so the test process keeps
its own file system) on real files in a temporary directory."""

from __future__ import annotations

import json
import os
import platform
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from sanitize import landlock, seccomp
from sanitize.config import SanitizeConfig
from sanitize.pool import WorkerPool
from tests.sanitize.worker_hooks import HOOK_PREFIX, MAIN as HOOKS, REACH_HEAD

LINUX_SECCOMP = platform.system() == "Linux" and platform.machine() in ("x86_64", "aarch64")


def _landlock_abi() -> int:
    try:
        return landlock.abi()
    except OSError:
        return 0


def _in_child(setup: Callable[[], str],
              attempts: dict[str, Callable[[], object]]) -> dict[str, str]:
    """Fork; in the child run ``setup`` (it must say it succeeded), then each attempt:
    "done" or the errno's name, sent back as JSON."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            out = {"setup": setup()}
            for name, attempt in attempts.items():
                try:
                    attempt()
                    out[name] = "done"
                except OSError as exc:
                    out[name] = __import__("errno").errorcode.get(exc.errno, str(exc))
            os.write(w, json.dumps(out).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    return json.loads(data)


def _file_attempts(d: Path) -> dict[str, Callable[[], object]]:
    secret = d / "kakehashi.db"
    return {
        "read": lambda: secret.read_bytes(),
        "write": lambda: os.close(os.open(secret, os.O_WRONLY)),
        "append": lambda: os.close(os.open(secret, os.O_WRONLY | os.O_APPEND)),
        "create": lambda: os.close(os.open(d / "new", os.O_WRONLY | os.O_CREAT, 0o600)),
        "truncate": lambda: os.truncate(secret, 0),
        "rename": lambda: os.rename(secret, d / "moved"),
        "unlink": lambda: os.unlink(secret),
        "mkdir": lambda: os.mkdir(d / "dir"),
        "symlink": lambda: os.symlink(secret, d / "link"),
        "memfd": lambda: os.close(os.memfd_create("job")),  # files in memory stay allowed
    }


@pytest.mark.skipif(not LINUX_SECCOMP, reason="the filter is written for Linux x86_64/aarch64")
def test_without_landlock_the_seccomp_filter_alone_refuses_every_write(tmp_path: Path) -> None:
    (tmp_path / "kakehashi.db").write_bytes(b"SQLite format 3\0")
    got = _in_child(seccomp.install, _file_attempts(tmp_path))
    assert got.pop("setup") == "filter"
    # Reading is what the filter cannot take away: Landlock does that.
    assert got.pop("read") == "done" and got.pop("memfd") == "done"
    assert set(got.values()) == {"EPERM"}, got
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kakehashi.db"]
    assert (tmp_path / "kakehashi.db").read_bytes() == b"SQLite format 3\0"


@pytest.mark.skipif(_landlock_abi() < 1, reason="Landlock is not available here")
def test_landlock_alone_allows_reading_only_the_code_and_writing_nothing(tmp_path: Path) -> None:
    code, state = tmp_path / "code", tmp_path / "state"
    code.mkdir()
    state.mkdir()
    (code / "module.py").write_text("x = 1\n")
    (state / "kakehashi.db").write_bytes(b"SQLite format 3\0")
    attempts = {**_file_attempts(state), "read code": lambda: (code / "module.py").read_text(),
                "write code": lambda: os.close(os.open(code / "module.py", os.O_WRONLY))}

    def restrict() -> str:
        ruleset = landlock.Ruleset.build([str(code)])
        assert not isinstance(ruleset, str), ruleset
        return ruleset.restrict()

    got = _in_child(restrict, attempts)
    assert got.pop("setup").startswith("abi ")
    assert got.pop("read code") == "done" and got.pop("memfd") == "done"
    assert set(got.values()) == {"EACCES"}, got
    assert sorted(p.name for p in state.iterdir()) == ["kakehashi.db"]


def _status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


@pytest.mark.skipif(not LINUX_SECCOMP or _landlock_abi() < 1,
                    reason="seccomp and Landlock on Linux")
def test_the_fork_server_is_locked_down_like_its_workers() -> None:
    with WorkerPool(SanitizeConfig(), workers=1) as p:
        server = p._server
        assert server.sandbox["landlock"].startswith("abi ")
        assert server.sandbox["seccomp"] == "filter"
        assert not any(path.rstrip("/") in ("", str(Path.home()), "/etc", "/var", "/tmp")
                       for path in server.sandbox["readable"])
        for pid in (server.pid(), *p.worker_pids()):
            assert pid is not None
            st = _status(pid)
            assert st["NoNewPrivs"].strip() == "1" and st["Seccomp"].strip() == "2"
        assert p.sandbox["landlock"] == server.sandbox["landlock"]


@pytest.mark.skipif(_landlock_abi() < 6, reason="Landlock signal scoping needs ABI 6")
def test_a_worker_cannot_signal_the_other_workers_the_server_or_relayd() -> None:
    with WorkerPool(SanitizeConfig(timeout_s=5.0), workers=2, worker_main=HOOKS) as p:
        targets = [*p.worker_pids(), p._server.pid(), os.getpid()]
        result = p.run(REACH_HEAD + json.dumps(targets).encode(), HOOK_PREFIX + "signal")
        got = json.loads(result.detail)
        # One of the two workers ran the job: signalling itself is its own business.
        mine = [pid for pid in p.worker_pids() if got[str(pid)] == "done"]
        assert len(mine) == 1, got
        assert {k: v for k, v in got.items() if k != str(mine[0])} == {
            str(pid): "EPERM" for pid in targets if pid != mine[0]}
        os.kill(mine[0], signal.SIGCONT)  # relayd, outside, still can


def test_code_in_a_checkout_under_the_temp_dir_stays_readable(tmp_path: Path) -> None:
    # CI clones into a folder that may be under /tmp: the package there is code, and a
    # module imported late (a verify step) must still be readable; the temp directory
    # itself, where state directories are, is never granted whole.
    from sanitize import landlock
    package = tmp_path / "checkout" / "sanitize"
    package.mkdir(parents=True)
    paths = landlock.code_paths(str(package))
    assert str(package.resolve()) in paths
    assert tempfile.gettempdir() not in paths and str(tmp_path) not in paths
    assert str((tmp_path / "checkout").resolve()) not in paths  # the tree around it
