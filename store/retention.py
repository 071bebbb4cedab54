"""Retention of chat records (公文書): synchronous SQL run by the facade
(``store.facade_records``), each batch one transaction with its ``records.purged``
audit entry.

A purged message keeps its row (history, read markers and replies still point at
it): its text is emptied, its earlier versions (edits, deletions) are removed and
``purged_at`` is set.  A message is purged only when its last change (written,
edited or deleted) is older than the cutoff, so an earlier version never goes
before the retention has passed for it.  Purged file contents work as
``store.files.purge_expired_txn``: the rows stay marked, the bytes go after COMMIT
once no live row names them.

Room kinds: ``direct``; ``department`` (a group room with a department);
``group`` (the other group rooms).
"""

from __future__ import annotations

import sqlite3
from typing import Any

import sqlite_utils

from store.db import iso

ROOM_KINDS = ("group", "direct", "department")
_KIND_SQL = {
    "group": "r.kind = 'group' AND r.department_id IS NULL",
    "direct": "r.kind = 'direct'",
    "department": "r.kind = 'group' AND r.department_id IS NOT NULL",
}


def _room_ids(c: sqlite3.Connection, kind: str) -> list[int]:
    return [r[0] for r in c.execute(f"SELECT r.id FROM rooms r WHERE {_KIND_SQL[kind]}")]


def purge_messages_txn(c: sqlite3.Connection, kind: str, cutoff: float, now: float,
                       limit: int) -> tuple[int, int, bool]:
    """Empty at most ``limit`` messages of rooms of ``kind`` last changed before
    ``cutoff``; (messages, versions removed, more left)."""
    stamp = iso(cutoff)
    ids: list[int] = []
    more = False
    # The partial index holds each room's unpurged messages by time: only the rooms of
    # this kind are read, oldest first, up to the cutoff.
    for room in _room_ids(c, kind):
        for mid, edited, deleted in c.execute(
                "SELECT id, edited_at, deleted_at FROM messages WHERE room_id = ? AND "
                "purged_at IS NULL AND created_at < ? ORDER BY created_at", (room, stamp)):
            if max(edited or "", deleted or "") >= stamp:
                continue  # changed since: its text (or earlier version) is younger
            if len(ids) == limit:
                more = True
                break
            ids.append(mid)
        if more:
            break
    if not ids:
        return 0, 0, False
    versions = 0
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        marks = ",".join("?" * len(chunk))
        versions += c.execute(f"DELETE FROM message_versions WHERE message_id IN ({marks})",
                              chunk).rowcount
        c.execute(f"UPDATE messages SET body = '', purged_at = ? WHERE id IN ({marks})",
                  [iso(now), *chunk])
    return len(ids), versions, more


def purge_files_txn(c: sqlite3.Connection, kind: str, cutoff: float, now: float,
                    limit: int) -> tuple[int, set[str], set[str], bool]:
    """Mark at most ``limit`` attachments of rooms of ``kind`` created before
    ``cutoff`` purged; (count, candidate blob hashes, candidate quarantine hashes,
    more left)."""
    rows = c.execute(
        "SELECT a.id, a.origin_zone, a.sha256, a.sanitized_sha256 FROM attachments a "
        f"JOIN rooms r ON r.id = a.room_id WHERE a.purged_ts IS NULL AND a.created_ts < ? "
        f"AND {_KIND_SQL[kind]} ORDER BY a.created_ts LIMIT ?", (cutoff, limit + 1)).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    c.executemany("UPDATE attachments SET purged_ts = ? WHERE id = ?", [(now, r[0]) for r in rows])
    blobs: set[str] = set()
    quarantined: set[str] = set()
    for _, zone, sha, variant in rows:
        (quarantined if zone == "internet" else blobs).add(sha)
        if variant:
            blobs.add(variant)
    return len(rows), blobs, quarantined, more


def unreferenced(c: sqlite3.Connection, blobs: set[str],
                 quarantined: set[str]) -> tuple[list[str], list[str]]:
    """The hashes no live (unpurged) attachment names any more: their bytes may go."""
    def live_blob(sha: str) -> bool:
        return c.execute("SELECT 1 FROM attachments WHERE purged_ts IS NULL AND ((origin_zone "
                         "!= 'internet' AND sha256 = ?) OR sanitized_sha256 = ?) LIMIT 1",
                         (sha, sha)).fetchone() is not None

    def live_original(sha: str) -> bool:
        return c.execute("SELECT 1 FROM attachments WHERE purged_ts IS NULL AND origin_zone = "
                         "'internet' AND sha256 = ? LIMIT 1", (sha,)).fetchone() is not None

    return (sorted(s for s in blobs if not live_blob(s)),
            sorted(s for s in quarantined if not live_original(s)))


def purge_txn(db: sqlite_utils.Database, plan: dict[str, tuple[int, int]], floor_days: int,
              now: float, limit: int) -> tuple[dict[str, Any], list[str], list[str], bool]:
    """One batch over every room kind: (counts for the audit entry, blob hashes and
    quarantine hashes to delete after COMMIT, more left).  A retention below
    ``floor_days`` is never applied (the config refuses it; this is the backstop)."""
    c = db.conn
    counts: dict[str, Any] = {}
    blobs: set[str] = set()
    quarantined: set[str] = set()
    more = False
    for kind in ROOM_KINDS:
        msg_days, file_days = plan.get(kind, (0, 0))
        got: dict[str, int] = {}
        if msg_days > 0 and msg_days >= floor_days:
            n, versions, left = purge_messages_txn(c, kind, now - msg_days * 86400.0, now, limit)
            more |= left
            if n:
                got.update(messages=n, versions=versions, messages_days=msg_days)
        if file_days > 0 and file_days >= floor_days:
            n, b, q, left = purge_files_txn(c, kind, now - file_days * 86400.0, now, limit)
            more |= left
            blobs |= b
            quarantined |= q
            if n:
                got.update(files=n, files_days=file_days)
        if got:
            counts[kind] = got
    gone_blobs, gone_originals = unreferenced(c, blobs, quarantined)
    return counts, gone_blobs, gone_originals, more
