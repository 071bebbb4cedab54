"""Opening a state directory: what may be created, what is refused, and in what words.

Real state directories in tmp_path, real SQLite files, damaged by hand."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import threading
import time
from pathlib import Path

import pytest
import sqlite_utils
import trio

from store.db import StatePaths, connect
from store.errors import (
    DatabaseCorrupt, KeyMissing, NoState, NotADatabase, SchemaTooNew, StateUnusable,
    StoreUnavailable,
)
from store.facade import Store
from store.keys import load_key
from store.migrations import SCHEMA_VERSION, migrate
from store.state import quick_check
from store.writer import Op, Writer
from tests.store.conftest import TEST_TIMEOUT_S, config


async def _make_state(state_dir: Path) -> None:
    await (await Store.open(config(state_dir))).aclose()


def _one_line(err: BaseException) -> str:
    text = str(err)
    assert "\n" not in text and " / " in text  # Japanese, then English
    return text


def _fill(db_path: Path, rows: int) -> None:
    """Pages of data beyond the schema, for damage and for the check to read."""
    with sqlite3.connect(db_path) as raw:
        raw.execute("CREATE TABLE filler (id INTEGER PRIMARY KEY, v BLOB)")
        raw.execute("CREATE INDEX filler_v ON filler(v)")
        raw.execute("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n "
                    f"WHERE x < {rows}) INSERT INTO filler (v) SELECT randomblob(300) FROM n")
    raw.close()


# ------------------------------------------------------------------------ keys


async def test_a_new_database_gets_new_private_keys(state_dir: Path) -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        await _make_state(state_dir)
    for name in ("audit", "quarantine"):
        key = state_dir / "keys" / f"{name}.key"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(key.read_bytes()) == 32
    assert stat.S_IMODE((state_dir / "keys").stat().st_mode) == 0o700


async def test_no_key_is_made_next_to_an_existing_database(
        tmp_path: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Installed as documented: the keys come from systemd's credentials directory.
    creds = tmp_path / "creds"
    creds.mkdir()
    for name in ("audit", "quarantine"):
        (creds / f"{name}.key").write_bytes(os.urandom(32))
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    with trio.fail_after(TEST_TIMEOUT_S):
        await _make_state(state_dir)
        assert list((state_dir / "keys").iterdir()) == []
        # relayctl run by hand, without the credentials.
        monkeypatch.delenv("CREDENTIALS_DIRECTORY")
        with pytest.raises(KeyMissing) as info:
            await Store.open(config(state_dir))
    text = _one_line(info.value)
    assert "credentials directory" in text and str(state_dir / "keys" / "audit.key") in text
    assert info.value.code == "key_missing"
    assert list((state_dir / "keys").iterdir()) == []  # nothing minted

    # With the credentials directory set but the key not in it, both places are named.
    other = tmp_path / "other-creds"
    other.mkdir()
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(other))
    with trio.fail_after(TEST_TIMEOUT_S), pytest.raises(KeyMissing) as info:
        await Store.open(config(state_dir))
    assert str(other / "audit.key") in str(info.value)
    assert str(state_dir / "keys" / "audit.key") in str(info.value)


async def test_a_key_file_named_in_the_config_must_be_there(tmp_path: Path,
                                                           state_dir: Path) -> None:
    missing = tmp_path / "etc" / "audit.key"
    with trio.fail_after(TEST_TIMEOUT_S), pytest.raises(KeyMissing) as info:
        await Store.open(config(state_dir, audit_key_file=str(missing)))
    assert str(missing) in _one_line(info.value)


def test_load_key_without_create_refuses_and_with_create_makes(tmp_path: Path) -> None:
    with pytest.raises(KeyMissing):
        load_key(tmp_path / "keys", "audit", create=False)
    assert not (tmp_path / "keys").exists()
    made = load_key(tmp_path / "keys", "audit")
    assert load_key(tmp_path / "keys", "audit", create=False) == made


# ------------------------------------------------------------------------ no state


async def test_without_create_a_missing_state_is_refused_and_nothing_is_made(
        tmp_path: Path) -> None:
    state_dir = tmp_path / "var"
    with trio.fail_after(TEST_TIMEOUT_S), pytest.raises(NoState) as info:
        await Store.open(config(state_dir), create=False)
    assert str(state_dir) in _one_line(info.value) and info.value.code == "no_state"
    assert not state_dir.exists()
    # A directory with no database in it (or an empty file) is no state either.
    StatePaths(state_dir).ensure()
    (state_dir / "kakehashi.db").touch()
    with trio.fail_after(TEST_TIMEOUT_S), pytest.raises(NoState):
        await Store.open(config(state_dir), create=False)
    assert list((state_dir / "keys").iterdir()) == []


async def test_without_create_an_existing_state_opens(state_dir: Path) -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        await _make_state(state_dir)
        store = await Store.open(config(state_dir), create=False)
        await store.aclose()


# ------------------------------------------------------------------------ damage


async def test_a_file_that_is_not_a_database_is_refused_in_one_line(state_dir: Path) -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        await _make_state(state_dir)
        (state_dir / "kakehashi.db").write_bytes(b"PK\x03\x04 not a database at all\n" * 100)
        with pytest.raises(NotADatabase) as info:
            await Store.open(config(state_dir))
    assert str(state_dir / "kakehashi.db") in _one_line(info.value)
    assert isinstance(info.value, StateUnusable) and info.value.code == "not_a_database"


async def test_a_newer_schema_is_refused_in_one_line(state_dir: Path) -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        await _make_state(state_dir)
        with sqlite3.connect(state_dir / "kakehashi.db") as raw:
            raw.execute(f"PRAGMA user_version={SCHEMA_VERSION + 5}")
        raw.close()
        with pytest.raises(SchemaTooNew) as info:
            await Store.open(config(state_dir))
    assert f"version {SCHEMA_VERSION + 5}" in _one_line(info.value)


async def test_a_damaged_database_is_refused_at_open(state_dir: Path) -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        await _make_state(state_dir)
        db = state_dir / "kakehashi.db"
        _fill(db, 2000)
        pages = db.stat().st_size // 4096
        with open(db, "r+b") as f:  # one page near the end overwritten
            f.seek(4096 * (pages - 3))
            f.write(os.urandom(4096))
        with pytest.raises(DatabaseCorrupt) as info:
            await Store.open(config(state_dir))
    assert str(db) in _one_line(info.value) and info.value.code == "database_corrupt"


def test_the_quick_check_stops_at_its_bound(tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "big.db"
    _fill(db, 40_000)  # about 30 MB: tens of milliseconds to check in full
    assert quick_check(db, bound_s=30.0) is True
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="store.state"):
        assert quick_check(db, bound_s=0.001) is False
    assert time.monotonic() - started < 1.0
    assert "quick check stopped" in caplog.text


async def test_a_check_cut_short_does_not_stop_the_open(
        state_dir: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        await _make_state(state_dir)
        _fill(state_dir / "kakehashi.db", 40_000)
        monkeypatch.setattr("store.state.CHECK_BOUND_S", 0.001)
        with caplog.at_level(logging.WARNING, logger="store.state"):
            store = await Store.open(config(state_dir))
        assert "quick check stopped" in caplog.text
        assert await store.healthy()
        await store.aclose()


# ------------------------------------------------------------------------ health, logs


async def test_healthy_while_open_and_not_after_close(state_dir: Path) -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        store = await Store.open(config(state_dir))
        assert await store.healthy() is True
        await store.aclose()
        assert await store.healthy() is False


def _bad_sql(db: sqlite_utils.Database) -> None:
    db.conn.execute("INSERT INTO no_such_table VALUES (1)")


async def test_a_failing_read_or_write_is_logged_once_at_error(
        state_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        store = await Store.open(config(state_dir))
        try:
            with caplog.at_level(logging.ERROR):
                with pytest.raises(StoreUnavailable):
                    await store._write(_bad_sql)
                with pytest.raises(StoreUnavailable):
                    await store._read(_bad_sql)
        finally:
            await store.aclose()
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.name for r in errors] == ["store.writer", "store.facade"]
    assert all("no_such_table" in r.getMessage() for r in errors)


def test_a_lost_group_is_logged_once_not_per_waiter(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "w.db"
    db = connect(path)
    migrate(db)
    db.conn.execute("PRAGMA busy_timeout=50")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    done = threading.Event()

    def notify(batch: list[Op]) -> None:
        done.set()

    writer = Writer(db, group_commit_ms=0.0, group_max=100, notify=notify)
    ops = [Op(_bad_sql, (), None) for _ in range(5)]
    for op in ops:  # queued before the thread starts: one group
        writer.submit(op)
    with caplog.at_level(logging.ERROR, logger="store.writer"):
        writer.start()
        assert done.wait(10)
        writer.stop()
    holder.execute("ROLLBACK")
    holder.close()
    assert all(isinstance(op.error, StoreUnavailable) for op in ops)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "5 write(s)" in errors[0].getMessage()
