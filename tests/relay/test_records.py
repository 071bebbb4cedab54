"""Records (公文書): retention per room kind with a floor, the export of a room for a
disclosure request (CSV and PDF), the audit export with its MACs, and the usage
report — on real SQLite stores in tmp dirs, with relayctl run as an operator runs it."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pikepdf
import pytest
import trio

from relay import config, control, records
from relay.commands import Context
from relay.config import Config
from relay.hub import Hub
from relay.records_config import RecordsConfig
from store import audit as audit_log
from store.config import StoreConfig
from store.errors import FileNotFound
from store.facade import Store
from store.keys import load_key
from store.records import Audit

REPO = Path(__file__).resolve().parents[2]
DAY = 86400.0
# Monday 2027-04-05 10:00 JST: ISO week 2027-W14.
T0 = 1806886800.0
SETUP = Audit("test.setup", None, None, {})


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


def make_cfg(tmp_path: Path, **records_kw: int) -> Config:
    return Config(store=StoreConfig(state_dir=str(tmp_path / "state"), password_memory_kib=64),
                  records=RecordsConfig(**records_kw))


async def op(ctx: Context, operation: str, **args: Any) -> dict[str, Any]:
    reply = await control.execute(ctx, {"op": operation, "args": args})
    assert "ok" in reply, reply
    return reply["ok"]  # type: ignore[no-any-return]


async def stored_file(store: Store, room: str, sender: str, data: bytes, name: str,
                      now: float) -> tuple[str, str]:
    async with await store.open_upload(False, 1 << 20) as up:
        await up.write(data)
        sha, size = await up.commit()
        msg, _ = await store.post_file(room, sender, "lgwan", name, size, sha, "pdf", "ready",
                                       None, now)
    return msg.id, sha


def run(cfg: Config, fn: Callable[[Context, Clock], Any]) -> Any:
    async def main() -> Any:
        async with await Store.open(cfg.store) as store:
            clock = Clock()
            return await fn(Context(cfg, store, Hub(16), clock), clock)
    return trio.run(main)


# --------------------------------------------------------------------------- config


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "relayd.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_a_retention_below_the_records_minimum_is_refused_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError) as caught:
        config.load(write(tmp_path, "[records]\ngroup_messages_days = 30\n"))
    assert caught.value.path == "records.group_messages_days"
    assert "records.minimum_days" in str(caught.value)
    with pytest.raises(config.ConfigError) as caught:
        config.load(write(tmp_path, "[store]\nretention_days = 90\n"))
    assert caught.value.path == "store.retention_days"
    ok = config.load(write(tmp_path, "[records]\nminimum_days = 0\ndirect_files_days = 30\n"))
    assert ok.records.plan(ok.store.retention_days)["direct"] == (0, 30)
    assert config.Config().records.plan(365)["group"] == (0, 365)  # the default keeps texts


def test_relayd_check_config_refuses_a_short_retention(tmp_path: Path) -> None:
    path = write(tmp_path, "[records]\nminimum_days = 400\ndepartment_files_days = 365\n")
    r = subprocess.run([sys.executable, "-m", "relay.main", "--check-config", "--config",
                        str(path)], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert r.returncode == 2
    assert "records.department_files_days" in r.stderr and "400" in r.stderr


# --------------------------------------------------------------------------- retention


def test_retention_empties_group_messages_keeps_direct_ones_and_the_floor(tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path, group_messages_days=400, group_files_days=400)

    async def go(ctx: Context, clock: Clock) -> None:
        store = ctx.store
        a = await store.create_account("tanaka", None, "staff", "田中", audit=SETUP, now=T0)
        b = await store.create_account("suzuki", None, "staff", "鈴木", audit=SETUP, now=T0)
        group = await store.create_room("総務", "group", [a.id, b.id], a.id, T0, audit=SETUP)
        direct = await store.create_room("", "direct", [a.id, b.id], a.id, T0, audit=SETUP)
        old, _ = await store.post_message(group.id, a.id, "古い連絡", "lgwan", None, T0)
        edited, _ = await store.post_message(group.id, a.id, "初版", "lgwan", None, T0)
        await store.edit_message(edited.id, a.id, "改訂版", (), T0 + 100 * DAY, audit=SETUP)
        gone, _ = await store.post_message(group.id, a.id, "取り消す文", "lgwan", None, T0)
        await store.delete_message(gone.id, a.id, T0 + 10 * DAY, audit=SETUP)
        kept, _ = await store.post_message(direct.id, a.id, "個別の連絡", "lgwan", None, T0)
        file_msg, sha = await stored_file(store, group.id, a.id, b"%PDF-1.4 record", "議事録.pdf", T0)

        async def body(mid: str) -> str:
            return (await store.get_message(mid)).body

        # Before the retention has passed: nothing at all.
        clock.t = T0 + 399 * DAY
        assert await records.purge(ctx) == {}
        assert await body(old.id) == "古い連絡"
        # Past it: the untouched group message, the file's message and the file's
        # contents go; a message changed later waits for the retention counted from
        # its change.
        clock.t = T0 + 401 * DAY
        assert await records.purge(ctx) == {
            "group": {"messages": 2, "versions": 0, "messages_days": 400, "files": 1,
                      "files_days": 400}}
        assert await body(old.id) == ""
        assert len(await store.message_versions(gone.id)) == 1
        assert await body(edited.id) == "改訂版"
        assert await body(kept.id) == "個別の連絡"  # direct rooms: kept for ever
        with pytest.raises(FileNotFound):
            await store.open_download(sha, False)
        clock.t = T0 + 411 * DAY
        await records.purge(ctx)
        assert await store.message_versions(gone.id) == []
        assert len(await store.message_versions(edited.id)) == 1
        clock.t = T0 + 501 * DAY
        await records.purge(ctx)
        assert await body(edited.id) == "" and await store.message_versions(edited.id) == []
        assert await body(kept.id) == "個別の連絡"
        entries = [e for e in await store.audit_entries(0, 1000) if e.action == "records.purged"]
        assert [e.data["rooms"]["group"].get("messages", 0) for e in entries] == [2, 1, 1]
        assert entries[0].data["minimum_days"] == 365
        assert (await store.audit_verify())[0]
        assert file_msg  # the message of a purged file stays in history

    run(cfg, go)


def test_a_long_history_is_purged_in_batches_each_with_its_entry(tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path, department_messages_days=365)

    async def go(ctx: Context, clock: Clock) -> None:
        store = ctx.store
        await op(ctx, "department.add", name="総務部")
        a = await store.create_account("tanaka", None, "staff", "田中", audit=SETUP, now=T0)
        await op(ctx, "account.department", login="tanaka", department="総務部")
        room = (await op(ctx, "room.create", name="総務部連絡", members=[], department="総務部"))["room"]
        for i in range(7):
            await store.post_message(room["id"], a.id, f"連絡 {i}", "lgwan", None, T0 + i)
        counts = await store.purge_records(cfg.records.plan(365), 365, T0 + 366 * DAY, batch=3)
        assert counts["department"]["messages"] == 7
        entries = [e for e in await store.audit_entries(0, 1000) if e.action == "records.purged"]
        assert [e.data["rooms"]["department"]["messages"] for e in entries] == [3, 3, 1]

    run(cfg, go)


def test_the_floor_holds_even_when_a_plan_asks_for_less(tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path)

    async def go(ctx: Context, clock: Clock) -> None:
        store = ctx.store
        a = await store.create_account("tanaka", None, "staff", "田中", audit=SETUP, now=T0)
        room = await store.create_room("総務", "group", [a.id], a.id, T0, audit=SETUP)
        msg, _ = await store.post_message(room.id, a.id, "記録", "lgwan", None, T0)
        assert await store.purge_records({"group": (30, 30)}, 365, T0 + 100 * DAY) == {}
        assert (await store.get_message(msg.id)).body == "記録"

    run(cfg, go)
