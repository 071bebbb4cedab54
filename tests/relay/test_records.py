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


# --------------------------------------------------------------------------- dataset


async def dataset(ctx: Context, clock: Clock) -> dict[str, str]:
    """企画部 and 総務部/総務課; tanaka starts in 企画部 and moves to 総務課 on Thursday
    of week 14; suzuki in 企画部; sato (external) in none.  Week 14: tanaka writes
    (then edits) a message and suzuki answers, suzuki's internet file is disarmed;
    week 15: tanaka writes and posts a PDF, suzuki's next internet file is blocked,
    sato logs in and takes tanaka's PDF out."""
    store = ctx.store
    await op(ctx, "department.add", name="企画部")
    await op(ctx, "department.add", name="総務部")
    await op(ctx, "department.add", name="総務課", parent="総務部")
    ids = {}
    for login, name, kind in (("tanaka", "田中 一郎", "staff"), ("suzuki", "鈴木", "staff"),
                              ("sato", "佐藤", "external")):
        ids[login] = (await store.create_account(login, None, kind, name, audit=SETUP,  # type: ignore[arg-type]
                                                 now=T0)).id
    await op(ctx, "account.department", login="tanaka", department="企画部")
    await op(ctx, "account.department", login="suzuki", department="企画部")
    room = await store.create_room("予算連絡", "group", list(ids.values()), ids["tanaka"], T0,
                                   audit=SETUP)
    first, _ = await store.post_message(room.id, ids["tanaka"], "予算案を共有します", "lgwan",
                                        None, T0)
    await store.edit_message(first.id, ids["tanaka"], "予算案（改訂）を共有します", (),
                             T0 + 3600, audit=SETUP)
    await store.post_message(room.id, ids["suzuki"], "=SUM(A1:A9) 確認しました", "lgwan", None,
                             T0 + 2 * 3600)
    await store.record(Audit("file.crossed", ids["suzuki"], "90", {"verdict": "sanitized"}),
                       T0 + 3 * 3600)
    clock.t = T0 + 3 * DAY  # Thursday: tanaka moves
    await op(ctx, "account.department", login="tanaka", department="総務部/総務課")
    later, _ = await store.post_message(room.id, ids["tanaka"], "来週の会議は中止です", "lgwan",
                                        None, T0 + 7 * DAY)
    pdf_msg, sha = await stored_file(store, room.id, ids["tanaka"], b"%PDF-1.4 yosan",
                                     "予算書.pdf", T0 + 7 * DAY + 60)
    await store.mark_read(room.id, ids["suzuki"], later.id)
    await store.record(Audit("file.crossed", ids["suzuki"], "91", {"verdict": "blocked"}),
                       T0 + 8 * DAY)
    await store.record(Audit("login.ok", ids["sato"], ids["sato"], {"zone": "internet"}),
                       T0 + 8 * DAY)
    await store.record(Audit("file.sent_out", ids["sato"], "92", {"file_id": "92"}),
                       T0 + 8 * DAY + 60)
    return {"room": room.id, "first": first.id, "later": later.id, "pdf_sha": sha, **ids}


def test_the_usage_report_counts_a_known_dataset_per_department_and_week(tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path)

    async def go(ctx: Context, clock: Clock) -> dict[str, Any]:
        await dataset(ctx, clock)
        return (await op(ctx, "report", **dict(zip(("from", "to"),
                                                  records.period("2027-04-05", "2027-04-18")))))["report"]

    rep = run(cfg, go)
    zero = dict.fromkeys(("messages", "files", "disarmed", "blocked", "sent_out", "held"), 0)
    assert rep["totals"] == {**zero, "active_accounts": 3, "messages": 3, "files": 1,
                             "disarmed": 1, "blocked": 1, "sent_out": 1}
    weeks = {(w["week"], w["department"]): w for w in rep["weeks"]}
    # tanaka's first message counts for 企画部, where he was that Monday.
    assert weeks[("2027-W14", "企画部")] == {"week": "2027-W14", "department": "企画部",
                                           **zero, "active_accounts": 2, "messages": 2,
                                           "disarmed": 1}
    assert weeks[("2027-W15", "総務部/総務課")] == {
        "week": "2027-W15", "department": "総務部/総務課", **zero, "active_accounts": 1,
        "messages": 1, "files": 1}
    assert weeks[("2027-W15", "")]["active_accounts"] == 1  # sato only logged in
    assert weeks[("2027-W15", "")]["sent_out"] == 1
    assert weeks[("2027-W15", "企画部")]["blocked"] == 1
    deps = {d["department"]: d for d in rep["departments"]}
    assert deps["企画部"]["active_accounts"] == 2 and deps["総務部/総務課"]["messages"] == 1
    # A period that ends before the dataset starts counts nothing.
    assert len(rep["weeks"]) == 4


def test_room_export_has_departments_then_versions_hashes_and_readers(tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path)

    async def go(ctx: Context, clock: Clock) -> tuple[dict[str, Any], dict[str, str], Any]:
        d = await dataset(ctx, clock)
        start, end = records.period("2027-04-01", "2027-04-30")
        got = await op(ctx, "room.export", room=d["room"], **{"from": start, "to": end},
                       format="csv", operator="kojima", note="開示請求 第12号")
        entries = await ctx.store.audit_entries(0, 1000)
        return got["history"], d, entries[-1]

    history, d, entry = run(cfg, go)
    msgs = {m["id"]: m for m in history["messages"]}
    first = msgs[d["first"]]
    assert first["department"] == "企画部" and first["login"] == "tanaka"
    assert first["display_name"] == "田中 一郎" and first["body"] == "予算案（改訂）を共有します"
    assert [v["body"] for v in first["versions"]] == ["予算案を共有します"]
    assert msgs[d["later"]]["department"] == "総務部/総務課"
    assert msgs[d["later"]]["read_by"] == ["suzuki"]
    files = [f for m in history["messages"] for f in m["files"]]
    assert files[0]["name"] == "予算書.pdf" and files[0]["sha256"] == d["pdf_sha"]
    assert entry.action == "records.exported" and entry.subject == d["room"]
    assert entry.data["operator"] == "kojima" and entry.data["note"] == "開示請求 第12号"
    assert entry.data["from"] == "2027-03-31T15:00:00.000Z" and entry.data["messages"] == 4

    from relay import records_render
    raw = records_render.room_csv(history)
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][0] == "日時 (JST)" and rows[1][0] == "2027-04-05 10:00:00"
    assert rows[1][8].startswith("[編集前 2027-04-05 10:00:00〜2027-04-05 11:00:00] 予算案を共有します")
    # A body Excel would run as a formula is kept as text.
    assert rows[2][6] == "'=SUM(A1:A9) 確認しました"
    assert d["pdf_sha"] in rows[4][9]


@pytest.fixture
def filled(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    cfg = make_cfg(tmp_path)
    d = run(cfg, dataset)
    path = write(tmp_path, f'[store]\nstate_dir = "{tmp_path / "state"}"\npassword_memory_kib = 64\n')
    return path, d


def relayctl(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "relay.ctl", "--config", str(path), *args],
                          capture_output=True, text=True, cwd=REPO, timeout=120)


def test_relayctl_room_export_pdf_reads_back_japanese_and_hashes(
        filled: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    path, d = filled
    out = tmp_path / "開示.pdf"
    r = relayctl(path, "room", "export", d["room"], "--from", "2027-04-01", "--to", "2027-04-30",
                 "--format", "pdf", "--out", str(out), "--note", "開示請求 第12号")
    assert r.returncode == 0, r.stderr
    assert "4 messages" in r.stdout
    with pikepdf.open(out) as pdf:
        fonts = [f for page in pdf.pages for f in page.Resources.Font.values()]
        descriptor = fonts[0].DescendantFonts[0].FontDescriptor
        assert "/FontFile3" in descriptor or "/FontFile2" in descriptor  # embedded
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(out), "-"], capture_output=True,
                          text=True, check=True).stdout
    assert "来週の会議は中止です" in text and "予算案を共有します" in text
    assert "企画部" in text and "総務部/総務課" in text
    assert d["pdf_sha"] in text.replace("\n", "")
    # Never over an existing file.
    again = relayctl(path, "room", "export", d["room"], "--from", "2027-04-01", "--to",
                     "2027-04-30", "--format", "csv", "--out", str(out))
    assert again.returncode == 2 and "exists" in again.stderr


def test_relayctl_audit_export_carries_macs_that_check_with_the_key(
        filled: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    path, _ = filled
    out = tmp_path / "audit.jsonl"
    r = relayctl(path, "audit", "export", "--from", "2027-04-01", "--to", "2027-04-30",
                 "--format", "jsonl", "--out", str(out))
    assert r.returncode == 0, r.stderr
    entries = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert {"account.moved", "file.crossed", "file.sent_out"} <= {e["action"] for e in entries}
    key = load_key(tmp_path / "state" / "keys", "audit", create=False)
    prev = entries[0]["prev_mac"]
    for e in entries:
        assert e["prev_mac"] == prev
        prev = audit_log.entry_mac(key, e["prev_mac"], e["id"], e["at"], e["actor"], e["action"],
                                   e["subject"], e["data"])
        assert prev == e["mac"]
    # An altered entry no longer matches its MAC.
    e = entries[-1]
    assert audit_log.entry_mac(key, e["prev_mac"], e["id"], e["at"], e["actor"], e["action"],
                               e["subject"], {**e["data"], "x": 1}) != e["mac"]
    csv_out = tmp_path / "audit.csv"
    assert relayctl(path, "audit", "export", "--from", "2027-04-01", "--to", "2027-04-30",
                    "--format", "csv", "--out", str(csv_out)).returncode == 0
    rows = list(csv.DictReader(io.StringIO(csv_out.read_text(encoding="utf-8-sig"))))
    assert [int(x["id"]) for x in rows] == [e["id"] for e in entries]


def test_relayctl_report_prints_a_table_and_csv(filled: tuple[Path, dict[str, str]]) -> None:
    path, _ = filled
    r = relayctl(path, "report", "--from", "2027-04-05", "--to", "2027-04-18")
    assert r.returncode == 0, r.stderr
    assert "2027-W14\t企画部\t2\t2\t0\t1\t0\t0\t0" in r.stdout
    c = subprocess.run([sys.executable, "-m", "relay.ctl", "--config", str(path), "report",
                        "--from", "2027-04-05", "--to", "2027-04-18", "--csv"],
                       capture_output=True, cwd=REPO, timeout=120)
    assert c.stdout.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(c.stdout.decode("utf-8-sig"))))
    assert rows[1][:5] == ["合計", "", "", "3", "3"]
    bad = relayctl(path, "report", "--from", "2027-04-18", "--to", "2027-04-05")
    assert bad.returncode == 2 and "before" in bad.stderr
