"""Versioned schema migrations, applied at open (``PRAGMA user_version``).

``MIGRATIONS[i]`` takes the schema from version ``i`` to ``i + 1``.  Each runs in its
own ``BEGIN IMMEDIATE`` transaction together with the version bump, so a crash
mid-migration leaves the previous version intact, and two processes opening the same
state directory (relayd and relayctl) cannot both apply it.  Append new migrations;
never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3
from typing import Callable

import sqlite_utils

from store.errors import SchemaTooNew

_V1 = """
CREATE TABLE accounts (
    id INTEGER PRIMARY KEY,
    login TEXT NOT NULL COLLATE NOCASE UNIQUE,
    display_name TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL CHECK (kind IN ('staff', 'external', 'admin')),
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    -- the password hash, per-account salt, and the parameters used (JSON with "alg").
    pw_hash BLOB,
    pw_salt BLOB,
    pw_params TEXT,
    totp_secret BLOB,
    totp_last_step INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE sessions (
    id INTEGER PRIMARY KEY,
    token_sha256 BLOB NOT NULL UNIQUE,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    zone TEXT NOT NULL CHECK (zone IN ('lgwan', 'internet')),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    expires_ts REAL NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sessions_account ON sessions(account_id);

CREATE TABLE rooms (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('group', 'direct')),
    created_at TEXT NOT NULL,
    created_by INTEGER NOT NULL REFERENCES accounts(id),
    -- "smaller:larger" account ids for a direct room, so one pair has one room.
    direct_key TEXT UNIQUE
);

-- Membership and the per-recipient read state beside it: last_read is the id of the
-- newest message this member has read in this room (0 = none).
CREATE TABLE room_members (
    room_id INTEGER NOT NULL REFERENCES rooms(id),
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    last_read INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (room_id, account_id)
) WITHOUT ROWID;
CREATE INDEX room_members_account ON room_members(account_id, room_id);

-- Each message stored once, whatever the number of recipients.
CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    room_id INTEGER NOT NULL REFERENCES rooms(id),
    sender INTEGER NOT NULL REFERENCES accounts(id),
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    origin_zone TEXT NOT NULL CHECK (origin_zone IN ('lgwan', 'internet')),
    client_id TEXT
);
CREATE INDEX messages_room ON messages(room_id, id);
CREATE UNIQUE INDEX messages_client_id ON messages(sender, client_id)
    WHERE client_id IS NOT NULL;

CREATE TABLE attachments (
    id INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL REFERENCES messages(id),
    room_id INTEGER NOT NULL REFERENCES rooms(id),
    name TEXT NOT NULL,
    size INTEGER NOT NULL,
    kind TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL CHECK (status IN ('pending', 'ready', 'blocked')),
    origin_zone TEXT NOT NULL CHECK (origin_zone IN ('lgwan', 'internet')),
    sha256 TEXT NOT NULL,
    sanitized_sha256 TEXT,
    sanitized_size INTEGER,
    sanitized_name TEXT,
    report TEXT NOT NULL DEFAULT '{}',
    created_ts REAL NOT NULL,
    -- Set when the retention purge removed the original and its variant.
    purged_ts REAL
);
CREATE INDEX attachments_message ON attachments(message_id);
CREATE INDEX attachments_pending ON attachments(status) WHERE status = 'pending';
CREATE INDEX attachments_created ON attachments(created_ts) WHERE purged_ts IS NULL;

-- Append-only, hash-chained (store.audit).
CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT,
    action TEXT NOT NULL,
    subject TEXT,
    data TEXT NOT NULL,
    prev_mac TEXT NOT NULL,
    mac TEXT NOT NULL
);
-- One row: the newest entry and a MAC over it, so cutting entries off the end of the
-- chain is detected too.
CREATE TABLE audit_head (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    last_id INTEGER NOT NULL,
    last_mac TEXT NOT NULL,
    head_mac TEXT NOT NULL
);
"""


# Requests for the original of a disarmed file, and the admin's decision.  An approved
# request is the release: only its requester may fetch the original, until expires_ts.
_V2 = """
CREATE TABLE original_requests (
    id INTEGER PRIMARY KEY,
    attachment_id INTEGER NOT NULL REFERENCES attachments(id),
    requester INTEGER NOT NULL REFERENCES accounts(id),
    reason TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied')),
    created_at TEXT NOT NULL,
    decided_by INTEGER REFERENCES accounts(id),
    decided_at TEXT,
    note TEXT NOT NULL DEFAULT '',
    expires_at TEXT,
    expires_ts REAL
);
CREATE INDEX original_requests_status ON original_requests(status, id);
CREATE INDEX original_requests_file ON original_requests(attachment_id, requester);
"""


def _script(sql: str) -> Callable[[sqlite_utils.Database], None]:
    def apply(db: sqlite_utils.Database) -> None:
        # One statement at a time: executescript() would COMMIT the open transaction.
        buf = ""
        for line in sql.splitlines(keepends=True):
            buf += line
            if sqlite3.complete_statement(buf):
                db.execute(buf)
                buf = ""
    return apply


# A password an admin set (a reset, the first admin's one-time password) must be
# changed at the first login: until then the session can do nothing else.
_V3_PASSWORD_CHANGE = """
ALTER TABLE accounts ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0;
"""


# The directory: departments (部 > 課 > 係, each row naming its parent), the one an
# account belongs to, what the personnel system says of a person (kana, email), and
# accounts deleted while their messages stay; rooms made for a department, and rooms
# archived (read-only).
_V4_DIRECTORY = """
CREATE TABLE departments (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    parent_id INTEGER REFERENCES departments(id),
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX departments_name ON departments(COALESCE(parent_id, 0), name);
ALTER TABLE accounts ADD COLUMN department_id INTEGER REFERENCES departments(id);
ALTER TABLE accounts ADD COLUMN kana TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN email TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN deleted_at TEXT;
CREATE INDEX accounts_department ON accounts(department_id);
ALTER TABLE rooms ADD COLUMN department_id INTEGER REFERENCES departments(id);
ALTER TABLE rooms ADD COLUMN archived_at TEXT;
"""


# Working together: a message's kind (a stamp names its stamp id), the message it
# replies to, when it was edited or deleted; who it mentions (kept beside the room so
# the unread mentions of a member count in one index range); reactions (one row per
# stamp and person); the earlier versions of edited or deleted messages, for the
# sender, admins and the audit; and the search index (store.search).  The index is
# FTS5 with the trigram tokenizer (substrings of 3 characters or more, no word
# splitting, which Japanese needs), whose content is each body with a line feed
# after it (the view messages_fts_source) (so that a 2-character query finds a body ending in it among the index's
# terms, through messages_fts_terms); triggers keep it in step inside the writing
# transaction.  Empty bodies (files, stamps, deleted messages) are never in it.
_V5_COLLAB = """
ALTER TABLE messages ADD COLUMN kind TEXT NOT NULL DEFAULT 'text';
ALTER TABLE messages ADD COLUMN stamp TEXT;
ALTER TABLE messages ADD COLUMN reply_to INTEGER REFERENCES messages(id);
ALTER TABLE messages ADD COLUMN edited_at TEXT;
ALTER TABLE messages ADD COLUMN deleted_at TEXT;
UPDATE messages SET kind = 'file' WHERE id IN (SELECT message_id FROM attachments);
CREATE TABLE message_mentions (
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    room_id INTEGER NOT NULL REFERENCES rooms(id),
    message_id INTEGER NOT NULL REFERENCES messages(id),
    PRIMARY KEY (account_id, room_id, message_id)
) WITHOUT ROWID;
CREATE INDEX message_mentions_message ON message_mentions(message_id);
CREATE TABLE reactions (
    message_id INTEGER NOT NULL REFERENCES messages(id),
    stamp TEXT NOT NULL,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    at TEXT NOT NULL,
    PRIMARY KEY (message_id, stamp, account_id)
) WITHOUT ROWID;
CREATE TABLE message_versions (
    id INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL REFERENCES messages(id),
    body TEXT NOT NULL,
    written_at TEXT NOT NULL,
    replaced_at TEXT NOT NULL,
    replaced_by INTEGER REFERENCES accounts(id),
    change TEXT NOT NULL CHECK (change IN ('edit', 'delete'))
);
CREATE INDEX message_versions_message ON message_versions(message_id, id);
CREATE VIEW messages_fts_source AS SELECT id, body || char(10) AS body FROM messages;
CREATE VIRTUAL TABLE messages_fts USING fts5(
    body, content='messages_fts_source', content_rowid='id', tokenize='trigram',
    columnsize=0);
CREATE VIRTUAL TABLE messages_fts_terms USING fts5vocab(messages_fts, 'row');
INSERT INTO messages_fts(rowid, body)
    SELECT id, body || char(10) FROM messages WHERE body != '';
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN new.body != '' BEGIN
    INSERT INTO messages_fts(rowid, body) VALUES (new.id, new.body || char(10));
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF body ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, body)
        SELECT 'delete', old.id, old.body || char(10) WHERE old.body != '';
    INSERT INTO messages_fts(rowid, body)
        SELECT new.id, new.body || char(10) WHERE new.body != '';
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages WHEN old.body != '' BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, body)
        VALUES ('delete', old.id, old.body || char(10));
END;
"""


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
    _script(_V1),
    _script(_V2),
    _script(_V3_PASSWORD_CHANGE),
    _script(_V4_DIRECTORY),
    _script(_V5_COLLAB),
]

SCHEMA_VERSION = len(MIGRATIONS)


def user_version(db: sqlite_utils.Database) -> int:
    return int(db.conn.execute("PRAGMA user_version").fetchone()[0])


def schema_too_new(version: int, where: str) -> SchemaTooNew:
    return SchemaTooNew(
        f"データベースがこのバージョンより新しい形式です / {where}: schema version {version} "
        f"is newer than this version of Kakehashi knows ({SCHEMA_VERSION}); run the newer "
        "version or restore a backup made with this one", version=version, path=where)


def migrate(db: sqlite_utils.Database) -> int:
    """Bring the database to ``SCHEMA_VERSION``; returns the number of steps applied.
    Refuses a database newer than this code (a downgrade would corrupt it)."""
    applied = 0
    while True:
        db.conn.execute("BEGIN IMMEDIATE")
        try:
            version = user_version(db)
            if version > SCHEMA_VERSION:
                raise schema_too_new(version, db.conn.execute("PRAGMA database_list")
                                     .fetchone()[2])
            if version == SCHEMA_VERSION:
                db.conn.execute("ROLLBACK")
                return applied
            MIGRATIONS[version](db)
            db.conn.execute(f"PRAGMA user_version={version + 1}")
            db.conn.execute("COMMIT")
            applied += 1
        except BaseException:
            if db.conn.in_transaction:
                db.conn.execute("ROLLBACK")
            raise
