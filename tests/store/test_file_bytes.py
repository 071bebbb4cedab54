"""File bytes through the facade: nothing outside the store opens a blob or the
quarantine, nothing the quarantine hands out is ciphertext, and bytes that cannot be
read or written are one logged StoreUnavailable."""

from __future__ import annotations

import hashlib
import logging
import os
import resource
import signal
from pathlib import Path

import pytest
import trio

from store.blobs import FRAME_BYTES, BlobStore, Quarantine
from store.errors import Corrupt, FileNotFound, StoreUnavailable
from store.facade import Store
from tests.store.conftest import TEST_TIMEOUT_S

ORIGINAL = "保育園だより 令和8年12月号\n".encode() * 100_000  # about 3.4 MB: several frames
VARIANT = b"%PDF-1.7 rebuilt\n" * 1000


def _open_fds_on(path: Path) -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == str(path):
                count += 1
        except OSError:
            pass
    return count


async def _upload(store: Store, data: bytes, quarantined: bool) -> str:
    async with await store.open_upload(quarantined, len(data)) as up:
        await up.write(data)
        sha, _ = await up.commit()
    return sha


async def test_original_chunks_give_the_plaintext_of_either_store(store: Store) -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        q_sha = await _upload(store, ORIGINAL, quarantined=True)
        b_sha = await _upload(store, ORIGINAL, quarantined=False)
        assert q_sha == b_sha == hashlib.sha256(ORIGINAL).hexdigest()
        for quarantined in (True, False):
            chunks = await trio.to_thread.run_sync(
                lambda: list(store.original_chunks(q_sha, quarantined)))
            assert b"".join(chunks) == ORIGINAL and len(chunks) > 1
            assert all(len(c) <= FRAME_BYTES for c in chunks)
        for quarantined in (True, False):
            # Callable anywhere (it touches nothing); the error comes with the first chunk.
            chunks = store.original_chunks("0" * 64, quarantined)
            with pytest.raises(FileNotFound):
                await trio.to_thread.run_sync(next, chunks)


async def test_store_variant_writes_into_the_plain_blob_store(store: Store) -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        parts = [VARIANT[i:i + 4096] for i in range(0, len(VARIANT), 4096)]
        sha, size = await trio.to_thread.run_sync(store.store_variant, iter(parts))
        assert (sha, size) == (hashlib.sha256(VARIANT).hexdigest(), len(VARIANT))
        got = b"".join([c async for c in await store.open_download(sha, False)])
        assert got == VARIANT
        with pytest.raises(FileNotFound):  # not in the quarantine
            await store.open_download(sha, True)


@pytest.mark.parametrize("quarantined", [True, False])
async def test_open_download_streams_and_closes_its_file(store: Store,
                                                         quarantined: bool) -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        sha = await _upload(store, ORIGINAL, quarantined)
        where = (store.quarantine.sealed_path(sha) if quarantined
                 else store.blobs.path(sha))
        stream = await store.open_download(sha, quarantined)
        got = b""
        async for chunk in stream:
            got += chunk
            assert _open_fds_on(where) == 1
        assert got == ORIGINAL and _open_fds_on(where) == 0

        # A client that goes away after the first chunk: the server closes the stream.
        stream = await store.open_download(sha, quarantined)
        await stream.__anext__()
        assert _open_fds_on(where) == 1
        await stream.aclose()  # type: ignore[attr-defined]
        assert _open_fds_on(where) == 0

        # Never read at all: nothing was opened.
        await store.open_download(sha, quarantined)
        assert _open_fds_on(where) == 0


async def test_open_download_of_purged_bytes_is_file_not_found(store: Store) -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        q_sha = await _upload(store, ORIGINAL, quarantined=True)
        v_sha, _ = await trio.to_thread.run_sync(store.store_variant, [VARIANT])
        store.quarantine.delete(q_sha)
        store.blobs.delete(v_sha)
        with pytest.raises(FileNotFound):
            await store.open_download(q_sha, True)
        with pytest.raises(FileNotFound):
            await store.open_download(v_sha, False)


async def test_a_tampered_original_fails_its_check_and_is_logged(
        store: Store, caplog: pytest.LogCaptureFixture) -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        sha = await _upload(store, ORIGINAL, quarantined=True)
        sealed = store.quarantine.sealed_path(sha)
        raw = bytearray(sealed.read_bytes())
        raw[-5] ^= 0x01  # one bit of the last frame's tag
        sealed.write_bytes(bytes(raw))
        with caplog.at_level(logging.ERROR, logger="store.blobs"):
            with pytest.raises(Corrupt):
                async for _ in await store.open_download(sha, True):
                    pass
        assert _open_fds_on(sealed) == 0
    assert [r.levelno for r in caplog.records if r.name == "store.blobs"] == [logging.ERROR]


def test_the_quarantine_is_not_a_blob_store_and_hands_out_no_ciphertext(
        tmp_path: Path) -> None:
    (tmp_path / "q").mkdir()
    (tmp_path / "tmp").mkdir()
    quarantine = Quarantine(BlobStore(tmp_path / "q", tmp_path / "tmp"), os.urandom(32))
    assert not isinstance(quarantine, BlobStore)
    # The blob store's readers (path, open, put) would give or take the sealed bytes
    # as if they were the file: the quarantine has none of them.
    for name in ("open", "path", "put"):
        assert not hasattr(quarantine, name), name
    with quarantine.writer(len(ORIGINAL)) as w:
        w.write(ORIGINAL)
        sha, _ = w.commit()
    assert quarantine.read_bytes(sha) == ORIGINAL
    assert quarantine.sealed_path(sha).read_bytes() != ORIGINAL


# ------------------------------------------------------------------------ I/O failures


def _errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_an_upload_the_state_directory_cannot_take_is_unavailable_and_logged(
        store: Store, caplog: pytest.LogCaptureFixture) -> None:
    tmp = store.paths.tmp
    tmp.rmdir()
    tmp.write_bytes(b"")  # a damaged state directory: tmp/ is a file
    with trio.fail_after(TEST_TIMEOUT_S), caplog.at_level(logging.ERROR):
        with pytest.raises(StoreUnavailable) as info:
            await store.open_upload(True, 1 << 20)
    assert info.value.status == 503 and str(tmp) in str(info.value)
    assert [r.name for r in _errors(caplog)] == ["store.blobs"]


async def test_a_write_the_disk_refuses_is_unavailable_logged_and_leaves_nothing(
        store: Store, caplog: pytest.LogCaptureFixture) -> None:
    # The kernel refuses to grow any file of this process past 1 MiB (EFBIG), as a
    # full disk would refuse with ENOSPC.
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, old_limit[1]))
    try:
        with trio.fail_after(TEST_TIMEOUT_S), caplog.at_level(logging.ERROR):
            with pytest.raises(StoreUnavailable):
                async with await store.open_upload(False, 4 << 20) as up:
                    for _ in range(4):
                        await up.write(os.urandom(1 << 20))
                    await up.commit()
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)
    assert [r.name for r in _errors(caplog)] == ["store.blobs"]
    assert list(store.paths.tmp.iterdir()) == []


async def test_stored_bytes_that_cannot_be_read_are_unavailable_and_logged(
        store: Store, caplog: pytest.LogCaptureFixture) -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        sha = await _upload(store, VARIANT, quarantined=False)
        where = store.blobs.path(sha)
        where.unlink()
        where.mkdir()  # the name is there, the bytes cannot be read
        with caplog.at_level(logging.ERROR), pytest.raises(StoreUnavailable):
            async for _ in await store.open_download(sha, False):
                pass
    assert [r.name for r in _errors(caplog)] == ["store.blobs"]
