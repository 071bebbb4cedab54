"""``relayctl backup`` while a real relayd runs and a client keeps sending, then
``relayctl restore`` into a fresh state directory and a relayd started on it.

What an operator relies on: every message acknowledged before the backup started is
in the backup, exactly once and in order; nothing is in it that was never
acknowledged; accounts, rooms, files (the encrypted quarantine with its key, the
sanitized blobs) and the audit chain come back; the restored database passes
``PRAGMA integrity_check``; restore refuses while relayd has the database open and
never overwrites a state directory unless asked to move it aside.
"""

from __future__ import annotations

from tests.audits import SETUP

import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

from store import backup as backup_mod
from store.config import StoreConfig
from store.db import DB_NAME
from store.facade import Store
from tests.e2e.harness import (
    REPO, HTTPClient, Relayd, Reply, default_config, merge, start_relayd, toml_dumps,
)

pytestmark = pytest.mark.e2e

NOW = 1_800_000_000.0
PASSWORDS = {"tanaka": "tanaka-password-1", "suzuki": "suzuki-password-1",
             "hoikuen": "hoikuen-password-1"}
# Fast logins, one disarm worker, and no message rate limit in the way of the sender.
FAST = {"store": {"password_memory_kib": 64}, "sanitize": {"workers": 1},
        "auth": {"message_burst": 100_000, "message_refill_s": 0.0001}}
ORIGINAL = "保育園からのお知らせ（原本）\n".encode("utf-8")
SANITIZED = "保育園からのお知らせ（無害化済み）\n".encode("utf-8")


def ok(reply: Reply, status: int = 200) -> Any:
    assert reply.status == status, (reply.status, reply.body)
    return reply.json() if reply.body else None


async def relayctl(config_path: Path, *args: str) -> tuple[int, str]:
    proc = await trio.run_process([sys.executable, "-m", "relay.ctl", "--config",
                                   str(config_path), *args], cwd=REPO, check=False,
                                  capture_stdout=True, capture_stderr=True)
    return proc.returncode, (proc.stdout + proc.stderr).decode("utf-8", "replace")


def write_config(tmp_path: Path, name: str, state_dir: Path) -> Path:
    path = tmp_path / name
    path.write_text(toml_dumps(merge(default_config(state_dir), FAST)), encoding="utf-8")
    return path


async def seed(state_dir: Path) -> dict[str, str]:
    """Accounts, a room and a file message with its quarantined original and its
    sanitized variant, written through the store before relayd starts (relayd's file
    routes are not what is under test here; the files on disk are)."""
    store = await Store.open(StoreConfig(state_dir=str(state_dir), password_memory_kib=64))
    try:
        tanaka = await store.create_account("tanaka", PASSWORDS["tanaka"], "staff", "", audit=SETUP, now=NOW)
        suzuki = await store.create_account("suzuki", PASSWORDS["suzuki"], "staff", "", audit=SETUP, now=NOW)
        room = await store.create_room("子育て支援課", "group", [tanaka.id, suzuki.id], tanaka.id, NOW, audit=SETUP)
        async with await store.open_upload(True, 1 << 20) as up:
            await up.write(ORIGINAL)
            q_sha, q_size = await up.commit()
        fmsg, _ = await store.post_file(room.id, suzuki.id, "internet", "お知らせ.txt", q_size,
                                        q_sha, "text", "pending", "file-1", NOW)
        v_sha = await trio.to_thread.run_sync(store.blobs.put, SANITIZED)
        await store.finish_attachment(fmsg.attachments[0].id, "ready", {}, v_sha, len(SANITIZED), "お知らせ.txt", audit=None, now=NOW)
        return {"room": room.id, "file_msg": fmsg.id, "q_sha": q_sha, "v_sha": v_sha,
                "tanaka": tanaka.id}
    finally:
        await store.aclose()


async def login(r: Relayd, zone: str, name: str, password: str) -> HTTPClient:
    client = r.client(zone)
    client.token = ok(await client.request("POST", "/api/v1/login",
                                           json={"login": name, "password": password}))["token"]
    return client


async def test_backup_while_sending_then_restore_into_a_fresh_state_dir(tmp_path: Path) -> None:
    with trio.fail_after(120):
        state = tmp_path / "state"
        seeded = await seed(state)
        room = seeded["room"]
        cfg_path = write_config(tmp_path, "orig.toml", state)
        dest = tmp_path / "backup"

        r = start_relayd(tmp_path, FAST, state_dir=state)
        try:
            assert r.admin_password, r.log()
            admin = await login(r, "lgwan", "admin", r.admin_password)
            ok(await admin.request("POST", "/api/v1/admin/accounts", json={
                "login": "hoikuen", "kind": "external", "password": PASSWORDS["hoikuen"],
                "sponsor": seeded["tanaka"]}), 201)
            tanaka = await login(r, "lgwan", "tanaka", PASSWORDS["tanaka"])

            acked: list[tuple[str, str]] = []  # (client_id, message id), in ack order
            enough, stop = trio.Event(), trio.Event()

            async def sender() -> None:
                i = 0
                while not stop.is_set():
                    msg = ok(await tanaka.request("POST", f"/api/v1/rooms/{room}/messages",
                                                  json={"body": f"m{i}", "client_id": f"c{i}"}),
                             201)
                    acked.append((f"c{i}", msg["id"]))
                    i += 1
                    if i >= 30:
                        enough.set()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(sender)
                await enough.wait()
                before = len(acked)
                rc, out = await relayctl(cfg_path, "backup", str(dest))
                assert rc == 0, out
                during = len(acked)
                # Restoring over a running relayd's state is refused, even with --replace.
                for extra in ((), ("--replace",)):
                    rc, out = await relayctl(cfg_path, "restore", str(dest), *extra)
                    assert rc == 1 and "stop it first" in out, out
                target = len(acked) + 10
                while len(acked) < target:
                    await trio.sleep(0.01)
                stop.set()
            assert during > before  # the client really was sending while the backup ran
            for c in (admin, tanaka):
                await c.aclose()
        finally:
            r.stop()

        # Into a fresh state directory, as on a replacement machine.
        restored = tmp_path / "restored"
        cfg2 = write_config(tmp_path, "restored.toml", restored)
        rc, out = await relayctl(cfg2, "restore", str(dest))
        assert rc == 0, out
        assert backup_mod.integrity_check(restored / DB_NAME) == "ok"
        with sqlite3.connect(restored / DB_NAME) as raw:
            assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]

        r2 = start_relayd(tmp_path, FAST, state_dir=restored)
        try:
            assert r2.admin_password is None  # the admin came back with the backup
            tanaka = await login(r2, "lgwan", "tanaka", PASSWORDS["tanaka"])
            partner = await login(r2, "internet", "hoikuen", PASSWORDS["hoikuen"])
            # Every page of the history, oldest first (how many there are depends on how
            # fast the sender was while the backup ran).
            messages: list[dict[str, Any]] = []
            query = "limit=200"
            while True:
                page = ok(await tanaka.request(
                    "GET", f"/api/v1/rooms/{room}/messages?{query}"))["messages"]
                messages = page + messages
                if len(page) < 200:
                    break
                query = f"limit=200&before={page[0]['id']}"
            assert messages[0]["id"] == seeded["file_msg"]
            attachment = messages[0]["attachments"][0]
            assert attachment["status"] == "ready" and attachment["name"] == "お知らせ.txt"
            texts = messages[1:]
            # A prefix of what was acknowledged, in order, each once: everything acked
            # before the backup began, nothing that was never acked.
            assert before <= len(texts) <= len(acked)
            assert [(f"c{i}", m["id"]) for i, m in enumerate(texts)] == acked[:len(texts)]
            assert [m["body"] for m in texts] == [f"m{i}" for i in range(len(texts))]
            # Idempotency survives: a retry of an acked send returns the same message.
            again = ok(await tanaka.request("POST", f"/api/v1/rooms/{room}/messages",
                                            json={"body": "m0", "client_id": "c0"}), 201)
            assert again["id"] == acked[0][1]
            ok(await tanaka.request("POST", f"/api/v1/rooms/{room}/messages",
                                    json={"body": "復元後も送れます"}), 201)
            for c in (tanaka, partner):
                await c.aclose()
        finally:
            r2.stop()

        # The files and the keys that read them came back too.
        store = await Store.open(StoreConfig(state_dir=str(restored), password_memory_kib=64))
        try:
            assert store.quarantine.read_bytes(seeded["q_sha"]) == ORIGINAL
            assert store.blobs.path(seeded["v_sha"]).read_bytes() == SANITIZED
            ok_chain, entries, first_bad = await store.audit_verify()
            assert ok_chain and first_bad is None and entries >= 3
        finally:
            await store.aclose()


async def test_restore_over_existing_state_needs_replace_and_keeps_the_old_state(
        tmp_path: Path) -> None:
    with trio.fail_after(60):
        state = tmp_path / "state"
        await seed(state)
        cfg_path = write_config(tmp_path, "c.toml", state)
        dest = tmp_path / "backup"
        rc, out = await relayctl(cfg_path, "backup", str(dest))
        assert rc == 0, out
        rc, out = await relayctl(cfg_path, "backup", str(dest))
        assert rc == 1 and "must be empty" in out, out  # never over an earlier backup

        # Something happens after the backup; restoring brings the earlier state back.
        store = await Store.open(StoreConfig(state_dir=str(state), password_memory_kib=64))
        await store.create_account("later", "pw", "staff", "", audit=SETUP, now=NOW)
        await store.aclose()

        rc, out = await relayctl(cfg_path, "restore", str(dest))
        assert rc == 1 and "--replace" in out, out
        rc, out = await relayctl(cfg_path, "restore", str(dest), "--replace")
        assert rc == 0, out
        aside = [p for p in tmp_path.iterdir() if p.name.startswith("state.before-restore-")]
        assert len(aside) == 1 and (aside[0] / DB_NAME).exists()
        assert backup_mod.integrity_check(state / DB_NAME) == "ok"
        store = await Store.open(StoreConfig(state_dir=str(state), password_memory_kib=64))
        try:
            logins = {a.login for a in await store.list_accounts()}
            assert logins == {"tanaka", "suzuki"}
        finally:
            await store.aclose()
        # The moved-aside state still has what happened after the backup.
        old = await Store.open(StoreConfig(state_dir=str(aside[0]), password_memory_kib=64))
        try:
            assert "later" in {a.login for a in await old.list_accounts()}
        finally:
            await old.aclose()

        rc, out = await relayctl(cfg_path, "restore", str(tmp_path / "no-such-backup"), "--replace")
        assert rc == 1, out
        assert backup_mod.integrity_check(state / DB_NAME) == "ok"  # nothing was moved
        assert len([p for p in tmp_path.iterdir() if ".before-restore-" in p.name]) == 1
