"""Secret keys the store needs (audit MAC key, quarantine encryption key).

A key comes, in order, from an explicit file path, from systemd's credentials
directory (``$CREDENTIALS_DIRECTORY/<name>.key``, set by ``LoadCredential=``), or from
``<state_dir>/keys/<name>.key``.  A key file holds 32 raw bytes or 64 hex digits.

A missing key is made (0600, 32 random bytes, in ``<state_dir>/keys/``) only when the
caller says the database is being created in the same open (``create=True``): a key
made next to an existing database would not verify its audit chain, would sign the
next entries with the wrong key and could not decrypt its quarantine.  Otherwise the
open is refused, naming every place the key was looked for.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from store.db import fsync_dir
from store.errors import KeyMissing, KeyUnusable

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
    raise KeyUnusable(f"鍵ファイルの形式が不正です / {where}: a key file holds {KEY_BYTES} "
                      f"raw bytes or {2 * KEY_BYTES} hex digits", path=str(where))


def _read(path: Path) -> bytes:
    """The key in ``path``; FileNotFoundError is left to the caller."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise  # not an unusable key: the caller looks elsewhere
    except OSError as exc:
        raise KeyUnusable(f"鍵ファイルを読めません / cannot read key file {path}: "
                          f"{exc.strerror or exc}", path=str(path)) from exc
    return _parse(raw, path)


def load_key(keys_dir: Path, name: str, explicit: str = "", *, create: bool = True) -> bytes:
    """The key called ``name`` ("audit", "quarantine"); see the module docstring.
    KeyMissing when it is nowhere and ``create`` is false (or ``explicit`` names a
    file that is not there); KeyUnusable when a key file cannot be read or parsed."""
    file_name = f"{name}.key"
    if explicit:
        path = Path(explicit)
        try:
            return _read(path)
        except FileNotFoundError:
            raise KeyMissing(f"鍵ファイルがありません / key file not found: {path} "
                             f"(store.{name}_key_file)", path=str(path)) from None
    cred_dir = os.environ.get("CREDENTIALS_DIRECTORY")
    if cred_dir:
        try:
            return _read(Path(cred_dir) / file_name)
        except FileNotFoundError:
            pass
    path = keys_dir / file_name
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    if not create:
        creds = (f"{Path(cred_dir) / file_name} (credentials directory)" if cred_dir else
                 f"the credentials directory (systemd LoadCredential={file_name}:…; "
                 "CREDENTIALS_DIRECTORY is not set)")
        raise KeyMissing(
            f"鍵 {file_name} が見つかりません。既存のデータベースに新しい鍵は作りません / "
            f"key {file_name} not found in {creds} or {path}; a new key is never made "
            "next to an existing database", name=name, path=str(path))
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = secrets.token_bytes(KEY_BYTES)
    tmp = keys_dir / f".{file_name}.{secrets.token_hex(4)}"
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
        return _read(path)
    finally:
        os.unlink(tmp)
    fsync_dir(keys_dir)
    return key
