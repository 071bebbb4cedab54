"""The writer thread on its own: one group, one failing op, the others committed."""

from __future__ import annotations

import threading
from pathlib import Path

import sqlite_utils

from store.db import connect
from store.migrations import migrate
from store.errors import StoreUnavailable
from store.writer import Op, Writer


def _insert(db: sqlite_utils.Database, name: str) -> int:
    cur = db.conn.execute("INSERT INTO accounts (login, kind, created_at) VALUES (?, 'staff', '')",
                          (name,))
    return int(cur.lastrowid or 0)


def _fail_after_writing(db: sqlite_utils.Database) -> None:
    _insert(db, "ghost")
    raise ValueError("refused")


def test_failing_op_is_rolled_back_alone_within_one_group(tmp_path: Path) -> None:
    db = connect(tmp_path / "w.db")
    migrate(db)
    batches: list[list[Op]] = []
    all_done = threading.Event()

    def notify(batch: list[Op]) -> None:
        batches.append(batch)
        for op in batch:
            op.done.set()
        if sum(len(b) for b in batches) == 5:
            all_done.set()

    writer = Writer(db, group_commit_ms=0.0, group_max=100, notify=notify)
    ops = [Op(_insert, ("a",), threading.Event()), Op(_insert, ("b",), threading.Event()),
           Op(_fail_after_writing, (), threading.Event()),
           Op(_insert, ("a",), threading.Event()),  # UNIQUE violation: fails alone too
           Op(_insert, ("c",), threading.Event())]
    for op in ops:  # queued before the thread starts: they must form one group
        writer.submit(op)
    writer.start()
    assert all_done.wait(10)
    writer.stop()
    assert len(batches) == 1
    assert [op.error is None for op in ops] == [True, True, False, False, True]
    assert isinstance(ops[2].error, ValueError)
    check = connect(tmp_path / "w.db", readonly=True)
    logins = [r[0] for r in check.conn.execute("SELECT login FROM accounts ORDER BY id")]
    assert logins == ["a", "b", "c"]
    check.conn.close()
    try:
        writer.submit(Op(_insert, ("d",), threading.Event()))
    except StoreUnavailable:
        pass
    else:
        raise AssertionError("a stopped writer must refuse work")
