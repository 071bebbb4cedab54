"""File bytes through the facade: nothing outside the store opens a blob or the
quarantine, and nothing the quarantine hands out is ciphertext."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import pytest
import trio

from store.blobs import FRAME_BYTES, BlobStore, Quarantine
from store.errors import Corrupt, FileNotFound
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
        with pytest.raises(FileNotFound):  # at the call, not at the first chunk
            store.original_chunks("0" * 64, True)
        with pytest.raises(FileNotFound):
            store.original_chunks("0" * 64, False)


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
