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
so reordered, cut or extended files fail to decrypt.  A ``Quarantine`` keeps these
sealed files in a blob store of its own and seals and opens around it: nothing it
hands out is ciphertext.

A writer made with ``hold=True`` keeps its committed file *held* until
``release(sha, forget)``: an upload whose message could not be recorded (a full disk,
a resend of a message already there) forgets its bytes, and they are deleted unless
another upload holds the same content or an attachment names it (``referenced``,
asked under the same lock every commit takes, so no file is removed under an upload
that is about to name it).

Everything here is blocking file I/O; the facade runs it in worker threads.  File
bytes that cannot be read or written (an I/O error, a damaged state directory) are
logged at ERROR here, where it happens, and raised as StoreUnavailable; a full file
system is StorageFull, logged once per episode (``store.diskfull``); bytes that are
simply not there are FileNotFound.  A file that could not be written whole is
removed before the error is raised: tmp/ holds only uploads in progress.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import secrets
import struct
import threading
from collections import Counter
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from store.db import fsync_dir
from store.diskfull import EPISODE, full_error, is_full
from store.errors import (
    Corrupt, FileNotFound, FileTooLarge, Invalid, StoreError, StoreUnavailable,
)

log = logging.getLogger(__name__)

# Plaintext bytes per quarantine frame.
FRAME_BYTES = 1024 * 1024
# Bytes per chunk when a plain file is read out.
READ_CHUNK_BYTES = 1024 * 1024
_MAGIC = b"KKQ1"
_PREFIX_BYTES = 8
_TAG_BYTES = 16
_SHA_RE = re.compile(r"[0-9a-f]{64}")


def _check_sha(sha256: str) -> str:
    if not _SHA_RE.fullmatch(sha256):
        raise Invalid(f"not a SHA-256 name: {sha256!r}", sha256=sha256)
    return sha256


def _io_failed(what: str, exc: OSError) -> StoreUnavailable:
    if is_full(exc):
        EPISODE.refused(what, exc)
        return full_error(exc)
    log.error("file bytes: %s: %s", what, exc)
    return StoreUnavailable(f"ファイルを読み書きできません / {what}: {exc.strerror or exc}")


@contextlib.contextmanager
def _io(what: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise _io_failed(what, exc) from exc


def _path_in(root: Path, sha256: str) -> Path:
    _check_sha(sha256)
    return root / sha256[:2] / sha256


class _Sealer:
    """Turns plaintext into the quarantine's frames as it is fed (see the module
    docstring); what it returns goes to disk."""

    def __init__(self, aead: AESGCM) -> None:
        self._aead = aead
        self._prefix = secrets.token_bytes(_PREFIX_BYTES)
        self._index = 0
        self._buf = bytearray()
        self._header: bytes | None = _MAGIC + self._prefix

    def _frame(self, plain: bytes, last: bool) -> bytes:
        nonce = self._prefix + struct.pack(">I", self._index)
        sealed = self._aead.encrypt(nonce, plain, _aad(self._prefix, self._index, last))
        self._index += 1
        return struct.pack(">I", len(sealed)) + sealed

    def _take_header(self) -> bytes:
        header, self._header = self._header or b"", None
        return header

    def feed(self, data: bytes) -> bytes:
        out = bytearray(self._take_header())
        self._buf += data
        while len(self._buf) > FRAME_BYTES:  # keep >= 1 byte back for the last frame
            out += self._frame(bytes(self._buf[:FRAME_BYTES]), last=False)
            del self._buf[:FRAME_BYTES]
        return bytes(out)

    def finish(self) -> bytes:
        out = self._take_header() + self._frame(bytes(self._buf), last=True)
        self._buf.clear()
        return out


class BlobWriter:
    """Streams one file into ``root`` under the hash of what is fed in.  Use as a
    context manager: leaving the block without ``commit()`` discards the partial file.
    With a sealer the bytes on disk are its output (the quarantine's frames); the name
    and the cap are always those of the plaintext."""

    def __init__(self, root: Path, tmp_dir: Path, cap: int,
                 sealer: _Sealer | None = None, owner: "BlobStore | None" = None,
                 hold: bool = False) -> None:
        self._root = root
        self._owner = owner
        self._hold = hold
        self._cap = cap
        self._sealer = sealer
        self._hash = hashlib.sha256()
        self.size = 0
        self._tmp = tmp_dir / f"upload-{secrets.token_hex(12)}"
        with _io(f"cannot create {self._tmp}"):
            fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._file: BinaryIO | None = os.fdopen(fd, "wb")

    def write(self, chunk: bytes) -> None:
        if self._file is None:
            raise StoreError("blob writer already finished")
        if self.size + len(chunk) > self._cap:
            self.discard()
            raise FileTooLarge(f"ファイルが大きすぎます / file over {self._cap} bytes",
                               limit=self._cap)
        self.size += len(chunk)
        self._hash.update(chunk)
        try:
            with _io(f"cannot write {self._tmp}"):
                self._file.write(self._sealer.feed(chunk) if self._sealer else chunk)
        except BaseException:
            self.discard()  # give the space back now, not when the caller gets to it
            raise

    def commit(self) -> tuple[str, int]:
        """Make the file durable under its name; returns (sha256 hex, size)."""
        if self._file is None:
            raise StoreError("blob writer already finished")
        sha = self._hash.hexdigest()
        final = _path_in(self._root, sha)
        with _io(f"cannot store {final}"):
            try:
                if self._sealer is not None:
                    self._file.write(self._sealer.finish())
                self._file.flush()
                os.fsync(self._file.fileno())
                f, self._file = self._file, None
                f.close()
                with self._owner._lock if self._owner else contextlib.nullcontext():
                    final.parent.mkdir(mode=0o700, exist_ok=True)
                    if final.exists():  # same content already stored
                        self._tmp.unlink()
                    else:
                        os.replace(self._tmp, final)
                        fsync_dir(final.parent)
                    if self._owner and self._hold:
                        self._owner._held[sha] += 1
            except BaseException:
                self.discard()
                raise
        return sha, self.size

    def discard(self) -> None:
        if self._file is not None:
            f, self._file = self._file, None
            try:
                f.close()
            except OSError:
                pass  # what it could not write is being thrown away anyway
        # Also after a commit that failed past the close (a full directory): a name
        # in tmp/ is only ever an upload in progress.  Once placed it is gone here.
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> "BlobWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()


class BlobStore:
    """Content-addressed files in ``root``: plain ones (LGWAN originals, sanitized
    variants), or, inside a Quarantine, the sealed bytes it hands to this store."""

    def __init__(self, root: Path, tmp_dir: Path) -> None:
        self.root = root
        self._tmp = tmp_dir
        # Committing, and deciding whether a forgotten file may go, one at a time.
        self._lock = threading.Lock()
        self._held: Counter[str] = Counter()

    def writer(self, cap: int, sealer: _Sealer | None = None, hold: bool = False) -> BlobWriter:
        return BlobWriter(self.root, self._tmp, cap, sealer, self, hold)

    def release(self, sha256: str, forget: bool, referenced: Callable[[str], bool]) -> bool:
        """Let go of a file a ``hold=True`` writer committed.  With ``forget`` (its
        message was not recorded) the file is deleted when nobody else holds it and
        ``referenced(sha256)`` is False; True if it was deleted."""
        with self._lock:
            self._held[sha256] -= 1
            if self._held[sha256] > 0:
                return False
            del self._held[sha256]
            if not forget or referenced(sha256):
                return False
            return self.delete(sha256)

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
        """The stored bytes; FileNotFound if they are not stored (or were purged)."""
        path = _path_in(self.root, sha256)
        try:
            return open(path, "rb")
        except FileNotFoundError:
            raise FileNotFound(f"ファイルの内容がありません / no stored content {sha256}",
                               sha256=sha256) from None
        except OSError as exc:
            raise _io_failed(f"cannot open {path}", exc) from exc

    def chunks(self, sha256: str, size: int = READ_CHUNK_BYTES) -> Iterator[bytes]:
        """The stored bytes in chunks of ``size``.  FileNotFound now if they are not
        stored; the file is opened on the first ``next`` and closed at the end (or on
        ``close()``), so an iterator never started holds nothing open."""
        self.path(sha256)
        return self._chunks(sha256, size)

    def _chunks(self, sha256: str, size: int) -> Iterator[bytes]:
        with self.open(sha256) as f:
            while True:
                with _io(f"cannot read {f.name}"):
                    chunk = f.read(size)
                if not chunk:
                    return
                yield chunk

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


def _corrupt(sha256: str, what: str) -> Corrupt:
    # Logged where it is found: the caller only sees the file refused.
    log.error("quarantine file %s: %s", sha256, what)
    return Corrupt(f"隔離ファイルが破損しています / quarantine file {sha256}: {what}",
                   sha256=sha256)


class Quarantine:
    """Originals from the internet zone, encrypted at rest (see the module docstring).

    It keeps the sealed bytes in a BlobStore of its own and only ever hands out the
    plaintext (``chunks``, ``read_bytes``, ``decrypt_to``), each frame checked.
    ``sealed_path`` says where the encrypted file is, for tools and tests that need
    the file itself."""

    def __init__(self, sealed: BlobStore, key: bytes) -> None:
        self._sealed = sealed
        self._aead = AESGCM(key)

    @property
    def root(self) -> Path:
        return self._sealed.root

    def writer(self, cap: int, hold: bool = False) -> BlobWriter:
        """Stream plaintext in; it is named by its own hash and stored sealed."""
        return self._sealed.writer(cap, _Sealer(self._aead), hold)

    def release(self, sha256: str, forget: bool, referenced: Callable[[str], bool]) -> bool:
        return self._sealed.release(sha256, forget, referenced)

    def exists(self, sha256: str) -> bool:
        return self._sealed.exists(sha256)

    def delete(self, sha256: str) -> bool:
        return self._sealed.delete(sha256)

    def sealed_path(self, sha256: str) -> Path:
        """The encrypted file (FileNotFound if it is not stored)."""
        return self._sealed.path(sha256)

    def chunks(self, sha256: str) -> Iterator[bytes]:
        """The plaintext, frame by frame; Corrupt if any frame fails authentication.
        FileNotFound now if the file is not stored; the file is opened on the first
        ``next`` and closed at the end (or on ``close()``)."""
        self._sealed.path(sha256)
        return self._frames(sha256)

    def _frames(self, sha256: str) -> Iterator[bytes]:
        with self._sealed.open(sha256) as f, _io(f"cannot read {f.name}"):
            header = f.read(len(_MAGIC) + _PREFIX_BYTES)
            if len(header) != len(_MAGIC) + _PREFIX_BYTES or not header.startswith(_MAGIC):
                raise _corrupt(sha256, "bad header")
            prefix = header[len(_MAGIC):]
            index = 0
            while True:
                head = f.read(4)
                if len(head) != 4:
                    raise _corrupt(sha256, "truncated")
                (length,) = struct.unpack(">I", head)
                if length < _TAG_BYTES or length > FRAME_BYTES + _TAG_BYTES:
                    raise _corrupt(sha256, "bad frame length")
                sealed = f.read(length)
                nonce = prefix + struct.pack(">I", index)
                last = f.peek(1)[:1] == b""
                try:
                    plain = self._aead.decrypt(nonce, sealed, _aad(prefix, index, last))
                except InvalidTag:
                    raise _corrupt(sha256, f"frame {index} fails authentication "
                                           "(改ざんまたは破損)") from None
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
        with _io(f"cannot write {dest}"):
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                for plain in self.chunks(sha256):
                    h.update(plain)
                    out.write(plain)
        if h.hexdigest() != sha256:
            dest.unlink(missing_ok=True)
            raise _corrupt(sha256, "content hash mismatch")
        return dest
