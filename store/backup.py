"""Online backup of a state directory, and how to restore one.

Backup (``relayctl backup DEST``, safe while relayd runs)::

    backup(state_dir_or_store, dest)

copies the database with SQLite's online backup API (``sqlite3.Connection.backup``,
one consistent snapshot taken on its own read connection; in WAL mode relayd keeps
writing meanwhile), checks the copy (``PRAGMA quick_check``), then copies ``blobs/``,
``quarantine/`` and ``keys/``.  The database goes first: file bytes are always stored
before the row that names them is committed, so every file the snapshot refers to
already exists when the directories are copied.  Keys passed by systemd
(``LoadCredential=``, e.g. /etc/kakehashi/*.key) are not in the state directory: back
those up yourself, once.

Restore:

1. ``systemctl stop relayd`` (nothing may have the database open);
2. move the old state directory aside;
3. copy the backup directory to the state directory (``cp -a BACKUP /var/lib/kakehashi``,
   or ``restore(BACKUP, STATE_DIR)``, which refuses to overwrite a database);
4. give it to the service user if needed, and ``systemctl start relayd``.

Opening the restored directory applies any newer migrations as usual.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path
from typing import Protocol

from store.db import DB_NAME, BUSY_TIMEOUT_MS, StatePaths, fsync_dir

_COPIED_DIRS = ("blobs", "quarantine", "keys")


class _HasPaths(Protocol):
    paths: StatePaths


def _state_root(source: str | os.PathLike[str] | _HasPaths) -> Path:
    paths = getattr(source, "paths", None)
    if isinstance(paths, StatePaths):
        return paths.root
    return Path(source)  # type: ignore[arg-type]


def backup(source: str | os.PathLike[str] | _HasPaths, dest: str | os.PathLike[str]) -> Path:
    """Back up a state directory (or an open Store's) into ``dest``, a new or empty
    directory.  Blocking: from trio, run it with ``trio.to_thread.run_sync``."""
    root = _state_root(source)
    out = Path(dest)
    db_path = root / DB_NAME
    if not db_path.exists():
        raise FileNotFoundError(f"{db_path}: no database to back up")
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise FileExistsError(f"{out}: backup destination must be empty")
    src = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    dst = sqlite3.connect(out / DB_NAME)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        check = dst.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise RuntimeError(f"backup copy failed its check: {check}")
    finally:
        dst.close()
        src.close()
    with open(out / DB_NAME, "rb") as f:
        os.fsync(f.fileno())
    for name in _COPIED_DIRS:
        if (root / name).is_dir():
            shutil.copytree(root / name, out / name, dirs_exist_ok=True)
    fsync_dir(out)
    return out


def restore(backup_dir: str | os.PathLike[str], state_dir: str | os.PathLike[str]) -> Path:
    """Copy a backup into ``state_dir`` (step 3 above).  relayd must be stopped; refuses
    to overwrite an existing database."""
    src, dst = Path(backup_dir), Path(state_dir)
    if not (src / DB_NAME).exists():
        raise FileNotFoundError(f"{src}: not a backup (no {DB_NAME})")
    if (dst / DB_NAME).exists():
        raise FileExistsError(f"{dst}: already holds a database; move it aside first")
    shutil.copytree(src, dst, dirs_exist_ok=True)
    StatePaths(dst).ensure()
    return dst
