"""Accounts, sessions and TOTP state: synchronous SQL, run by the facade.

``*_txn`` functions run on the writer thread inside the group-commit transaction (each
in its own SAVEPOINT); the others are reads, run on a read connection.  Passwords
arrive here already hashed (store.passwords runs in a worker thread).
"""

from __future__ import annotations

import hashlib
import sqlite3
from typing import Any

import sqlite_utils

from store.db import int_id, iso
from store.errors import AccountNotFound, LoginExists
from store.passwords import PasswordHash
from store.records import Account, AccountKind, Session, Zone

_ACCOUNT_COLS = "id, login, display_name, kind, disabled, created_at, must_change_password"
_N_ACCOUNT_COLS = len(_ACCOUNT_COLS.split(", "))


def account_from_row(row: sqlite3.Row | tuple[Any, ...]) -> Account:
    return Account(id=str(row[0]), login=row[1], display_name=row[2], kind=row[3],
                   disabled=bool(row[4]), created_at=row[5], must_change_password=bool(row[6]))


def _one(c: sqlite3.Connection, where: str, arg: object, label: str) -> Account:
    row = c.execute(f"SELECT {_ACCOUNT_COLS} FROM accounts WHERE {where}", (arg,)).fetchone()
    if row is None:
        raise AccountNotFound(f"アカウントがありません / no such account: {label}",
                              **{"login" if where.startswith("login") else "account_id": label})
    return account_from_row(row)


# ------------------------------------------------------------------------- reads


def get_account(db: sqlite_utils.Database, account_id: str) -> Account:
    return _one(db.conn, "id = ?", int_id(account_id), account_id)


def get_account_by_login(db: sqlite_utils.Database, login: str) -> Account:
    return _one(db.conn, "login = ?", login, login)


def list_accounts(db: sqlite_utils.Database) -> list[Account]:
    rows = db.conn.execute(f"SELECT {_ACCOUNT_COLS} FROM accounts ORDER BY id").fetchall()
    return [account_from_row(r) for r in rows]


def password_of(db: sqlite_utils.Database, login: str) -> tuple[Account, PasswordHash | None] | None:
    row = db.conn.execute(
        f"SELECT {_ACCOUNT_COLS}, pw_hash, pw_salt, pw_params FROM accounts WHERE login = ?",
        (login,)).fetchone()
    if row is None:
        return None
    n = _N_ACCOUNT_COLS
    stored = PasswordHash(row[n], row[n + 1], row[n + 2]) if row[n] is not None else None
    return account_from_row(row), stored


def totp_state(db: sqlite_utils.Database, account_id: str) -> tuple[bytes | None, int]:
    row = db.conn.execute("SELECT totp_secret, totp_last_step FROM accounts WHERE id = ?",
                          (int_id(account_id),)).fetchone()
    if row is None:
        raise AccountNotFound(account_id=account_id)
    return row[0], int(row[1])


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def session_for_token(db: sqlite_utils.Database, token: str,
                      now: float) -> tuple[Account, Session] | None:
    # An account past its last day of use (store.externals) works no more, whatever
    # its sessions say; a session of one that will pass it ends no later (its
    # streams' timers are set from expires_at).
    row = db.conn.execute(
        f"SELECT s.id, s.account_id, s.zone, s.created_at, s.expires_at, a.expires_ts, "
        f"{', '.join('a.' + c for c in _ACCOUNT_COLS.split(', '))} "
        "FROM sessions s JOIN accounts a ON a.id = s.account_id "
        "WHERE s.token_sha256 = ? AND s.revoked = 0 AND s.expires_ts > ? AND a.disabled = 0 "
        "AND (a.expires_ts IS NULL OR a.expires_ts > ?2)",
        (token_hash(token), now)).fetchone()
    if row is None:
        return None
    expires_at = row[4]
    if row[5] is not None and iso(row[5]) < expires_at:
        expires_at = iso(row[5])
    session = Session(id=str(row[0]), account_id=str(row[1]), zone=row[2],
                      created_at=row[3], expires_at=expires_at)
    return account_from_row(row[6:]), session


# ------------------------------------------------------------------------- writes


def create_account_txn(db: sqlite_utils.Database, login: str, pw: PasswordHash | None,
                       kind: AccountKind, display_name: str, now: float,
                       must_change: bool = False) -> Account:
    c = db.conn
    if c.execute("SELECT 1 FROM accounts WHERE login = ?", (login,)).fetchone():
        raise LoginExists(f"ログイン名は使用済みです / login already taken: {login}", login=login)
    cur = c.execute(
        "INSERT INTO accounts (login, display_name, kind, created_at, pw_hash, pw_salt, "
        "pw_params, must_change_password) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (login, display_name, kind, iso(now),
         pw.hash if pw else None, pw.salt if pw else None, pw.params if pw else None,
         int(must_change)))
    return get_account(db, str(cur.lastrowid))


def set_password_txn(db: sqlite_utils.Database, login: str, pw: PasswordHash,
                     must_change: bool, keep_session: str | None) -> tuple[Account, list[str]]:
    """A new hash; every session of the account ends but ``keep_session`` (the one a
    person changes their own password through).  Returns the ended sessions' ids."""
    account = get_account_by_login(db, login)
    db.conn.execute("UPDATE accounts SET pw_hash = ?, pw_salt = ?, pw_params = ?, "
                    "must_change_password = ? WHERE id = ?",
                    (pw.hash, pw.salt, pw.params, int(must_change), int(account.id)))
    ended = _revoke_all(db.conn, account.id, keep=keep_session)
    return get_account(db, account.id), ended


def rehash_txn(db: sqlite_utils.Database, account_id: str, pw: PasswordHash) -> None:
    """The same password under the current cost (after a login proved it)."""
    db.conn.execute("UPDATE accounts SET pw_hash = ?, pw_salt = ?, pw_params = ? WHERE id = ?",
                    (pw.hash, pw.salt, pw.params, int_id(account_id)))


def _revoke_all(c: sqlite3.Connection, account_id: str, keep: str | None = None) -> list[str]:
    keep_id = int_id(keep) if keep is not None else -1
    ids = [str(r[0]) for r in c.execute(
        "SELECT id FROM sessions WHERE account_id = ? AND revoked = 0 AND id != ?",
        (int(account_id), keep_id))]
    c.execute("UPDATE sessions SET revoked = 1 WHERE account_id = ? AND revoked = 0 AND id != ?",
              (int(account_id), keep_id))
    return ids


def set_disabled_txn(db: sqlite_utils.Database, login: str, disabled: bool) -> Account:
    account = get_account_by_login(db, login)
    db.conn.execute("UPDATE accounts SET disabled = ? WHERE id = ?",
                    (int(disabled), int(account.id)))
    if disabled:
        _revoke_all(db.conn, account.id)
    return get_account(db, account.id)


def set_totp_secret_txn(db: sqlite_utils.Database, login: str, secret: bytes | None) -> None:
    account = get_account_by_login(db, login)
    # A new secret starts a new sequence of steps.
    db.conn.execute("UPDATE accounts SET totp_secret = ?, totp_last_step = 0 WHERE id = ?",
                    (secret, int(account.id)))
    # Re-enrolment is what an operator does when a phone is lost: every session the
    # old second factor opened ends with it.
    _revoke_all(db.conn, account.id)


def accept_totp_step_txn(db: sqlite_utils.Database, account_id: str, step: int) -> bool:
    cur = db.conn.execute(
        "UPDATE accounts SET totp_last_step = ? WHERE id = ? AND totp_last_step < ?",
        (step, int_id(account_id), step))
    if cur.rowcount == 0:
        totp_state(db, account_id)  # AccountNotFound if it does not exist
        return False
    return True


def create_session_txn(db: sqlite_utils.Database, account_id: str, token: str, zone: Zone,
                       now: float, ttl_s: float, device: str = "") -> Session:
    account = get_account(db, account_id)
    expires = now + ttl_s
    cur = db.conn.execute(
        "INSERT INTO sessions (token_sha256, account_id, zone, created_at, expires_at, "
        "expires_ts, device, last_seen_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (token_hash(token), int(account.id), zone, iso(now), iso(expires), expires, device,
         now))
    return Session(id=str(cur.lastrowid), account_id=account.id, zone=zone,
                   created_at=iso(now), expires_at=iso(expires))


def revoke_session_txn(db: sqlite_utils.Database, token: str) -> bool:
    cur = db.conn.execute("UPDATE sessions SET revoked = 1 WHERE token_sha256 = ? AND revoked = 0",
                          (token_hash(token),))
    return cur.rowcount > 0


def purge_sessions_txn(db: sqlite_utils.Database, now: float) -> int:
    """Forget sessions that expired or were revoked (they can never be used again)."""
    cur = db.conn.execute("DELETE FROM sessions WHERE expires_ts <= ? OR revoked = 1", (now,))
    return cur.rowcount
