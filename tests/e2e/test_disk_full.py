"""End to end: the state directory's file system fills up under load, then frees.

relayd runs with its state on a small tmpfs the test mounts (root only).  Senders
(HTTP and the stream, LGWAN and internet) and uploaders (internet files into the
quarantine, LGWAN files into the blob store) keep writing while a filler grabs every
free byte with a placeholder file and keeps it full.  While the disk is full every
refused write is a 503 ``storage_full`` (with Retry-After over HTTP), never a 500, and
reads still answer.  When the placeholder goes, the same relayd takes writes again
within seconds; every acknowledged message is in history exactly once, nothing
refused is there, the audit chain verifies, and the files on disk are exactly the
ones the attachments table names (no orphan, no partial upload, nothing left in
tmp/).  A restart on the same state finds the database intact and the same history.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.e2e.harness import (
    DiskFiller, HTTPClient, Relayd, mount_tmpfs, start_relayd, umount_tmpfs, ws_connect,
)
from tests.e2e.test_chat import login, ok

pytestmark = pytest.mark.e2e

TMPFS_MIB = 24
PASSWORD = "disk-full-password-1"
CONFIG: dict[str, Any] = {
    "store": {"password_memory_kib": 64},
    "sanitize": {"workers": 1},
    "http": {"max_upload_bytes": 4 * 1024 * 1024},
    # Neither limit is under test; both would only slow the writers down.
    "auth": {"message_burst": 100_000, "message_refill_s": 0.0001,
             "upload_burst": 100_000, "upload_refill_s": 0.0001,
             "login_burst_ip": 1000, "login_burst_account": 1000,
             "login_refill_s_ip": 0.01, "login_refill_s_account": 0.01},
}
FULL_FOR_S = 4.0        # how long the disk stays full under load
RECOVERY_S = 10.0       # a write must succeed this soon after space returns
DB_NAME = "kakehashi.db"


@dataclass
class Tally:
    """What the writers saw: acknowledged ids, refused client_ids, bad answers."""

    acked: dict[str, str] = field(default_factory=dict)      # client_id -> message id
    refused: set[str] = field(default_factory=set)          # answered storage_full
    uploads: dict[str, str] = field(default_factory=dict)   # client_id -> file id
    refusals: int = 0
    bad: list[str] = field(default_factory=list)            # anything else that failed

    def refusal(self, cid: str, status: int, code: str | None, retry_after: str | None,
                via: str) -> None:
        if code == "storage_full" and status == 503 and (via == "stream" or retry_after):
            self.refused.add(cid)
            self.refusals += 1
        else:
            self.bad.append(f"{via} {cid}: {status} {code} retry-after={retry_after}")


async def message_sender(r: Relayd, zone: str, token: str, room: str, tag: str,
                         tally: Tally, stop: trio.Event) -> None:
    client = r.client(zone, token)
    n = 0
    try:
        while not stop.is_set():
            cid = f"{tag}-{n}"
            n += 1
            reply = await client.request("POST", f"/api/v1/rooms/{room}/messages",
                                         json={"body": cid, "client_id": cid})
            if reply.status == 201:
                tally.acked[cid] = reply.json()["id"]
            else:
                tally.refusal(cid, reply.status, reply.error_code,
                              reply.headers.get("retry-after"), "http")
                await trio.sleep(0.01)
    finally:
        await client.aclose()


async def stream_sender(r: Relayd, zone: str, token: str, room: str, tag: str,
                        tally: Tally, stop: trio.Event, window: int = 4) -> None:
    in_flight = trio.Semaphore(window)
    outstanding: set[str] = set()
    async with ws_connect(r.endpoint(zone), token) as ws:
        async def receive() -> None:
            while True:
                ev = json.loads(await ws.get_message())
                if ev["type"] == "ack":
                    tally.acked[ev["client_id"]] = ev["message"]["id"]
                elif ev["type"] == "error":
                    err = ev["error"]
                    tally.refusal(ev.get("client_id", "?"), 503 if err["code"] == "storage_full"
                                  else 0, err["code"], None, "stream")
                else:
                    continue
                outstanding.discard(ev.get("client_id"))
                in_flight.release()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(receive)
            n = 0
            while not stop.is_set():
                await in_flight.acquire()
                cid = f"{tag}-{n}"
                n += 1
                outstanding.add(cid)
                await ws.send_message(json.dumps({"type": "send", "room_id": room,
                                                  "body": cid, "client_id": cid}))
            with trio.fail_after(10):
                while outstanding:
                    await trio.sleep(0.01)
            nursery.cancel_scope.cancel()


async def uploader(r: Relayd, zone: str, token: str, room: str, tag: str, tally: Tally,
                   stop: trio.Event) -> None:
    client = r.client(zone, token)
    n = 0
    try:
        while not stop.is_set():
            cid = f"{tag}-{n}"
            n += 1
            # Unique text, 200-600 KiB: a disarm job turns it into a variant blob.
            data = (f"{cid} " + os.urandom(8).hex() + "\n").encode() * (
                4000 + 8000 * (n % 3))
            reply = await client.request(
                "POST", f"/api/v1/rooms/{room}/files?name={urllib.parse.quote(cid)}.txt"
                        f"&client_id={cid}", body=data, headers={"content-type": "text/plain"})
            if reply.status == 201:
                tally.uploads[cid] = reply.json()["attachments"][0]["id"]
                tally.acked[cid] = reply.json()["id"]
            elif reply.status == 429:
                # The disarm queue is full (its jobs wait for space too): back off.
                await trio.sleep(0.2)
            else:
                tally.refusal(cid, reply.status, reply.error_code,
                              reply.headers.get("retry-after"), "upload")
                await trio.sleep(0.02)
    finally:
        await client.aclose()


def db_rows(state: Path, sql: str) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(f"file:{state / DB_NAME}?mode=ro", uri=True, timeout=10)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def files_on_disk(state: Path, sub: str) -> set[str]:
    return {p.name for p in (state / sub).rglob("*") if p.is_file()}


def check_files(state: Path) -> None:
    """The blob store and the quarantine hold exactly what the attachments name, and
    no upload is left half-written in tmp/."""
    rows = db_rows(state, "SELECT origin_zone, sha256, sanitized_sha256 FROM attachments "
                          "WHERE purged_ts IS NULL")
    quarantine = {sha for zone, sha, _ in rows if zone == "internet"}
    blobs = ({sha for zone, sha, _ in rows if zone == "lgwan"}
             | {v for _, _, v in rows if v is not None})
    assert files_on_disk(state, "quarantine") == quarantine
    assert files_on_disk(state, "blobs") == blobs
    assert files_on_disk(state, "tmp") == set()


async def history(client: HTTPClient, room: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    before: str | None = None
    while True:
        q = "?limit=200" + (f"&before={before}" if before else "")
        page = ok(await client.request("GET", f"/api/v1/rooms/{room}/messages{q}"))["messages"]
        out[:0] = page
        if len(page) < 200:
            return out
        before = page[0]["id"]


async def wait_disarmed(state: Path, timeout: float = 20.0) -> None:
    with trio.fail_after(timeout):
        while db_rows(state, "SELECT count(*) FROM attachments WHERE status = 'pending'")[0][0]:
            await trio.sleep(0.1)


async def audit_ok(r: Relayd) -> dict[str, Any]:
    assert r.admin_password
    admin, _ = await login(r, "lgwan", "admin", r.admin_password)
    try:
        return ok(await admin.request("GET", "/api/v1/admin/audit/verify"))  # type: ignore[no-any-return]
    finally:
        await admin.aclose()


async def test_full_disk_refuses_writes_clearly_loses_nothing_and_recovers_by_itself(
        tmp_path: Path) -> None:
    mnt = tmp_path / "small"
    why_not = mount_tmpfs(mnt, TMPFS_MIB)
    if why_not:
        pytest.skip(f"the state must live on a small file system of its own: {why_not}")
    try:
        with trio.fail_after(90):
            await run(tmp_path, mnt)
    finally:
        umount_tmpfs(mnt)


async def run(tmp_path: Path, mnt: Path) -> None:
    state = mnt / "state"
    r = start_relayd(tmp_path, CONFIG, state_dir=state)
    try:
        admin, _ = await login(r, "lgwan", "admin", r.admin_password or "")
        ids = {}
        for name, kind in (("office", "staff"), ("partner", "external")):
            sponsor = {"sponsor": ids["office"]} if kind == "external" else {}
            ids[name] = ok(await admin.request("POST", "/api/v1/admin/accounts", json={
                "login": name, "kind": kind, "password": PASSWORD, **sponsor}), 201)["id"]
        await admin.aclose()
        office, _ = await login(r, "lgwan", "office", PASSWORD)
        partner, _ = await login(r, "internet", "partner", PASSWORD)
        room = ok(await office.request("POST", "/api/v1/rooms", json={
            "name": "容量テスト", "kind": "group", "members": [ids["partner"]]}), 201)["id"]

        tally = Tally()
        stop = trio.Event()
        filler = DiskFiller(mnt)
        full_log_from = len(r.log())
        async with trio.open_nursery() as nursery:
            nursery.start_soon(message_sender, r, "lgwan", office.token, room, "http-l",
                               tally, stop)
            nursery.start_soon(message_sender, r, "internet", partner.token, room, "http-i",
                               tally, stop)
            nursery.start_soon(stream_sender, r, "lgwan", office.token, room, "ws-l",
                               tally, stop)
            nursery.start_soon(stream_sender, r, "internet", partner.token, room, "ws-i",
                               tally, stop)
            nursery.start_soon(uploader, r, "internet", partner.token, room, "up-i",
                               tally, stop)
            nursery.start_soon(uploader, r, "lgwan", office.token, room, "up-l", tally, stop)
            await trio.sleep(0.5)
            acked_before_full = len(tally.acked)
            filler.start()
            await trio.to_thread.run_sync(filler.full.wait, 10)
            assert filler.full.is_set(), "the filler never filled the file system"
            await trio.sleep(FULL_FOR_S)
            # Reads still answer on a full disk.
            reply = await office.request("GET", f"/api/v1/rooms/{room}/messages?limit=5")
            assert reply.status == 200, reply.body
            stop.set()
        assert acked_before_full > 0
        assert tally.bad == [], tally.bad[:10]
        assert tally.refusals > 0, "nothing was refused: the disk never filled under load"
        full_log = r.log()[full_log_from:]
        assert "Traceback" not in full_log, full_log[-4000:]
        # One ERROR for the episode, not one per refused write.
        assert full_log.count("ERROR") < 10, full_log[-4000:]

        # Space returns: the same relayd takes writes again within seconds.
        filler.free()
        started = time.monotonic()
        while True:
            reply = await office.request("POST", f"/api/v1/rooms/{room}/messages",
                                         json={"body": "recovered", "client_id": "recovered"})
            if reply.status == 201:
                tally.acked["recovered"] = reply.json()["id"]
                break
            assert reply.error_code == "storage_full", reply.body
            assert time.monotonic() - started < RECOVERY_S, "no recovery after space returned"
            await trio.sleep(0.2)
        for zone, client, tag in (("lgwan", office, "after-l"), ("internet", partner, "after-i")):
            with trio.fail_after(30):
                # The disarm queue may still be full of the files sent before: wait.
                while (reply := await client.request(
                        "POST", f"/api/v1/rooms/{room}/files?name={tag}.txt",
                        body=f"{tag}\n".encode() * 100)).status == 429:
                    await trio.sleep(0.2)
            assert reply.status == 201, reply.body
            tally.uploads[tag] = reply.json()["attachments"][0]["id"]
            tally.acked[tag] = reply.json()["id"]

        await wait_disarmed(state)
        await check_everything(r, office, room, tally, state)
        await office.aclose()
        await partner.aclose()
        assert "Traceback" not in r.log(), r.log()[-4000:]
    finally:
        if r.proc.poll() is None:
            r.stop()

    # The same state after a restart: intact, the same history.
    r2 = start_relayd(tmp_path, CONFIG, state_dir=state)
    try:
        assert db_rows(state, "PRAGMA integrity_check") == [("ok",)]
        office, _ = await login(r2, "lgwan", "office", PASSWORD)
        r2.admin_password = r.admin_password
        await check_everything(r2, office, room, tally, state)
        await office.aclose()
    finally:
        r2.stop()


async def check_everything(r: Relayd, client: HTTPClient, room: str, tally: Tally,
                           state: Path) -> None:
    seen = await history(client, room)
    by_body: dict[str, list[str]] = {}
    for m in seen:
        key = m["body"] or (m["attachments"][0]["name"].rsplit(".", 1)[0]
                            if m["attachments"] else "")
        by_body.setdefault(key, []).append(m["id"])
    missing = [cid for cid, mid in tally.acked.items() if by_body.get(cid) != [mid]]
    assert missing == [], missing[:10]
    # A write answered storage_full did not happen.
    stored_anyway = sorted(tally.refused & set(by_body))
    assert stored_anyway == [], stored_anyway[:10]
    verify = await audit_ok(r)
    assert verify["ok"] is True and verify["first_bad"] is None, verify
    files = [a for m in seen for a in m["attachments"]]
    assert {a["id"] for a in files} >= set(tally.uploads.values())
    assert all(a["status"] != "pending" for a in files)
    check_files(state)
