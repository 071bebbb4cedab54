"""relayd's start and its messages to systemd: a state directory it cannot use stops it
with one line, and a supervisor that stops reading cannot freeze it.

The notify socket is a real AF_UNIX datagram socket; relayd is a real process."""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import trio

from relay.main import sd_notify
from store.config import StoreConfig
from store.db import StatePaths
from store.facade import Store
from store.migrations import SCHEMA_VERSION

REPO = Path(__file__).resolve().parents[2]
# relayd refuses within a second or two; an old relayd that starts instead is killed.
START_TIMEOUT_S = 30
SEND_TIMEOUT_S = 5
# What a relayd started by the test must not inherit from a systemd-run pytest.
_SYSTEMD_ENV = ("NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
                "WATCHDOG_USEC", "WATCHDOG_PID", "CREDENTIALS_DIRECTORY")


# ------------------------------------------------------------------------ sd_notify


def _full_notify_socket(path: Path) -> socket.socket:
    """A bound datagram socket nobody reads, its queue filled to the brim."""
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(path))
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as filler:
        filler.connect(str(path))
        filler.setblocking(False)
        try:
            while True:
                filler.send(b"WATCHDOG=1")
        except BlockingIOError:
            pass
    return receiver


def test_sd_notify_reaches_the_supervisor(tmp_path: Path) -> None:
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as receiver:
        receiver.bind(str(path))
        receiver.settimeout(SEND_TIMEOUT_S)
        assert sd_notify("READY=1\nSTATUS=ok", {"NOTIFY_SOCKET": str(path)}) is True
        assert receiver.recv(4096) == b"READY=1\nSTATUS=ok"
    assert sd_notify("READY=1", {}) is False


def test_sd_notify_drops_the_message_when_the_supervisor_stops_reading(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "notify"
    receiver = _full_notify_socket(path)
    results: list[bool] = []
    sender = threading.Thread(
        target=lambda: results.append(sd_notify("WATCHDOG=1", {"NOTIFY_SOCKET": str(path)})),
        daemon=True)
    try:
        with caplog.at_level(logging.DEBUG, logger="relay.main"):
            sender.start()
            sender.join(SEND_TIMEOUT_S)
            assert not sender.is_alive(), "sd_notify blocked on a full notify socket"
        assert results == [False]
        assert "dropped" in caplog.text
    finally:
        receiver.close()  # wakes a sender still blocked in send()
        sender.join(SEND_TIMEOUT_S)


# ------------------------------------------------------------------------ refusing to start


def _config(tmp_path: Path, state_dir: Path) -> Path:
    path = tmp_path / "relayd.toml"
    path.write_text(
        "[listeners.lgwan]\nhost = \"127.0.0.1\"\nport = 0\n"
        "[listeners.internet]\nhost = \"127.0.0.1\"\nport = 0\n"
        f"[store]\nstate_dir = \"{state_dir}\"\npassword_memory_kib = 64\n", encoding="utf-8")
    return path


def _damage(db: Path, how: str) -> None:
    if how == "not_a_database":
        db.write_bytes(b"this is not a database\n" * 200)
    elif how == "schema_too_new":
        with sqlite3.connect(db) as raw:
            raw.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
        raw.close()
    elif how == "database_corrupt":  # one page overwritten
        with sqlite3.connect(db) as raw:
            raw.execute("CREATE TABLE filler (id INTEGER PRIMARY KEY, v BLOB)")
            raw.execute("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n "
                        "WHERE x < 2000) INSERT INTO filler (v) SELECT randomblob(300) FROM n")
        raw.close()
        pages = db.stat().st_size // 4096
        with open(db, "r+b") as f:
            f.seek(4096 * (pages - 3))
            f.write(os.urandom(4096))


@pytest.mark.parametrize("how", ["not_a_database", "schema_too_new", "database_corrupt"])
def test_relayd_refuses_an_unusable_database_with_one_line(tmp_path: Path, how: str) -> None:
    state_dir = tmp_path / "state"

    async def make() -> None:
        await (await Store.open(StoreConfig(state_dir=str(state_dir), password_memory_kib=64))).aclose()
    trio.run(make)
    _damage(StatePaths(state_dir).db, how)

    proc = subprocess.run([sys.executable, "-m", "relay.main", "--config",
                           str(_config(tmp_path, state_dir))], cwd=REPO, capture_output=True,
                          timeout=START_TIMEOUT_S,
                          env={k: v for k, v in os.environ.items() if k not in _SYSTEMD_ENV})
    lines = proc.stderr.decode("utf-8", "replace").splitlines()
    assert proc.returncode == 1, lines
    assert len(lines) == 1 and lines[0].startswith("relayd: cannot start: "), lines
    assert str(StatePaths(state_dir).db) in lines[0]
    assert lines[0].endswith(f"[{how}]")  # the code, as relayctl and the docs give it
