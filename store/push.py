"""Web Push subscriptions: a browser's push endpoint and its keys, per account; and
relayd's VAPID key (the one that signs every push it sends).

Synchronous SQL for the facade (``*_txn`` on the writer thread, the rest on readers).
The VAPID key is an EC P-256 private key in ``<state_dir>/keys/vapid.pem``, made the
first time it is needed: it is not a key of the record (losing it only makes phones
subscribe again), so making one next to an existing database is fine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from store.db import int_id, iso


@dataclass(frozen=True, slots=True)
class PushSubscription:
    id: str
    account_id: str
    endpoint: str
    p256dh: str  # the browser's public key, base64url (RFC 8291)
    auth: str  # the browser's auth secret, base64url


def _sub(row: tuple[object, ...]) -> PushSubscription:
    return PushSubscription(str(row[0]), str(row[1]), str(row[2]), str(row[3]), str(row[4]))


def add_txn(db: sqlite_utils.Database, account_id: str, session_id: str, endpoint: str,
            p256dh: str, auth: str, now: float) -> PushSubscription:
    """The subscription of this endpoint, now the account's and the session's (a phone
    that changed hands is subscribed by its new user; one endpoint is one browser)."""
    c = db.conn
    c.execute("DELETE FROM push_subscriptions WHERE endpoint = ?", (endpoint,))
    cur = c.execute("INSERT INTO push_subscriptions (account_id, session_id, endpoint, p256dh, "
                    "auth, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (int_id(account_id), int_id(session_id), endpoint, p256dh, auth, iso(now)))
    return PushSubscription(str(cur.lastrowid), account_id, endpoint, p256dh, auth)


def remove_txn(db: sqlite_utils.Database, subscription_id: str,
               account_id: str | None) -> bool:
    """Remove one (of that account, when given); True if it existed."""
    sql, args = "DELETE FROM push_subscriptions WHERE id = ?", [int_id(subscription_id)]
    if account_id is not None:
        sql += " AND account_id = ?"
        args.append(int_id(account_id))
    return db.conn.execute(sql, args).rowcount > 0


def of_accounts(db: sqlite_utils.Database, account_ids: list[str],
                now: float) -> list[PushSubscription]:
    """The subscriptions of these accounts whose session still works (or that predate
    sessions on subscriptions): an ended session's phone gets nothing more."""
    if not account_ids:
        return []
    marks = ",".join("?" * len(account_ids))
    rows = db.conn.execute(
        f"SELECT p.id, p.account_id, p.endpoint, p.p256dh, p.auth FROM push_subscriptions p "
        f"LEFT JOIN sessions s ON s.id = p.session_id "
        f"WHERE p.account_id IN ({marks}) AND (p.session_id IS NULL OR "
        f"(s.id IS NOT NULL AND s.revoked = 0 AND s.expires_ts > ?)) ORDER BY p.id",
        [*(int_id(a) for a in account_ids), now])
    return [_sub(r) for r in rows]


def subscribers(db: sqlite_utils.Database) -> set[str]:
    return {str(r[0]) for r in db.conn.execute(
        "SELECT DISTINCT account_id FROM push_subscriptions")}


def vapid_key(keys_dir: Path) -> ec.EllipticCurvePrivateKey:
    """relayd's VAPID key, made (0600) the first time."""
    path = keys_dir / "vapid.pem"
    if not path.exists():
        keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption())
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        os.replace(tmp, path)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key
