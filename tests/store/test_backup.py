"""Migrations at open, backup while running, restore into a new directory."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import trio

from store import backup as backup_mod
from store.db import DB_NAME
from store.errors import SchemaTooNew
from store.facade import Store
from store.migrations import SCHEMA_VERSION
from tests.store.conftest import TEST_TIMEOUT_S, config
from tests.audits import SETUP
from store.records import Audit

NOW = 1_800_000_000.0


def _pragmas(db: Path) -> tuple[int, str]:
    with sqlite3.connect(db) as raw:
        return (raw.execute("PRAGMA user_version").fetchone()[0],
                raw.execute("PRAGMA journal_mode").fetchone()[0])


async def test_migrations_apply_once_and_reopen_is_idempotent(state_dir: Path) -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        store = await Store.open(config(state_dir))
        a = await store.create_account("a", "pw", "admin", "", audit=SETUP, now=NOW)
        await store.aclose()
        assert _pragmas(state_dir / DB_NAME) == (SCHEMA_VERSION, "wal")
        for _ in range(2):
            store = await Store.open(config(state_dir))
            assert await store.get_account(a.id) == a
            await store.aclose()
        assert _pragmas(state_dir / DB_NAME) == (SCHEMA_VERSION, "wal")


async def test_a_newer_database_is_refused(state_dir: Path) -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        await (await Store.open(config(state_dir))).aclose()
        with sqlite3.connect(state_dir / DB_NAME) as raw:
            raw.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
        with pytest.raises(SchemaTooNew, match="newer"):
            await Store.open(config(state_dir))


async def test_backup_while_writing_then_restore_finds_everything(tmp_path: Path,
                                                                   state_dir: Path) -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        store = await Store.open(config(state_dir))
        a = await store.create_account("a", "pw", "staff", "", audit=SETUP, now=NOW)
        b = await store.create_account("b", "pw", "external", "", audit=SETUP, now=NOW)
        room = await store.create_room("r", "group", [b.id], a.id, NOW, audit=SETUP)
        for i in range(20):
            await store.post_message(room.id, a.id, f"m{i}", "lgwan", f"c{i}", NOW)
        async with await store.open_upload(True, 1 << 20) as up:
            await up.write(b"original from the internet")
            q_sha, q_size = await up.commit()
        fmsg, _ = await store.post_file(room.id, b.id, "internet", "a.txt", q_size, q_sha, "txt",
                                        "ready", None, NOW)
        v_sha = await trio.to_thread.run_sync(store.blobs.put, b"sanitized")
        await store.finish_attachment(fmsg.attachments[0].id, "ready", {}, v_sha, 9, "a.txt", audit=None, now=NOW)
        await store.record(Audit("backup.test", a.id, None, {"k": 1}), NOW)

        dest = tmp_path / "backup"
        stop_writing = trio.Event()

        async def keep_writing() -> None:
            i = 0
            while not stop_writing.is_set():
                await store.post_message(room.id, b.id, f"live{i}", "internet", None, NOW)
                i += 1

        async with trio.open_nursery() as nursery:
            nursery.start_soon(keep_writing)
            await trio.to_thread.run_sync(backup_mod.backup, store, dest)
            stop_writing.set()
        await store.aclose()

        with pytest.raises(FileExistsError):
            backup_mod.backup(state_dir, dest)  # never over an earlier backup
        restored_dir = tmp_path / "restored"
        backup_mod.restore(dest, restored_dir)
        with pytest.raises(FileExistsError):
            backup_mod.restore(dest, restored_dir)

        restored = await Store.open(config(restored_dir))
        try:
            assert await restored.check_password("a", "pw", 0.0) is not None
            history = await restored.history(room.id, None, 200)
            bodies = [m.body for m in history]
            assert [f"m{i}" for i in range(20)] == bodies[:20]
            got_file = await restored.get_message(fmsg.id)
            assert got_file.attachments[0].sanitized_sha256 == v_sha
            assert restored.quarantine.read_bytes(q_sha) == b"original from the internet"
            assert restored.blobs.path(v_sha).read_bytes() == b"sanitized"
            assert await restored.audit_verify() == (True, 4, None)  # three set-up entries and ours
            # Idempotency survives the restore too.
            again, created = await restored.post_message(room.id, a.id, "x", "lgwan", "c3", NOW)
            assert not created and again.body == "m3"
        finally:
            await restored.aclose()


async def test_an_older_database_is_upgraded_in_place(state_dir: Path) -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        from store.db import StatePaths, connect
        from store.keys import load_key
        from store.migrations import MIGRATIONS
        paths = StatePaths(state_dir)
        paths.ensure()
        for name in ("audit", "quarantine"):  # the keys it was made with
            load_key(paths.keys, name)
        old = connect(state_dir / DB_NAME)
        old.conn.execute("BEGIN")
        MIGRATIONS[0](old)
        old.conn.execute("PRAGMA user_version=1")
        old.conn.execute("INSERT INTO accounts (login, kind, created_at) VALUES ('old', 'staff', '')")
        old.conn.execute("COMMIT")
        old.conn.close()
        store = await Store.open(config(state_dir))
        try:
            assert (await store.get_account_by_login("old")).id == "1"
            assert await store.original_requests(None) == []  # the v2 table exists
        finally:
            await store.aclose()
        assert _pragmas(state_dir / DB_NAME)[0] == SCHEMA_VERSION
