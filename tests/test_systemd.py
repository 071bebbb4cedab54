"""The shipped systemd units: hardened (offline exposure score <= 1.0) and valid.

Skipped only where systemd-analyze is absent (the bootstrap installs it on Debian).
"""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parent.parent / "systemd"
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze not installed")


def read_unit(name: str) -> configparser.RawConfigParser:
    cp = configparser.RawConfigParser(strict=False, interpolation=None)
    cp.optionxform = str  # type: ignore[assignment,method-assign]
    cp.read(UNITS / name, encoding="utf-8")
    return cp


@needs_analyze
def test_exposure_score_at_most_one() -> None:
    out = subprocess.run(
        [ANALYZE, "security", "--offline=true", "--no-pager", str(UNITS / "relayd.service")],
        capture_output=True, text=True, timeout=60,
    )
    m = re.search(r"Overall exposure level for relayd\.service: ([0-9.]+)", out.stdout)
    assert m, out.stdout + out.stderr
    assert float(m.group(1)) <= 1.0, out.stdout


@needs_analyze
def test_units_verify_clean(tmp_path: Path) -> None:
    # The unit names the installed path (/opt/kakehashi/...); verify checks that the
    # binary exists, so point ExecStart at this checkout's relayd and change nothing else.
    relayd = Path(sys.executable).parent / "relayd"
    assert relayd.exists(), "relayd console script not installed in this environment"
    for unit in UNITS.iterdir():
        text = unit.read_text(encoding="utf-8")
        (tmp_path / unit.name).write_text(
            text.replace("/opt/kakehashi/.venv/bin/relayd", str(relayd)), encoding="utf-8")
    names = sorted(str(p) for p in tmp_path.iterdir())
    out = subprocess.run([ANALYZE, "verify", *names], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "" and out.stderr.strip() == "", (
        out.stdout + out.stderr)


def test_one_socket_per_zone_named_for_relayd() -> None:
    names = {}
    for zone in ("lgwan", "internet"):
        sock = read_unit(f"relayd-{zone}.socket")
        assert sock.get("Socket", "Service") == "relayd.service"
        names[zone] = sock.get("Socket", "FileDescriptorName")
    assert names == {"lgwan": "lgwan", "internet": "internet"}


def test_service_is_notify_with_watchdog_and_no_network_of_its_own() -> None:
    svc = read_unit("relayd.service")["Service"]
    assert svc["Type"] == "notify"
    assert svc["WatchdogSec"]
    # Listeners arrive by socket activation, so the service runs without a network.
    assert svc["PrivateNetwork"] == "yes"
    assert svc["RestrictAddressFamilies"] == "AF_UNIX"
    assert svc["DynamicUser"] == "yes" and svc["ProtectSystem"] == "strict"
    assert svc["MemoryDenyWriteExecute"] == "yes"
