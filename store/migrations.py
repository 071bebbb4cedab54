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


# Answering together: polls (options, one row per vote and option), schedule
# adjustments (candidate slots, one answer row per member: JSON {slot id: yes | maybe |
# no} and a comment), roll calls (option labels as JSON, one answer row per member:
# the option's position, minutes until arrival, a comment).  Each hangs off the
# message that carries it (messages.kind "poll" | "schedule" | "rollcall"; the
# decision of a schedule is announced by a message of kind "system").
_V_VOTES = """
CREATE TABLE polls (
    id INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL UNIQUE REFERENCES messages(id),
    room_id INTEGER NOT NULL REFERENCES rooms(id),
    creator INTEGER NOT NULL REFERENCES accounts(id),
    question TEXT NOT NULL,
    multiple INTEGER NOT NULL,
    anonymous INTEGER NOT NULL,
    closes_at TEXT,
    closes_ts REAL,
    closed_at TEXT
);
CREATE TABLE poll_options (
    id INTEGER PRIMARY KEY,
    poll_id INTEGER NOT NULL REFERENCES polls(id),
    position INTEGER NOT NULL,
    label TEXT NOT NULL
);
CREATE INDEX poll_options_poll ON poll_options(poll_id, position);
CREATE TABLE poll_votes (
    poll_id INTEGER NOT NULL REFERENCES polls(id),
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    option_id INTEGER NOT NULL REFERENCES poll_options(id),
    at TEXT NOT NULL,
    PRIMARY KEY (poll_id, account_id, option_id)
) WITHOUT ROWID;
CREATE INDEX poll_votes_option ON poll_votes(option_id);
CREATE TABLE schedules (
    id INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL UNIQUE REFERENCES messages(id),
    room_id INTEGER NOT NULL REFERENCES rooms(id),
    creator INTEGER NOT NULL REFERENCES accounts(id),
    title TEXT NOT NULL,
    closes_at TEXT,
    closes_ts REAL,
    decided_slot INTEGER,
    decided_at TEXT
);
CREATE TABLE schedule_slots (
    id INTEGER PRIMARY KEY,
    schedule_id INTEGER NOT NULL REFERENCES schedules(id),
    position INTEGER NOT NULL,
    start TEXT NOT NULL,
    start_ts REAL NOT NULL,
    end TEXT,
    label TEXT NOT NULL DEFAULT ''
);
CREATE INDEX schedule_slots_schedule ON schedule_slots(schedule_id, position);
CREATE TABLE schedule_answers (
    schedule_id INTEGER NOT NULL REFERENCES schedules(id),
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    answers TEXT NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    at TEXT NOT NULL,
    PRIMARY KEY (schedule_id, account_id)
) WITHOUT ROWID;
CREATE TABLE rollcalls (
    id INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL UNIQUE REFERENCES messages(id),
    room_id INTEGER NOT NULL REFERENCES rooms(id),
    creator INTEGER NOT NULL REFERENCES accounts(id),
    title TEXT NOT NULL,
    needed INTEGER,
    options TEXT NOT NULL,
    closed_at TEXT,
    reminded_at TEXT,
    reminded_ts REAL
);
CREATE TABLE rollcall_answers (
    rollcall_id INTEGER NOT NULL REFERENCES rollcalls(id),
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    option INTEGER NOT NULL,
    eta_minutes INTEGER,
    comment TEXT NOT NULL DEFAULT '',
    at TEXT NOT NULL,
    PRIMARY KEY (rollcall_id, account_id)
) WITHOUT ROWID;
"""


# Running it for years: each session remembers the device it logged in from (the
# User-Agent, shortened) and when it was last used (written about once a minute);
# external accounts get a sponsor (the staff account responsible) and a last day of
# use (expires_on, a JST date; expires_ts the moment it stops working), and the
# reminders and expiries the hourly check handled, per account and date.
_V_LIFECYCLE = """
ALTER TABLE sessions ADD COLUMN device TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN last_seen_ts REAL;
ALTER TABLE accounts ADD COLUMN sponsor_id INTEGER REFERENCES accounts(id);
ALTER TABLE accounts ADD COLUMN expires_on TEXT;
ALTER TABLE accounts ADD COLUMN expires_ts REAL;
CREATE INDEX accounts_expires ON accounts(expires_ts) WHERE expires_ts IS NOT NULL;
CREATE INDEX accounts_sponsor ON accounts(sponsor_id) WHERE sponsor_id IS NOT NULL;
CREATE TABLE account_expiry_notices (
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    expires_on TEXT NOT NULL,
    days_before INTEGER NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (account_id, expires_on, days_before)
) WITHOUT ROWID;
"""


# Time (store.scheduled): a message marked urgent (緊急: always notifies); an account's
# opt-in to notifications after business hours (on-call staff); scheduled messages
# (予約送信), kept after they are sent, cancelled or dropped so each is sent once and
# its client_id stays answered; when a message was last reminded (the per-message
# limit survives restarts); and the openings whose digest of held notifications went
# out.  The partial index finds what is due without reading what is done.
_V_TIMED = """
ALTER TABLE messages ADD COLUMN urgent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN after_hours INTEGER NOT NULL DEFAULT 0;
CREATE TABLE scheduled_messages (
    id INTEGER PRIMARY KEY,
    room_id INTEGER NOT NULL REFERENCES rooms(id),
    sender INTEGER NOT NULL REFERENCES accounts(id),
    body TEXT NOT NULL,
    urgent INTEGER NOT NULL DEFAULT 0,
    origin_zone TEXT NOT NULL CHECK (origin_zone IN ('lgwan', 'internet')),
    send_ts REAL NOT NULL,
    created_at TEXT NOT NULL,
    client_id TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'cancelled', 'dropped')),
    message_id INTEGER REFERENCES messages(id),
    reason TEXT,
    done_at TEXT
);
CREATE INDEX scheduled_due ON scheduled_messages(send_ts) WHERE status = 'pending';
CREATE INDEX scheduled_sender ON scheduled_messages(sender, status);
CREATE UNIQUE INDEX scheduled_client_id ON scheduled_messages(sender, client_id)
    WHERE client_id IS NOT NULL;
CREATE TABLE message_reminders (
    message_id INTEGER PRIMARY KEY REFERENCES messages(id),
    last_ts REAL NOT NULL,
    times INTEGER NOT NULL
);
CREATE TABLE notify_digests (
    opening REAL PRIMARY KEY,
    accounts INTEGER NOT NULL,
    sent_at TEXT NOT NULL
);
"""


# Working together, part 2 (store.work_objects): tasks, each the object of its message,
# with one row per assignee (an account's tasks across rooms are one index range) and
# a due date kept as given (a date or a UTC time) beside its moment for ordering;
# notes, their current text and every saved version; the coordinates of location
# posts; phone memos (電話取次メモ) and whether they were handled.
_V_WORK = """
CREATE TABLE tasks (
    id INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL UNIQUE REFERENCES messages(id),
    room_id INTEGER NOT NULL REFERENCES rooms(id),
    created_by INTEGER NOT NULL REFERENCES accounts(id),
    title TEXT NOT NULL,
    due TEXT,
    due_ts REAL,
    done_at TEXT,
    done_by INTEGER REFERENCES accounts(id),
    updated_at TEXT NOT NULL
);
CREATE INDEX tasks_room ON tasks(room_id, id);
CREATE TABLE task_assignees (
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    task_id INTEGER NOT NULL REFERENCES tasks(id),
    PRIMARY KEY (account_id, task_id)
) WITHOUT ROWID;
CREATE INDEX task_assignees_task ON task_assignees(task_id);
CREATE TABLE notes (
    id INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL UNIQUE REFERENCES messages(id),
    room_id INTEGER NOT NULL REFERENCES rooms(id),
    created_by INTEGER NOT NULL REFERENCES accounts(id),
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    version INTEGER NOT NULL,
    updated_by INTEGER NOT NULL REFERENCES accounts(id),
    updated_at TEXT NOT NULL
);
CREATE INDEX notes_room ON notes(room_id, id);
CREATE TABLE note_versions (
    note_id INTEGER NOT NULL REFERENCES notes(id),
    version INTEGER NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    saved_by INTEGER NOT NULL REFERENCES accounts(id),
    saved_at TEXT NOT NULL,
    PRIMARY KEY (note_id, version)
) WITHOUT ROWID;
CREATE TABLE locations (
    message_id INTEGER PRIMARY KEY REFERENCES messages(id),
    lat REAL NOT NULL,
    lon REAL NOT NULL,
    accuracy_m REAL,
    label TEXT
);
CREATE TABLE memos (
    id INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL UNIQUE REFERENCES messages(id),
    room_id INTEGER NOT NULL REFERENCES rooms(id),
    created_by INTEGER NOT NULL REFERENCES accounts(id),
    to_account INTEGER NOT NULL REFERENCES accounts(id),
    caller TEXT NOT NULL,
    caller_org TEXT,
    number TEXT,
    received_at TEXT NOT NULL,
    callback INTEGER NOT NULL,
    note TEXT,
    done_at TEXT,
    done_by INTEGER REFERENCES accounts(id)
);
"""


# Search, cheaper to write and quick for two characters (store.search): the index keeps
# which messages hold a trigram, no positions (detail=none: a query's trigrams are all
# asked for, then each candidate body is checked); a new or edited body is queued by
# its trigger and indexed in one statement just before the writer's COMMIT (FTS5
# writes to disk at every SAVEPOINT, and each operation runs in one); the trigrams
# seen are kept in a plain table, the term list of a two-character query (the vocab
# table counted every term's postings as it listed them).  An edit or delete takes
# the old body out of the index at once, unless it was still queued.  The bodies
# already written are queued here and indexed by the writer when it starts.
_V_SEARCH = """
DROP TRIGGER messages_fts_insert;
DROP TRIGGER messages_fts_update;
DROP TRIGGER messages_fts_delete;
DROP TABLE messages_fts_terms;
DROP TABLE messages_fts;
CREATE VIRTUAL TABLE messages_fts USING fts5(
    body, content='messages_fts_source', content_rowid='id', tokenize='trigram',
    columnsize=0, detail=none);
CREATE TABLE messages_fts_pending (id INTEGER PRIMARY KEY);
CREATE TABLE messages_fts_trigrams (term TEXT PRIMARY KEY) WITHOUT ROWID;
INSERT INTO messages_fts_pending (id) SELECT id FROM messages WHERE body != '';
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN new.body != '' BEGIN
    INSERT INTO messages_fts_pending (id) VALUES (new.id);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF body ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, body)
        SELECT 'delete', old.id, old.body || char(10) WHERE old.body != ''
        AND NOT EXISTS (SELECT 1 FROM messages_fts_pending WHERE id = old.id);
    INSERT OR IGNORE INTO messages_fts_pending (id) SELECT new.id WHERE new.body != '';
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, body)
        SELECT 'delete', old.id, old.body || char(10) WHERE old.body != ''
        AND NOT EXISTS (SELECT 1 FROM messages_fts_pending WHERE id = old.id);
    DELETE FROM messages_fts_pending WHERE id = old.id;
END;
"""


# Web Push: a browser's push endpoint and keys, per account (relay.push).
_V_PUSH = """
CREATE TABLE push_subscriptions (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    endpoint TEXT NOT NULL UNIQUE,
    p256dh TEXT NOT NULL,
    auth TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX push_subscriptions_account ON push_subscriptions(account_id);
"""


# Records (store.retention): when the retention emptied a message (its text and its
# earlier versions gone, the row kept), and each room's unpurged messages by time, so
# the hourly purge reads only what is due.
_V_RECORDS = """
ALTER TABLE messages ADD COLUMN purged_at TEXT;
CREATE INDEX messages_retention ON messages(room_id, created_at) WHERE purged_at IS NULL;
"""


# 上長承認 (store.approvals): where LGWAN files wait for an approver before internet
# members get them (a department and the ones under it, or a room), who approves for a
# department (and the ones under it), and one row per held file with its decision.
_V_APPROVALS = """
ALTER TABLE departments ADD COLUMN file_approval INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rooms ADD COLUMN file_approval INTEGER NOT NULL DEFAULT 0;
CREATE TABLE approvers (
    department_id INTEGER NOT NULL REFERENCES departments(id),
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    PRIMARY KEY (department_id, account_id)
) WITHOUT ROWID;
CREATE INDEX approvers_account ON approvers(account_id, department_id);
CREATE TABLE file_approvals (
    id INTEGER PRIMARY KEY,
    attachment_id INTEGER NOT NULL UNIQUE REFERENCES attachments(id),
    room_id INTEGER NOT NULL REFERENCES rooms(id),
    sender INTEGER NOT NULL REFERENCES accounts(id),
    department_id INTEGER REFERENCES departments(id),
    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'refused')),
    created_at TEXT NOT NULL,
    decided_by INTEGER REFERENCES accounts(id),
    decided_at TEXT,
    reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX file_approvals_department ON file_approvals(department_id, status, id);
"""


# A subscription belongs to the session that made it: ending that session (a lost
# phone, a password change, a disabled account) stops its pushes.  Rows from before
# this version have no session and keep working until the browser unsubscribes.
_V_PUSH_SESSION = """
ALTER TABLE push_subscriptions ADD COLUMN session_id INTEGER REFERENCES sessions(id);
"""

MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
    _script(_V1),
    _script(_V2),
    _script(_V3_PASSWORD_CHANGE),
    _script(_V4_DIRECTORY),
    _script(_V5_COLLAB),
    _script(_V_VOTES),
    _script(_V_LIFECYCLE),
    _script(_V_TIMED),
    _script(_V_WORK),
    _script(_V_SEARCH),
    _script(_V_PUSH),
    _script(_V_RECORDS),
    _script(_V_APPROVALS),
    _script(_V_PUSH_SESSION),
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
