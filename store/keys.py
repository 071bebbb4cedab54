"""Secret keys the store needs (audit MAC key, quarantine encryption key).

A key comes, in order, from an explicit file path, from systemd's credentials
directory (``$CREDENTIALS_DIRECTORY/<name>.key``, set by ``LoadCredential=``), or from
``<state_dir>/keys/<name>.key``, which is created (0600, 32 random bytes) on first use
for the embedded default.  A key file holds 32 raw bytes or 64 hex digits.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from store.db import fsync_dir

KEY_BYTES = 32


def _parse(raw: bytes, where: Path) -> bytes:
    text = raw.strip()
    if len(text) == 2 * KEY_BYTES:
        try:
            return bytes.fromhex(text.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            pass
    if len(raw) == KEY_BYTES:
        return raw
    raise ValueError(f"{where}: a key file holds {KEY_BYTES} raw bytes or "
                     f"{2 * KEY_BYTES} hex digits / 鍵ファイルの形式が不正です")


def load_key(keys_dir: Path, name: str, explicit: str = "") -> bytes:
    """The key called ``name`` ("audit", "quarantine"); see the module docstring."""
    if explicit:
        path = Path(explicit)
        return _parse(path.read_bytes(), path)
    cred_dir = os.environ.get("CREDENTIALS_DIRECTORY")
    if cred_dir:
        path = Path(cred_dir) / f"{name}.key"
        if path.exists():
            return _parse(path.read_bytes(), path)
    path = keys_dir / f"{name}.key"
    try:
        return _parse(path.read_bytes(), path)
    except FileNotFoundError:
        pass
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = secrets.token_bytes(KEY_BYTES)
    tmp = keys_dir / f".{name}.key.{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, key)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        # link, not rename: if another process made the key meanwhile, keep theirs.
        os.link(tmp, path)
    except FileExistsError:
        return _parse(path.read_bytes(), path)
    finally:
        os.unlink(tmp)
    fsync_dir(keys_dir)
    return key
