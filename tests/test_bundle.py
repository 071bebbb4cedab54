"""The offline bundle (.ci/bundle.py): built from the lock on a machine that reaches
PyPI (or from pip's cache of it), then installed by its own install.sh inside a network
namespace that has no interface but a loopback that is down: a host with no network.
The installed relayd and relayctl run there, and the venv holds exactly what was
locked.

Building needs PyPI once (later runs are served from pip's cache); the namespace needs
root and iproute2, and the test is skipped with the reason otherwise.
"""

from __future__ import annotations

import configparser
import importlib.util
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parent.parent
LOCK = REPO / "conf" / "requirements.lock"

pytestmark = pytest.mark.bundle


def bundle_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kk_bundle", REPO / ".ci" / "bundle.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def locked_pins(text: str) -> dict[str, str]:
    return {re.sub(r"[-_.]+", "-", m.group(1)).lower(): m.group(2)
            for m in re.finditer(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+) \\$", text, re.M)}


@pytest.fixture
def offline_ns() -> Iterator[str]:
    if sys.platform != "linux":
        pytest.skip("network namespaces are Linux only")
    if os.geteuid() != 0:
        pytest.skip("needs root to create a network namespace without network")
    if shutil.which("ip") is None:
        pytest.skip("needs iproute2's `ip` (.ci/bootstrap test installs it)")
    name = f"kkb-{os.getpid()}-{secrets.token_hex(2)}"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"network namespaces not permitted here: {made.stderr.strip()}")
    try:
        yield name
    finally:
        for pid in subprocess.run(["ip", "netns", "pids", name], capture_output=True,
                                  text=True).stdout.split():
            subprocess.run(["kill", "-9", pid], capture_output=True)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def test_every_dependency_in_the_locks_is_pinned_with_hashes() -> None:
    for lock in (LOCK, REPO / "conf" / "requirements-test.lock"):
        text = lock.read_text(encoding="utf-8")
        blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 6)[-1])
        reqs = [b for b in blocks if "==" in b.split("\n", 1)[0]]
        assert len(reqs) == len(locked_pins(text)) > 20, lock
        for block in reqs:
            assert "--hash=sha256:" in block, block.split("\n", 1)[0]
    main = locked_pins(LOCK.read_text(encoding="utf-8"))
    test = locked_pins((REPO / "conf" / "requirements-test.lock").read_text(encoding="utf-8"))
    # The test lock is the install lock plus the test tools, at the same versions.
    assert {k: test.get(k) for k in main} == main
    # Every dependency setup.cfg declares is locked (a new one needs
    # `bash .ci/bootstrap lock`, or CI would install something else than declared).
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg", encoding="utf-8")

    def declared(text: str) -> set[str]:
        return {re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9._-]+", line.strip())
                       .group(0)).lower()  # type: ignore[union-attr]
                for line in text.splitlines() if line.strip() and not line.strip().startswith("#")}
    assert declared(cfg["options"]["install_requires"]) <= set(main)
    assert declared(cfg["options.extras_require"]["test"]) <= set(test) - set(main)


def test_a_wheel_built_from_a_checked_sdist_gets_its_hash_in_the_bundles_lock() -> None:
    lock = ("foo-bar==1.0 \\\n    --hash=sha256:aaaa\n    # via kakehashi\n"
            "baz==2.0 \\\n    --hash=sha256:bbbb\n")
    out = bundle_module().add_hashes(lock, {"foo-bar": "cccc"})
    assert out == ("foo-bar==1.0 \\\n    --hash=sha256:cccc \\\n    --hash=sha256:aaaa\n"
                   "    # via kakehashi\nbaz==2.0 \\\n    --hash=sha256:bbbb\n")


def test_the_bundle_installs_on_a_host_with_no_network(offline_ns: str, tmp_path: Path) -> None:
    dest = tmp_path / "bundle"
    built = subprocess.run([sys.executable, str(REPO / ".ci" / "bundle.py"), str(dest)],
                           capture_output=True, text=True, timeout=300, cwd=REPO)
    assert built.returncode == 0, built.stdout + built.stderr
    assert len(list(dest.glob("kakehashi-*.whl"))) == 1
    assert {p.name for p in dest.iterdir()} >= {"install.sh", "requirements.lock", "wheels",
                                                 "SHA256SUMS", "BUNDLE.txt", "systemd"}
    sums = subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=dest,
                          capture_output=True, text=True)
    assert sums.returncode == 0, sums.stdout + sums.stderr

    def inside(*cmd: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", offline_ns, *cmd], capture_output=True,
                              text=True, timeout=timeout, cwd=tmp_path)

    # "No network": the namespace's only interface is a loopback that is down, so
    # nothing, not even 127.0.0.1, can be reached from it.
    links = inside("ip", "-o", "link").stdout.strip().splitlines()
    assert len(links) == 1 and ": lo:" in links[0] and "UP" not in links[0].split(">")[0]
    probe = inside(sys.executable, "-c",
                   "import socket\ntry:\n socket.create_connection(('192.0.2.1', 443), 3)\n"
                   " print('connected')\nexcept OSError as e:\n print(e.errno)")
    assert probe.stdout.strip() != "connected", probe

    venv = tmp_path / "venv"
    installed = inside("sh", str(dest / "install.sh"), str(venv))
    assert installed.returncode == 0, installed.stdout + installed.stderr
    version = inside(str(venv / "bin" / "relayd"), "--version")
    assert version.returncode == 0 and re.fullmatch(r"relayd \d+\.\d+\.\d+\n", version.stdout), \
        version
    helped = inside(str(venv / "bin" / "relayctl"), "--help")
    assert helped.returncode == 0 and "relayctl" in helped.stdout and "account" in helped.stdout

    # Exactly what was locked, nothing more.
    frozen = inside(str(venv / "bin" / "python"), "-m", "pip", "list", "--format=freeze",
                    "--exclude-editable")
    have = {re.sub(r"[-_.]+", "-", n).lower(): v for n, _, v in
            (line.partition("==") for line in frozen.stdout.split())}
    assert have.pop("kakehashi") == version.stdout.split()[1]
    have.pop("setuptools", None)  # what `python -m venv` puts there, not installed by us
    assert have == locked_pins(LOCK.read_text(encoding="utf-8"))
