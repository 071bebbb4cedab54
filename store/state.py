"""Opening a state directory, and refusing one that cannot be used as it is.

``open_state(cfg, create)`` is the blocking part of ``Store.open``.  It refuses, with a
StateUnusable whose message is one line naming the path:

* no database, when this caller may not create one (``create=False``: every relayctl
  command but ``init``) — NoState, and nothing is created;
* a database file that is not SQLite — NotADatabase;
* a key missing next to an existing database — KeyMissing (store.keys): a key is made
  only together with a new database;
* a schema newer than this code knows — SchemaTooNew;
* damage found by ``PRAGMA quick_check`` — DatabaseCorrupt.

The quick check reads every page of the database, so its time grows with the
database: it is stopped after ``CHECK_BOUND_S`` seconds (``sqlite3_interrupt`` from
a watchdog thread; a progress handler is not called inside the check in SQLite
before 3.43).
A check cut short is logged as a warning and the open goes on: damage in what was not
checked shows as failing reads and writes, each logged at ERROR where it happens.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from store.config import StoreConfig
from store.db import StatePaths, connect
from store.errors import DatabaseCorrupt, NoState, NotADatabase, StateUnusable
from store.keys import load_key
from store.migrations import SCHEMA_VERSION, migrate, schema_too_new, user_version

log = logging.getLogger(__name__)

# Longest the quick check at open may take.  At the rate it reads a database from
# local SSD this covers a few GB; a larger one is checked only as far as it got.
CHECK_BOUND_S = 5.0
INTERRUPT_RETRY_S = 0.01
# The first 16 bytes of every SQLite 3 database file.
SQLITE_HEADER = b"SQLite format 3\x00"


@dataclass(frozen=True, slots=True)
class OpenState:
    """A state directory that passed every check: its paths, its keys and the write
    connection, migrated to the current schema."""

    paths: StatePaths
    db: sqlite_utils.Database
    audit_key: bytes
    quarantine_key: bytes


def open_state(cfg: StoreConfig, create: bool) -> OpenState:
    """The checks of the module docstring, in that order; nothing is made in a state
    directory that is refused.  The caller owns (and closes) the write connection."""
    paths = StatePaths(Path(cfg.state_dir))
    existed = has_database(paths)
    if not existed:
        if not create:
            raise NoState(f"{paths.root} にデータベースがありません（relayctl init で作成します） / "
                          f"no database in {paths.root}: check --config and "
                          "store.state_dir, or create the state with relayctl init",
                          path=str(paths.root))
        paths.ensure()
    else:
        check_header(paths.db)
    audit_key = load_key(paths.keys, "audit", cfg.audit_key_file, create=not existed)
    quarantine_key = load_key(paths.keys, "quarantine", cfg.quarantine_key_file,
                              create=not existed)
    paths.ensure()
    db: sqlite_utils.Database | None = None
    try:
        db = connect(paths.db)
        version = user_version(db)
        if version > SCHEMA_VERSION:
            raise schema_too_new(version, str(paths.db))
        if existed:
            quick_check(paths.db, CHECK_BOUND_S)
        migrate(db)
    except BaseException as exc:
        if db is not None:
            db.conn.close()
        if isinstance(exc, sqlite3.Error):
            raise database_error(paths.db, exc) from exc
        raise
    return OpenState(paths, db, audit_key, quarantine_key)


def has_database(paths: StatePaths) -> bool:
    """Whether the state directory holds a database.  An empty file does not count:
    SQLite writes the first page as soon as it makes a database (switching it to WAL),
    so an empty file holds nothing that a key was ever used for."""
    try:
        return paths.db.stat().st_size > 0
    except FileNotFoundError:
        return False


def check_header(path: Path) -> None:
    """NotADatabase unless ``path`` starts like an SQLite 3 database."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise StateUnusable(f"データベースを開けません / cannot open {path}: "
                            f"{exc.strerror or exc}", path=str(path)) from exc
    if head != SQLITE_HEADER:
        raise NotADatabase(f"{path} は SQLite データベースではありません / {path} is not an "
                           "SQLite database", path=str(path))


def quick_check(path: Path, bound_s: float = CHECK_BOUND_S) -> bool:
    """``PRAGMA quick_check`` of the database at ``path``, on a connection of its own,
    stopped after ``bound_s``.  True when it ran to the end and found nothing; False
    when it was cut short; DatabaseCorrupt with the first problem otherwise."""
    db = connect(path, readonly=True)
    conn = db.conn
    finished = threading.Event()

    def stop_at_bound() -> None:
        # sqlite3_interrupt is a no-op while no statement runs yet, so repeat it until
        # the check has noticed.
        if finished.wait(bound_s):
            return
        while not finished.is_set():
            conn.interrupt()
            finished.wait(INTERRUPT_RETRY_S)

    timer = threading.Thread(target=stop_at_bound, name="store-check-bound", daemon=True)
    started = time.monotonic()
    timer.start()
    try:
        rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check")]
    except sqlite3.Error as exc:
        if getattr(exc, "sqlite_errorname", "") != "SQLITE_INTERRUPT":
            raise database_error(path, exc) from exc
        log.warning("%s: quick check stopped after %.1f s, before the end of the database "
                    "(起動時の検査を打ち切りました); continuing", path,
                    time.monotonic() - started)
        return False
    finally:
        finished.set()
        timer.join()
        conn.close()
    if rows != ["ok"]:
        first = rows[0].replace("\n", " ") if rows else "no answer"
        more = f" (+{len(rows) - 1} more)" if len(rows) > 1 else ""
        raise DatabaseCorrupt(f"データベースが破損しています / {path} failed its check: "
                              f"{first}{more}; restore a backup", path=str(path))
    return True


def database_error(path: Path, exc: sqlite3.Error) -> StateUnusable:
    """The refusal for an SQLite error met while opening ``path``."""
    name = getattr(exc, "sqlite_errorname", "")
    if name == "SQLITE_NOTADB":
        return NotADatabase(f"{path} は SQLite データベースではありません / {path} is not an "
                            f"SQLite database ({exc})", path=str(path))
    if name == "SQLITE_CORRUPT":
        return DatabaseCorrupt(f"データベースが破損しています / {path} failed its check: "
                               f"{exc}; restore a backup", path=str(path))
    return StateUnusable(f"データベースを開けません / cannot open {path}: {exc}",
                         path=str(path))
