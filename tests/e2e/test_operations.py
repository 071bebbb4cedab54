"""relayd as an operator runs it for years: the first admin's password in a root-only
file (never in the log), --version, --check-config naming every bad key, and SIGHUP
applying what it can and saying what needs a restart."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.harness import REPO, relayd, toml_dumps

pytestmark = pytest.mark.e2e


def run_relayd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "relay.main", *args], capture_output=True,
                          text=True, cwd=REPO, timeout=60)


def wait_for(r, text: str, timeout: float = 15.0) -> str:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = r.log()
        if text in log:
            return log
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not in the log:\n{r.log()}")


def test_the_first_admin_password_is_in_a_root_only_file_not_in_the_log(
        tmp_path: Path) -> None:
    with relayd(tmp_path, change_admin_password=False) as r:
        pw_file = r.state_dir / "initial-admin-password"
        assert stat.S_IMODE(os.stat(pw_file).st_mode) == 0o600
        password = pw_file.read_text(encoding="utf-8").strip()
        assert r.admin_password == password and len(password) >= 16
        log = r.log()
        assert password not in log
        assert f"its one-time password is in {pw_file}" in log
        reply = r.request_sync("lgwan", "POST", "/api/v1/login",
                               json={"login": "admin", "password": password})
        assert reply.status == 200


def test_version_and_check_config_name_every_bad_key(tmp_path: Path) -> None:
    v = run_relayd("--version")
    assert v.returncode == 0 and v.stdout.startswith("relayd ")
    bad = tmp_path / "bad.toml"
    bad.write_text('[http]\nmax_upload_bytes = 1\nprot = 3\n[listeners.internet]\n'
                   'port = "x"\n[log]\nformat = "xml"\n', encoding="utf-8")
    r = run_relayd("--check-config", "--config", str(bad))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert sorted(lines) == sorted([
        "relayd: config: http.max_upload_bytes: must be at least 1024",
        "relayd: config: http.prot: unknown key",
        "relayd: config: listeners.internet.port: expected an integer",
        "relayd: config: log.format: expected one of 'text', 'json'"])
    assert not (tmp_path / "var").exists()
    good = tmp_path / "good.toml"
    good.write_text(toml_dumps({"store": {"state_dir": str(tmp_path / "s")}}), encoding="utf-8")
    ok = run_relayd("--check-config", "--config", str(good))
    assert ok.returncode == 0 and "config OK" in ok.stdout
    assert not (tmp_path / "s").exists()  # checking touches nothing


def test_sighup_applies_what_it_can_and_names_what_needs_a_restart(tmp_path: Path) -> None:
    with relayd(tmp_path) as r:
        r.request_sync("lgwan", "GET", "/healthz")
        assert "relay.access" not in r.log()
        # One key that applies at once, one that needs a restart.
        cfg = r.config_path.read_text(encoding="utf-8").replace(
            "[store]\n", "[store]\nreaders = 2\n") + "[log]\nrequests = true\n"
        r.config_path.write_text(cfg, encoding="utf-8")
        r.signal(signal.SIGHUP)
        log = wait_for(r, "needs a restart")
        assert "config reloaded: log.requests" in log
        assert "needs a restart, running as before: store.readers" in log
        assert "TLS certificate reloaded" in log
        r.request_sync("lgwan", "GET", "/healthz")
        wait_for(r, "relay.access: lgwan GET /healthz 200")

        r.config_path.write_text(cfg + "[auth]\nsession_ttl_hours = -1\n", encoding="utf-8")
        r.signal(signal.SIGHUP)
        log = wait_for(r, "config reload refused")
        assert "auth.session_ttl_hours: must be at least 0.1" in log
        assert r.request_sync("lgwan", "GET", "/healthz").status == 200
