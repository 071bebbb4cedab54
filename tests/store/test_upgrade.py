"""Upgrading from 0.1.0: a state directory as 0.1.0 left it, opened by today's store
and today's relayd.

0.1.0 shipped migrations 1 and 2 (``MIGRATIONS[:2]``).  The state directory is built
here the way 0.1.0 wrote it: its schema through those two migrations, rows with the
columns it had (an admin, a staff account and an external one with scrypt password
hashes, a room with its members and 既読, messages from both zones, a file from the
internet with its original sealed in the quarantine and its disarmed variant in the
blob store, a pending request for that original), and an audit log whose chain was
made with the audit key in ``keys/``.  Then every later migration applies, every row
is still there and readable through the store and the API, the chain still
verifies, and a scrypt account logs in and gets today's argon2id hash.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import trio
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from store import audit
from store.blobs import BlobStore, Quarantine
from store.db import StatePaths, connect, iso
from store.facade import Store
from store.migrations import MIGRATIONS, SCHEMA_VERSION
from tests.e2e.harness import REPO, start_relayd
from tests.store.conftest import config

RELEASE_0_1_0_MIGRATIONS = 2
PASSWORDS = {"admin": "admin-password-010", "tanaka": "tanaka-password-010",
             "hoiku": "hoiku-password-010"}
# Written a day before the upgrade (an older file would be past store.retention_days).
T0 = time.time() - 86_400
PHOTO = b"\x89PNG\r\n\x1a\n" + secrets.token_bytes(2000)   # the phone's original
CLEAN = b"\x89PNG\r\n\x1a\n" + secrets.token_bytes(1500)   # what the disarm engine made


def scrypt_hash(password: str) -> tuple[bytes, bytes, str]:
    # 0.1.0's store.scrypt_n, set low the way its tests did; r=8, p=1 as it shipped.
    salt = secrets.token_bytes(16)
    params = {"alg": "scrypt", "n": 1024, "r": 8, "p": 1}
    derived = Scrypt(salt=salt, length=32, n=1024, r=8, p=1).derive(password.encode("utf-8"))
    return derived, salt, json.dumps(params, sort_keys=True)


def build_0_1_0(root: Path) -> dict[str, Any]:
    """A state directory as 0.1.0 left it; returns what the checks expect."""
    paths = StatePaths(root)
    paths.ensure()
    keys = {name: secrets.token_bytes(32) for name in ("audit", "quarantine")}
    for name, key in keys.items():
        fd = os.open(paths.keys / f"{name}.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key.hex())
    blobs = BlobStore(paths.blobs, paths.tmp)
    sealed = Quarantine(BlobStore(paths.quarantine, paths.tmp), keys["quarantine"])
    clean_sha = blobs.put(CLEAN)
    with sealed.writer(len(PHOTO)) as w:
        w.write(PHOTO)
        photo_sha, _ = w.commit()

    db = connect(paths.db)
    c = db.conn
    for version, step in enumerate(MIGRATIONS[:RELEASE_0_1_0_MIGRATIONS], start=1):
        c.execute("BEGIN IMMEDIATE")
        step(db)
        c.execute(f"PRAGMA user_version={version}")
        c.execute("COMMIT")

    c.execute("BEGIN IMMEDIATE")
    at = iso(T0)
    ids = {}
    for login, kind, name in (("admin", "admin", "管理者"), ("tanaka", "staff", "田中 太郎"),
                              ("hoiku", "external", "ひまわり保育園")):
        h, salt, params = scrypt_hash(PASSWORDS[login])
        ids[login] = c.execute(
            "INSERT INTO accounts (login, display_name, kind, created_at, pw_hash, pw_salt, "
            "pw_params) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (login, name, kind, at, h, salt, params)).lastrowid
        audit.append_txn(db, keys["audit"], "account.created", None, str(ids[login]),
                         {"login": login, "kind": kind}, T0)
    room = c.execute("INSERT INTO rooms (name, kind, created_at, created_by) "
                     "VALUES ('保育園 連絡', 'group', ?, ?)", (at, ids["tanaka"])).lastrowid
    for who in ("tanaka", "hoiku"):
        c.execute("INSERT INTO room_members (room_id, account_id) VALUES (?, ?)",
                  (room, ids[who]))
    audit.append_txn(db, keys["audit"], "room.created", str(ids["tanaka"]), str(room),
                     {"name": "保育園 連絡", "kind": "group",
                      "members": [ids["tanaka"], ids["hoiku"]]}, T0)
    bodies = [("tanaka", "lgwan", "明日の延長保育の件です"), ("hoiku", "internet", "承知しました"),
              ("hoiku", "internet", "")]
    messages = []
    for n, (who, zone, body) in enumerate(bodies):
        messages.append(c.execute(
            "INSERT INTO messages (room_id, sender, body, created_at, origin_zone, client_id) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (room, ids[who], body, iso(T0 + 60 * (n + 1)), zone, f"c-{n}")).lastrowid)
    report = {"verdict": "rebuilt", "removed": {"exif": 1}}
    attachment = c.execute(
        "INSERT INTO attachments (message_id, room_id, name, size, kind, status, origin_zone, "
        "sha256, sanitized_sha256, sanitized_size, sanitized_name, report, created_ts) "
        "VALUES (?, ?, '園庭.png', ?, 'png', 'ready', 'internet', ?, ?, ?, '園庭.png', ?, ?)",
        (messages[2], room, len(PHOTO), photo_sha, clean_sha, len(CLEAN), json.dumps(report),
         T0 + 180)).lastrowid
    # 既読: tanaka has read everything, the nursery the first message only.
    c.execute("UPDATE room_members SET last_read = ? WHERE account_id = ?",
              (messages[-1], ids["tanaka"]))
    c.execute("UPDATE room_members SET last_read = ? WHERE account_id = ?",
              (messages[0], ids["hoiku"]))
    request = c.execute(
        "INSERT INTO original_requests (attachment_id, requester, reason, status, created_at) "
        "VALUES (?, ?, '原本の画質で確認したい', 'pending', ?)",
        (attachment, ids["tanaka"], iso(T0 + 240))).lastrowid
    audit.append_txn(db, keys["audit"], "original.requested", str(ids["tanaka"]),
                     str(request), {"attachment_id": attachment}, T0 + 240)
    c.execute("COMMIT")
    c.close()
    return {"ids": ids, "room": room, "messages": messages, "attachment": attachment,
            "request": request, "photo_sha": photo_sha, "clean_sha": clean_sha,
            "audit_entries": 5}


def test_a_0_1_0_database_is_migrated_and_keeps_every_row(tmp_path: Path) -> None:
    state = tmp_path / "state"
    old = build_0_1_0(state)
    assert sqlite3.connect(state / "kakehashi.db").execute(
        "PRAGMA user_version").fetchone()[0] == RELEASE_0_1_0_MIGRATIONS

    async def check() -> None:
        store = await Store.open(config(state), create=False)
        try:
            assert await store.audit_verify() == (True, old["audit_entries"], None)
            entries = await store.audit_entries(0, 100)
            assert [e.action for e in entries] == ["account.created"] * 3 + [
                "room.created", "original.requested"]
        finally:
            await store.aclose()

    trio.run(check)
    c = sqlite3.connect(state / "kakehashi.db")
    assert c.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert c.execute("PRAGMA foreign_key_check").fetchall() == []
    assert [r[0] for r in c.execute("SELECT login FROM accounts ORDER BY id")] == [
        "admin", "tanaka", "hoiku"]
    assert [r[0] for r in c.execute("SELECT body FROM messages ORDER BY id")] == [
        "明日の延長保育の件です", "承知しました", ""]
    assert c.execute("SELECT status, sanitized_sha256 FROM attachments").fetchall() == [
        ("ready", old["clean_sha"])]
    assert c.execute("SELECT status FROM original_requests").fetchall() == [("pending",)]


def test_relayd_serves_a_0_1_0_state_directory_and_rehashes_scrypt_at_login(
        tmp_path: Path) -> None:
    state = tmp_path / "state"
    old = build_0_1_0(state)
    r = start_relayd(tmp_path, {"store": {"password_memory_kib": 64}}, state_dir=state,
                     change_admin_password=False)
    try:
        assert "first admin account created" not in r.log()   # the 0.1.0 admin is kept
        login = r.request_sync("lgwan", "POST", "/api/v1/login",
                               json={"login": "tanaka", "password": PASSWORDS["tanaka"]})
        assert login.status == 200, login.body
        token = login.json()["token"]
        history = r.request_sync("lgwan", "GET", f"/api/v1/rooms/{old['room']}/messages",
                                 token=token)
        assert history.status == 200, history.body
        got = history.json()["messages"]
        assert [(int(m["id"]), m["body"], m["origin_zone"]) for m in got] == [
            (old["messages"][0], "明日の延長保育の件です", "lgwan"),
            (old["messages"][1], "承知しました", "internet"),
            (old["messages"][2], "", "internet")]
        # The disarmed photo, as 0.1.0 stored it, reaches LGWAN byte for byte.
        content = r.request_sync("lgwan", "GET", f"/api/v1/files/{old['attachment']}/content",
                                 token=token)
        assert content.status == 200 and content.body == CLEAN
        # The external account logs in on the internet listener with its 0.1.0 password.
        phone = r.request_sync("internet", "POST", "/api/v1/login",
                               json={"login": "hoiku", "password": PASSWORDS["hoiku"]})
        assert phone.status == 200, phone.body
        verify = subprocess.run(
            [sys.executable, "-m", "relay.ctl", "--config", str(r.config_path), "audit", "verify"],
            capture_output=True, text=True, timeout=60, cwd=REPO)
        assert verify.returncode == 0, verify.stdout + verify.stderr
    finally:
        r.stop()
    c = sqlite3.connect(state / "kakehashi.db")
    params = dict(c.execute("SELECT login, pw_params FROM accounts").fetchall())
    for login in ("tanaka", "hoiku"):
        assert json.loads(params[login])["alg"] == "argon2id"
    assert json.loads(params["admin"])["alg"] == "scrypt"   # not logged in: not touched yet
    rehashed = c.execute("SELECT subject, data FROM audit WHERE action = "
                         "'account.password_rehashed' ORDER BY id").fetchall()
    assert [int(s) for s, _ in rehashed] == [old["ids"]["tanaka"], old["ids"]["hoiku"]]
    assert all(json.loads(d)["from"]["alg"] == "scrypt" for _, d in rehashed)
