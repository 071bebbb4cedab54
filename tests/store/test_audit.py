"""The audit chain: appends, paging, and tampering found at the right entry."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest
import trio

from store.facade import Store
from tests.store.conftest import TEST_TIMEOUT_S, config
from store.records import Audit

NOW = 1_800_000_000.0
COLS = "at, actor, action, subject, data, prev_mac, mac"


async def _five(store: Store) -> None:
    for i in range(1, 6):
        await store.record(Audit("login.ok" if i % 2 else "file.crossed", str(i), f"s{i}", {"n": i, "名前": "テスト"}), NOW + i)


def _edit(db: Path, sql: str, *args: object) -> None:
    with sqlite3.connect(db) as raw:
        raw.execute(sql, args)


def _swap(db: Path, x: int, y: int) -> None:
    with sqlite3.connect(db) as raw:
        rx = raw.execute(f"SELECT {COLS} FROM audit WHERE id = ?", (x,)).fetchone()
        ry = raw.execute(f"SELECT {COLS} FROM audit WHERE id = ?", (y,)).fetchone()
        sets = ", ".join(f"{c.strip()} = ?" for c in COLS.split(","))
        raw.execute(f"UPDATE audit SET {sets} WHERE id = ?", (*ry, x))
        raw.execute(f"UPDATE audit SET {sets} WHERE id = ?", (*rx, y))


async def test_appends_chain_and_page(store: Store) -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        assert await store.audit_verify() == (True, 0, None)
        await _five(store)
        entries = await store.audit_entries(0, 100)
        assert [e.id for e in entries] == [1, 2, 3, 4, 5]
        assert entries[0].prev_mac == "" and all(
            later.prev_mac == earlier.mac for earlier, later in zip(entries, entries[1:]))
        assert entries[2].data == {"n": 3, "名前": "テスト"}
        assert [e.id for e in await store.audit_entries(3, 1)] == [4]
        assert await store.audit_verify() == (True, 5, None)
        key = store.paths.keys / "audit.key"
        assert stat.S_IMODE(os.stat(key).st_mode) == 0o600


async def test_concurrent_appends_share_groups_and_still_chain(state_dir: Path) -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        store = await Store.open(config(state_dir, group_commit_ms=20.0))
        try:
            async with trio.open_nursery() as nursery:
                for i in range(50):
                    nursery.start_soon(store.record, Audit("admin.action", None, None, {"i": i}), NOW)
            assert await store.audit_verify() == (True, 50, None)
        finally:
            await store.aclose()


@pytest.mark.parametrize("tamper, first_bad", [
    (lambda db: _edit(db, "UPDATE audit SET data = ? WHERE id = 3", '{"n":33}'), 3),
    (lambda db: _edit(db, "UPDATE audit SET actor = 'mallory' WHERE id = 1"), 1),
    (lambda db: _edit(db, "UPDATE audit SET at = ? WHERE id = 5", "2020-01-01T00:00:00.000Z"), 5),
    (lambda db: _edit(db, "DELETE FROM audit WHERE id = 3"), 4),
    (lambda db: _edit(db, "DELETE FROM audit WHERE id = 1"), 2),
    (lambda db: _swap(db, 2, 3), 2),
    (lambda db: _swap(db, 4, 5), 4),
    # Cut off the end: every remaining link is fine, the head MAC is not.
    (lambda db: _edit(db, "DELETE FROM audit WHERE id >= 4"), 4),
], ids=["edit-data", "edit-actor", "edit-time", "delete-middle", "delete-first",
        "swap-2-3", "swap-4-5", "truncate"])
async def test_tampering_is_found_at_the_first_bad_entry(store: Store, tamper, first_bad) -> None:  # type: ignore[no-untyped-def]
    with trio.fail_after(TEST_TIMEOUT_S):
        await _five(store)
        tamper(store.paths.db)
        ok, _, bad = await store.audit_verify()
        assert not ok and bad == first_bad


async def test_a_different_key_does_not_verify(state_dir: Path) -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        store = await Store.open(config(state_dir))
        await _five(store)
        await store.aclose()
        (state_dir / "keys" / "audit.key").write_bytes(os.urandom(32))
        store = await Store.open(config(state_dir))
        try:
            assert await store.audit_verify() == (False, 5, 1)
        finally:
            await store.aclose()
