"""Attachments: the rows that link a message to stored bytes.

Bytes live outside SQLite (store.blobs), named by their SHA-256.  Where the original
of an attachment is kept follows from its ``origin_zone``: originals from the internet
zone are in the encrypted quarantine, all others in the blob store; a sanitized variant
(``sanitized_sha256``) is always in the blob store.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import sqlite_utils

from store.db import int_id
from store.errors import FileNotFound, Invalid
from store.messages import ATT_COLS, attachment_from_row, post_message_txn
from store.records import Attachment, Message, Zone

STATUSES = ("pending", "ready", "blocked")


def _check_status(status: str) -> None:
    if status not in STATUSES:
        raise Invalid(f"unknown attachment status: {status}", status=status)


def get_attachment(db: sqlite_utils.Database, attachment_id: str) -> Attachment:
    row = db.conn.execute(f"SELECT {ATT_COLS} FROM attachments WHERE id = ?",
                          (int_id(attachment_id),)).fetchone()
    if row is None:
        raise FileNotFound(f"ファイルがありません / no such file: {attachment_id}",
                           file_id=attachment_id)
    return attachment_from_row(row)


def pending_attachments(db: sqlite_utils.Database) -> list[Attachment]:
    rows = db.conn.execute(f"SELECT {ATT_COLS} FROM attachments WHERE status = 'pending' "
                           "ORDER BY id").fetchall()
    return [attachment_from_row(r) for r in rows]


def names_content(db: sqlite_utils.Database, sha256: str) -> bool:
    """Whether any attachment names these bytes (as its original or its variant)."""
    return db.conn.execute("SELECT 1 FROM attachments WHERE sha256 = ? OR sanitized_sha256 = ? "
                           "LIMIT 1", (sha256, sha256)).fetchone() is not None


def post_file_txn(db: sqlite_utils.Database, room_id: str, sender_id: str, origin_zone: Zone,
                  name: str, size: int, sha256: str, kind: str, status: str,
                  client_id: str | None, now: float,
                  report: dict[str, Any] | None,
                  session_id: str | None = None) -> tuple[Message, bool]:
    """One message (empty body) carrying one attachment, committed together."""
    _check_status(status)
    message, created = post_message_txn(db, room_id, sender_id, "", origin_zone, client_id, now,
                                        session_id, kind="file")
    if not created:
        return message, False
    cur = db.conn.execute(
        "INSERT INTO attachments (message_id, room_id, name, size, kind, status, origin_zone, "
        "sha256, report, created_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (int(message.id), int(message.room_id), name, size, kind, status, origin_zone, sha256,
         json.dumps(report or {}, ensure_ascii=False), now))
    attachment = get_attachment(db, str(cur.lastrowid))
    return dataclasses.replace(message, attachments=(attachment,)), True


def finish_attachment_txn(db: sqlite_utils.Database, attachment_id: str, status: str,
                          report: dict[str, Any], sanitized_sha256: str | None,
                          sanitized_size: int | None,
                          sanitized_name: str | None, kind: str | None = None) -> Attachment:
    """Record the disarm outcome; ``kind`` (when given) is the kind the engine detected,
    which the relay learns only then (detection runs in the workers, never before)."""
    _check_status(status)
    cur = db.conn.execute(
        "UPDATE attachments SET status = ?, report = ?, sanitized_sha256 = ?, "
        "sanitized_size = ?, sanitized_name = ?, kind = COALESCE(?, kind) WHERE id = ?",
        (status, json.dumps(report, ensure_ascii=False), sanitized_sha256, sanitized_size,
         sanitized_name, kind, int_id(attachment_id)))
    if cur.rowcount == 0:
        raise FileNotFound(f"ファイルがありません / no such file: {attachment_id}",
                           file_id=attachment_id)
    return get_attachment(db, attachment_id)


def purge_expired_txn(db: sqlite_utils.Database, cutoff_ts: float,
                      now: float) -> tuple[int, list[str], list[str]]:
    """Mark attachments created before ``cutoff_ts`` as purged.  Returns (count, blob
    hashes, quarantine hashes) no longer referenced by any live attachment: the caller
    deletes those files after COMMIT (bytes go only once no row points at them)."""
    c = db.conn
    rows = c.execute("SELECT id, origin_zone, sha256, sanitized_sha256 FROM attachments "
                     "WHERE purged_ts IS NULL AND created_ts < ?", (cutoff_ts,)).fetchall()
    if not rows:
        return 0, [], []
    c.executemany("UPDATE attachments SET purged_ts = ? WHERE id = ?",
                  [(now, r[0]) for r in rows])
    blobs: set[str] = set()
    quarantined: set[str] = set()
    for _, zone, sha, variant in rows:
        (quarantined if zone == "internet" else blobs).add(sha)
        if variant:
            blobs.add(variant)

    def live(sha: str, in_quarantine: bool) -> bool:
        if in_quarantine:
            q = ("SELECT 1 FROM attachments WHERE purged_ts IS NULL AND origin_zone = "
                 "'internet' AND sha256 = ? LIMIT 1")
            return c.execute(q, (sha,)).fetchone() is not None
        q = ("SELECT 1 FROM attachments WHERE purged_ts IS NULL AND ((origin_zone != "
             "'internet' AND sha256 = ?) OR sanitized_sha256 = ?) LIMIT 1")
        return c.execute(q, (sha, sha)).fetchone() is not None

    return (len(rows), sorted(s for s in blobs if not live(s, False)),
            sorted(s for s in quarantined if not live(s, True)))
