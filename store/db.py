"""Connections and the layout of the state directory.

``StatePaths`` is the one owner of every path under a state directory; nothing else
joins names onto it::

    kakehashi.db (+ -wal, -shm)   the database
    blobs/ab/abcdef…              plain content-addressed files (store.blobs)
    quarantine/ab/abcdef…         encrypted originals from the internet zone
    tmp/                          uploads in progress
    keys/<name>.key               keys made for the embedded default (store.keys)
    tls/cert.pem, tls/key.pem     the self-signed pair for trying relayd out
    run/ports.json                relayd's pid and bound addresses, for tests and tools
    run/control.sock              relayd's control socket (relayctl talks to it)

Every directory is private to the service user (0700).

Every SQLite connection the store makes comes from ``connect`` so the pragmas that
durability depends on (WAL, ``synchronous=FULL``, foreign keys, a busy timeout) are
set in one place.  Connections run in driver autocommit (``isolation_level=None``):
the store issues BEGIN/SAVEPOINT/COMMIT itself, so nothing commits behind its back.
Each is wrapped in a ``sqlite_utils.Database`` for schema work and ad-hoc queries;
hot paths use the plain cursor underneath (``db.conn``), whose statement cache
serves as the prepared-statement cache.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

import sqlite_utils

from store.errors import StateUnusable

DB_NAME = "kakehashi.db"
TLS_CERT_NAME = "cert.pem"
TLS_KEY_NAME = "key.pem"
# How long a connection waits for another process's lock (relayctl next to relayd)
# before SQLITE_BUSY.
BUSY_TIMEOUT_MS = 10_000
# Statements each connection keeps compiled; the writer uses a few dozen.
STATEMENT_CACHE = 256


@dataclass(frozen=True, slots=True)
class StatePaths:
    """Where everything in one state directory lives."""

    root: Path

    @property
    def db(self) -> Path:
        return self.root / DB_NAME

    @property
    def db_shm(self) -> Path:
        """The WAL index every open connection holds a lock on (store.backup.in_use)."""
        return self.root / (DB_NAME + "-shm")

    @property
    def db_sidecars(self) -> tuple[Path, ...]:
        """Files SQLite keeps next to the database (WAL, its index, a rollback journal)."""
        return tuple(self.root / (DB_NAME + s) for s in ("-wal", "-shm", "-journal"))

    @property
    def blobs(self) -> Path:
        return self.root / "blobs"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def tls(self) -> Path:
        return self.root / "tls"

    @property
    def tls_cert(self) -> Path:
        return self.tls / TLS_CERT_NAME

    @property
    def tls_key(self) -> Path:
        return self.tls / TLS_KEY_NAME

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def ports(self) -> Path:
        return self.run / "ports.json"

    @property
    def control_socket(self) -> Path:
        return self.run / "control.sock"

    def ensure(self) -> None:
        """Create the directories, private to the service user (0700)."""
        for d in (self.root, self.blobs, self.quarantine, self.keys, self.tmp, self.run):
            private_dir(d)

    def write_ports(self, pid: int, addresses: Mapping[str, list[str]]) -> Path:
        """``run/ports.json``: relayd's pid and each zone's bound addresses, replaced
        whole so a reader never sees half of it."""
        private_dir(self.run)
        tmp = self.ports.with_suffix(".tmp")
        tmp.write_text(json.dumps({"pid": pid, **addresses}), encoding="utf-8")
        os.replace(tmp, self.ports)
        return self.ports

    def read_ports(self) -> dict[str, Any] | None:
        """What ``write_ports`` wrote, or None when there is no readable file."""
        try:
            data = json.loads(self.ports.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None


def private_dir(path: Path) -> Path:
    """``path`` made if missing, private to the service user (0700)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def connect(path: Path, *, readonly: bool = False) -> sqlite_utils.Database:
    """One connection with the store's pragmas, usable from any one thread at a time."""
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False,
                           timeout=BUSY_TIMEOUT_MS / 1000, cached_statements=STATEMENT_CACHE)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    if not readonly:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            conn.close()
            raise StateUnusable(f"WAL モードにできません / {path}: cannot switch to WAL "
                                f"(journal_mode={mode})", path=str(path))
    # FULL: a COMMIT that returned survives power loss (docs/SECURITY.md, Durability).
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    if readonly:
        # Readers must never write, even by a bug in a read function.
        conn.execute("PRAGMA query_only=ON")
    # No plugins: a store connection runs only our SQL.
    return sqlite_utils.Database(conn, execute_plugins=False)


@contextlib.contextmanager
def read_snapshot(db: sqlite_utils.Database) -> Iterator[sqlite3.Connection]:
    """A read transaction, so several SELECTs see one consistent snapshot."""
    conn = db.conn
    conn.execute("BEGIN")
    try:
        yield conn
    finally:
        conn.execute("ROLLBACK")


def int_id(value: object) -> int:
    """Ids are strings on the wire; one that is not a number matches nothing (-1)."""
    try:
        return int(value)  # type: ignore[call-overload,no-any-return]
    except (TypeError, ValueError):
        return -1


def iso(ts: float) -> str:
    """RFC 3339 UTC with milliseconds: ``2026-11-22T03:04:05.123Z``."""
    ms = int(round(ts * 1000))
    secs, ms = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{ms:03d}Z"


def fsync_dir(path: Path) -> None:
    """Make a rename or create in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
