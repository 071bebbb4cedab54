"""File bytes outside SQLite: a content-addressed blob store and an encrypted quarantine.

``<state_dir>/blobs/ab/abcdef…``: files named by the SHA-256 of their content, written
through a temporary file that is fsynced and renamed into place, so a name always
holds complete bytes.  Uploads stream in through a writer object: feed it chunks, it
hashes as it goes, refuses to grow past its byte cap (and discards what it had), then
``commit()`` names the file by its hash, or ``discard()`` forgets it.

``<state_dir>/quarantine/ab/abcdef…``: originals from the internet zone, named by the
SHA-256 of the *plaintext* and encrypted at rest with AES-256-GCM in 1 MiB frames, so
a 100 MiB file never needs 100 MiB of memory.  Frame ``i`` uses nonce
``prefix(8) || i(4)`` and authenticates the header, its index and a last-frame flag,
so reordered, cut or extended files fail to decrypt.

Everything here is blocking file I/O; the facade runs it in worker threads.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import struct
from pathlib import Path
from typing import BinaryIO, Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from store.db import fsync_dir
from store.errors import Corrupt, FileNotFound, FileTooLarge, Invalid, StoreError

# Plaintext bytes per quarantine frame.
FRAME_BYTES = 1024 * 1024
_MAGIC = b"KKQ1"
_PREFIX_BYTES = 8
_TAG_BYTES = 16
_SHA_RE = re.compile(r"[0-9a-f]{64}")


def _check_sha(sha256: str) -> str:
    if not _SHA_RE.fullmatch(sha256):
        raise Invalid(f"not a SHA-256 name: {sha256!r}", sha256=sha256)
    return sha256


def _path_in(root: Path, sha256: str) -> Path:
    _check_sha(sha256)
    return root / sha256[:2] / sha256


class BlobWriter:
    """Streams one file into ``root`` under its hash.  Use as a context manager: leaving
    the block without ``commit()`` discards the partial file."""

    def __init__(self, root: Path, tmp_dir: Path, cap: int) -> None:
        self._root = root
        self._cap = cap
        self._hash = hashlib.sha256()
        self.size = 0
        self._tmp = tmp_dir / f"upload-{secrets.token_hex(12)}"
        fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._file: BinaryIO | None = os.fdopen(fd, "wb")

    # Hooks for the encrypted variant: what goes to disk for the plaintext fed in.
    def _emit(self, data: bytes) -> None:
        assert self._file is not None
        self._file.write(data)

    def _finish(self) -> None:
        pass

    def write(self, chunk: bytes) -> None:
        if self._file is None:
            raise StoreError("blob writer already finished")
        if self.size + len(chunk) > self._cap:
            self.discard()
            raise FileTooLarge(f"ファイルが大きすぎます / file over {self._cap} bytes",
                               limit=self._cap)
        self.size += len(chunk)
        self._hash.update(chunk)
        self._emit(chunk)

    def commit(self) -> tuple[str, int]:
        """Make the file durable under its name; returns (sha256 hex, size)."""
        if self._file is None:
            raise StoreError("blob writer already finished")
        try:
            self._finish()
            self._file.flush()
            os.fsync(self._file.fileno())
        finally:
            self._file.close()
            self._file = None
        sha = self._hash.hexdigest()
        final = _path_in(self._root, sha)
        final.parent.mkdir(mode=0o700, exist_ok=True)
        if final.exists():  # same content already stored
            self._tmp.unlink()
        else:
            os.replace(self._tmp, final)
            fsync_dir(final.parent)
        return sha, self.size

    def discard(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> "BlobWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()


class BlobStore:
    """Plain content-addressed files (LGWAN originals, sanitized variants)."""

    def __init__(self, root: Path, tmp_dir: Path) -> None:
        self.root = root
        self._tmp = tmp_dir

    def writer(self, cap: int) -> BlobWriter:
        return BlobWriter(self.root, self._tmp, cap)

    def put(self, data: bytes) -> str:
        with self.writer(len(data)) as w:
            w.write(data)
            return w.commit()[0]

    def path(self, sha256: str) -> Path:
        """Where the bytes are; FileNotFound if they are not stored (or were purged)."""
        p = _path_in(self.root, sha256)
        if not p.exists():
            raise FileNotFound(f"ファイルの内容がありません / no stored content {sha256}",
                               sha256=sha256)
        return p

    def open(self, sha256: str) -> BinaryIO:
        return open(self.path(sha256), "rb")

    def exists(self, sha256: str) -> bool:
        return _path_in(self.root, sha256).exists()

    def delete(self, sha256: str) -> bool:
        try:
            _path_in(self.root, sha256).unlink()
        except FileNotFoundError:
            return False
        return True


def _aad(prefix: bytes, index: int, last: bool) -> bytes:
    return _MAGIC + prefix + struct.pack(">I?", index, last)


class _QuarantineWriter(BlobWriter):
    def __init__(self, root: Path, tmp_dir: Path, cap: int, aead: AESGCM) -> None:
        super().__init__(root, tmp_dir, cap)
        self._aead = aead
        self._prefix = secrets.token_bytes(_PREFIX_BYTES)
        self._index = 0
        self._buf = bytearray()
        super()._emit(_MAGIC + self._prefix)

    def _frame(self, plain: bytes, last: bool) -> None:
        nonce = self._prefix + struct.pack(">I", self._index)
        sealed = self._aead.encrypt(nonce, plain, _aad(self._prefix, self._index, last))
        super()._emit(struct.pack(">I", len(sealed)) + sealed)
        self._index += 1

    def _emit(self, data: bytes) -> None:
        self._buf += data
        while len(self._buf) > FRAME_BYTES:  # keep >= 1 byte back for the last frame
            self._frame(bytes(self._buf[:FRAME_BYTES]), last=False)
            del self._buf[:FRAME_BYTES]

    def _finish(self) -> None:
        self._frame(bytes(self._buf), last=True)
        self._buf.clear()


class Quarantine(BlobStore):
    """Originals from the internet zone, encrypted at rest (see the module docstring).
    ``path``/``open`` give the ciphertext; ``chunks``/``decrypt_to`` the plaintext."""

    def __init__(self, root: Path, tmp_dir: Path, key: bytes) -> None:
        super().__init__(root, tmp_dir)
        self._aead = AESGCM(key)

    def writer(self, cap: int) -> BlobWriter:
        return _QuarantineWriter(self.root, self._tmp, cap, self._aead)

    def chunks(self, sha256: str) -> Iterator[bytes]:
        """The plaintext, frame by frame; Corrupt if any frame fails authentication."""
        with self.open(sha256) as f:
            header = f.read(len(_MAGIC) + _PREFIX_BYTES)
            if len(header) != len(_MAGIC) + _PREFIX_BYTES or not header.startswith(_MAGIC):
                raise Corrupt(f"quarantine file {sha256}: bad header")
            prefix = header[len(_MAGIC):]
            index = 0
            while True:
                head = f.read(4)
                if len(head) != 4:
                    raise Corrupt(f"quarantine file {sha256}: truncated")
                (length,) = struct.unpack(">I", head)
                if length < _TAG_BYTES or length > FRAME_BYTES + _TAG_BYTES:
                    raise Corrupt(f"quarantine file {sha256}: bad frame length")
                sealed = f.read(length)
                nonce = prefix + struct.pack(">I", index)
                last = f.peek(1)[:1] == b"" if hasattr(f, "peek") else False
                try:
                    plain = self._aead.decrypt(nonce, sealed, _aad(prefix, index, last))
                except InvalidTag as exc:
                    raise Corrupt(f"quarantine file {sha256}: frame {index} fails "
                                  "authentication / 改ざんまたは破損") from exc
                yield plain
                if last:
                    return
                index += 1

    def read_bytes(self, sha256: str) -> bytes:
        return b"".join(self.chunks(sha256))

    def decrypt_to(self, sha256: str, dest: Path) -> Path:
        """Write the plaintext to ``dest`` (0600), e.g. for a disarm worker; the caller
        deletes it when done.  The hash is checked as well as every frame's tag."""
        h = hashlib.sha256()
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            for plain in self.chunks(sha256):
                h.update(plain)
                out.write(plain)
        if h.hexdigest() != sha256:
            dest.unlink(missing_ok=True)
            raise Corrupt(f"quarantine file {sha256}: content hash mismatch")
        return dest
