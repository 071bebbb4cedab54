"""Online backup of a state directory, and its restore.

Backup (``relayctl backup DEST``, safe while relayd runs)::

    backup(state_dir_or_store, dest)

copies the database with SQLite's online backup API (``sqlite3.Connection.backup``,
one consistent snapshot taken on its own read connection; in WAL mode relayd keeps
writing meanwhile), checks the copy (``PRAGMA integrity_check``), then copies ``blobs/``,
``quarantine/`` and ``keys/``.  The database goes first: file bytes are always stored
before the row that names them is committed, so every file the snapshot refers to
already exists when the directories are copied.  Keys passed by systemd
(``LoadCredential=``, e.g. /etc/kakehashi/*.key) are not in the state directory: back
those up yourself, once.

Restore (``relayctl restore BACKUP [--replace]``)::

    in_use(state_dir)            # None, or why the state directory is busy
    set_aside(state_dir)         # --replace: move the current contents next to it
    restore(backup_dir, state_dir)

relayd must be stopped: ``in_use`` finds a process holding the database open (the
shared lock every SQLite connection in WAL mode keeps on the ``-shm`` file) or a live
pid in ``run/ports.json``.  ``restore`` refuses to overwrite a database; ``set_aside``
moves the old one (never deletes it).  Opening the restored directory applies any
newer migrations as usual.  By hand: stop relayd, move the state directory aside,
``cp -a BACKUP STATE_DIR``, give it to the service user, start relayd."""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Protocol

from store.db import BUSY_TIMEOUT_MS, StatePaths, fsync_dir


def _copied_dirs(paths: StatePaths) -> tuple[Path, ...]:
    return (paths.blobs, paths.quarantine, paths.keys)


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
    paths = StatePaths(_state_root(source))
    out = StatePaths(Path(dest))
    db_path = paths.db
    if not db_path.exists():
        raise FileNotFoundError(f"{db_path}: no database to back up")
    out.root.mkdir(mode=0o700, parents=True, exist_ok=True)
    if any(out.root.iterdir()):
        raise FileExistsError(f"{out.root}: backup destination must be empty")
    src = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    dst = sqlite3.connect(out.db)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        check = _integrity(dst)
        if check != "ok":
            raise RuntimeError(f"backup copy failed its check: {check}")
    finally:
        dst.close()
        src.close()
    with open(out.db, "rb") as f:
        os.fsync(f.fileno())
    for src_dir, out_dir in zip(_copied_dirs(paths), _copied_dirs(out)):
        if src_dir.is_dir():
            shutil.copytree(src_dir, out_dir, dirs_exist_ok=True)
    fsync_dir(out.root)
    return out.root


def integrity_check(db_path: str | os.PathLike[str]) -> str:
    """``PRAGMA integrity_check`` of a database file, read-only: "ok" or the problems."""
    conn = sqlite3.connect(f"file:{Path(db_path)}?mode=ro", uri=True,
                           timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        return _integrity(conn)
    finally:
        conn.close()


def _integrity(conn: sqlite3.Connection) -> str:
    return "; ".join(str(row[0]) for row in conn.execute("PRAGMA integrity_check"))


# SQLite's unix VFS: every connection to a WAL database holds a shared lock on this
# byte of the -shm file for as long as it is open (UNIX_SHM_DMS = 120 + 8 in os_unix.c),
# so a write lock on it can be taken only when nobody has the database open.
_SHM_DMS_BYTE = 128


def in_use(state_dir: str | os.PathLike[str]) -> str | None:
    """Why ``state_dir`` is in use (relayd or relayctl has its database open), or None.

    Call it before opening the database yourself: POSIX locks belong to the process,
    and closing any descriptor of the file would drop the process's own locks."""
    paths = StatePaths(Path(state_dir))
    shm = paths.db_shm
    try:
        fd = os.open(shm, os.O_RDWR)
    except FileNotFoundError:
        fd = -1
    if fd >= 0:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, _SHM_DMS_BYTE)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EAGAIN):
                return f"{paths.db} is open in another process (relayd or relayctl)"
            raise
        else:
            fcntl.lockf(fd, fcntl.LOCK_UN, 1, _SHM_DMS_BYTE)
        finally:
            os.close(fd)
    # A relayd that has not opened the database yet (or on another kernel's view of
    # the file system) still left its pid behind.
    try:
        pid = int((paths.read_ports() or {})["pid"])
    except (ValueError, KeyError, TypeError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    if b"relay" in cmdline:
        return f"relayd (pid {pid}) is running on {paths.root}"
    return None


def set_aside(state_dir: str | os.PathLike[str]) -> Path | None:
    """Move the contents of ``state_dir`` into a new sibling directory
    ``<name>.before-restore-<time>`` (the directory itself stays: under systemd it
    may be a StateDirectory= link).  None when there was nothing to move."""
    root = Path(state_dir)
    if not root.is_dir() or not any(root.iterdir()):
        return None
    stamp = time.strftime("%Y%m%dT%H%M%S")
    aside = root.parent / f"{root.name}.before-restore-{stamp}"
    n = 1
    while aside.exists():
        n += 1
        aside = root.parent / f"{root.name}.before-restore-{stamp}-{n}"
    aside.mkdir(mode=0o700)
    for entry in sorted(root.iterdir()):
        os.rename(entry, aside / entry.name)
    fsync_dir(aside)
    fsync_dir(root)
    return aside


def check_backup(backup_dir: str | os.PathLike[str]) -> None:
    """Raise unless ``backup_dir`` holds a database that passes its integrity check
    (before anything is moved aside for it)."""
    db = StatePaths(Path(backup_dir)).db
    if not db.is_file():
        raise FileNotFoundError(f"{backup_dir}: not a backup (no {db.name})")
    check = integrity_check(db)
    if check != "ok":
        raise RuntimeError(f"{db}: the backup failed its integrity check: {check}")


def restore(backup_dir: str | os.PathLike[str], state_dir: str | os.PathLike[str]) -> Path:
    """Copy a backup into ``state_dir``, which must not hold a database and must not be
    in use.  The backup's database is checked before and after the copy."""
    src, dst = Path(backup_dir), StatePaths(Path(state_dir))
    check_backup(src)
    if dst.db.exists():
        raise FileExistsError(f"{dst.root}: already holds a database; move it aside first")
    busy = in_use(dst.root)
    if busy:
        raise RuntimeError(f"{busy}; stop it first")
    # A stale WAL next to the database would be replayed into the restored copy.
    for sidecar in dst.db_sidecars:
        sidecar.unlink(missing_ok=True)
    shutil.copytree(src, dst.root, dirs_exist_ok=True)
    dst.ensure()
    with open(dst.db, "rb") as f:
        os.fsync(f.fileno())
    fsync_dir(dst.root)
    check = integrity_check(dst.db)
    if check != "ok":
        raise RuntimeError(f"{dst.db}: the restored copy failed its integrity check: {check}")
    return dst.root
