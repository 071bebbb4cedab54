"""Blob store and encrypted quarantine: caps, naming, encryption at rest, retention."""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path

import pytest
import trio

from store.blobs import FRAME_BYTES, BlobStore, Quarantine
from store.errors import Corrupt, FileNotFound, FileTooLarge, Invalid, KeyUnusable
from store.facade import Store
from store.keys import load_key
from tests.store.conftest import TEST_TIMEOUT_S, config
from tests.audits import SETUP

NOW = 1_800_000_000.0
# Plaintext that is easy to search for in ciphertext: a repeated, recognisable phrase.
SECRET = "マイナンバー 123456789018 confidential ".encode() * 1000


def _stores(tmp_path: Path) -> tuple[BlobStore, Quarantine]:
    for d in ("blobs", "quarantine", "tmp"):
        (tmp_path / d).mkdir()
    key = load_key(tmp_path / "keys", "quarantine")
    return (BlobStore(tmp_path / "blobs", tmp_path / "tmp"),
            Quarantine(BlobStore(tmp_path / "quarantine", tmp_path / "tmp"), key))


def test_blob_named_by_hash_and_deduplicated(tmp_path: Path) -> None:
    blobs, _ = _stores(tmp_path)
    with blobs.writer(10_000) as w:
        w.write(b"hello ")
        w.write(b"world")
        sha, size = w.commit()
    assert sha == hashlib.sha256(b"hello world").hexdigest() and size == 11
    assert blobs.path(sha).read_bytes() == b"hello world"
    assert blobs.put(b"hello world") == sha
    assert list((tmp_path / "tmp").iterdir()) == []
    with pytest.raises(Invalid):
        blobs.path("../../etc/passwd")
    assert blobs.delete(sha) and not blobs.exists(sha)
    with pytest.raises(FileNotFound):
        blobs.path(sha)


@pytest.mark.parametrize("which", ["blobs", "quarantine"])
def test_cap_discards_the_partial_file(tmp_path: Path, which: str) -> None:
    blobs, quarantine = _stores(tmp_path)
    target = blobs if which == "blobs" else quarantine
    w = target.writer(100)
    w.write(b"x" * 60)
    with pytest.raises(FileTooLarge) as info:
        w.write(b"x" * 41)
    assert info.value.status == 413
    assert list((tmp_path / "tmp").iterdir()) == []
    assert list((tmp_path / which).iterdir()) == []
    # Exactly at the cap is allowed.
    with target.writer(100) as w2:
        w2.write(b"y" * 100)
        sha, size = w2.commit()
    assert size == 100 and target.exists(sha)


@pytest.mark.parametrize("length", [0, 1, FRAME_BYTES, 2 * FRAME_BYTES + 5])
def test_quarantine_round_trip_and_no_plaintext_on_disk(tmp_path: Path, length: int) -> None:
    _, quarantine = _stores(tmp_path)
    data = (SECRET * (length // len(SECRET) + 1))[:length]
    with quarantine.writer(10 * FRAME_BYTES) as w:
        for i in range(0, len(data), 65536):
            w.write(data[i:i + 65536])
        sha, size = w.commit()
    assert sha == hashlib.sha256(data).hexdigest() and size == length
    assert quarantine.read_bytes(sha) == data
    assert all(len(c) <= FRAME_BYTES for c in quarantine.chunks(sha))
    on_disk = quarantine.sealed_path(sha).read_bytes()
    if length >= 64:  # a byte or two can turn up in random ciphertext by chance
        assert SECRET[:32] not in on_disk and data[:64] not in on_disk
    out = quarantine.decrypt_to(sha, tmp_path / "plain")
    assert out.read_bytes() == data and (out.stat().st_mode & 0o777) == 0o600


def test_quarantine_detects_tampering_and_truncation(tmp_path: Path) -> None:
    _, quarantine = _stores(tmp_path)
    data = SECRET * 100  # several frames
    with quarantine.writer(len(data)) as w:
        w.write(data)
        sha, _ = w.commit()
    path = quarantine.sealed_path(sha)
    original = path.read_bytes()

    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 1
    path.write_bytes(bytes(flipped))
    with pytest.raises(Corrupt):
        quarantine.read_bytes(sha)

    # Cut at a frame boundary: the remaining frames are intact but the last is not final.
    (first_len,) = struct.unpack(">I", original[12:16])
    path.write_bytes(original[:16 + first_len])
    with pytest.raises(Corrupt):
        quarantine.read_bytes(sha)

    path.write_bytes(original + original[12:16 + first_len])  # extended
    with pytest.raises(Corrupt):
        quarantine.read_bytes(sha)

    path.write_bytes(original)
    other = Quarantine(BlobStore(quarantine.root, tmp_path / "tmp"), os.urandom(32))
    with pytest.raises(Corrupt):
        other.read_bytes(sha)
    assert quarantine.read_bytes(sha) == data


def test_keys_come_from_systemd_credentials_when_given(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    key = os.urandom(32)
    (creds / "quarantine.key").write_bytes(key.hex().encode() + b"\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    assert load_key(tmp_path / "keys", "quarantine") == key
    assert not (tmp_path / "keys" / "quarantine.key").exists()
    made = load_key(tmp_path / "keys", "audit")  # not passed: made in the state dir
    assert len(made) == 32 and load_key(tmp_path / "keys", "audit") == made
    (creds / "bad.key").write_bytes(b"short")
    with pytest.raises(KeyUnusable):
        load_key(tmp_path / "keys", "bad")


async def test_upload_post_file_finish_and_retention_purge(state_dir: Path) -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        store = await Store.open(config(state_dir))
        try:
            a = await store.create_account("a", None, "staff", "", audit=SETUP, now=NOW)
            b = await store.create_account("b", None, "external", "", audit=SETUP, now=NOW)
            room = await store.create_room("r", "group", [b.id], a.id, NOW, audit=SETUP)
            async with await store.open_upload(True, 1 << 20) as up:
                await up.write(SECRET)
                sha, size = await up.commit()
            msg, created = await store.post_file(room.id, b.id, "internet", "申請書.pdf", size,
                                                 sha, "pdf", "pending", "f-1", NOW)
            assert created and msg.body == "" and len(msg.attachments) == 1
            att = msg.attachments[0]
            assert att.status == "pending" and att.sha256 == sha and att.name == "申請書.pdf"
            again, created_again = await store.post_file(room.id, b.id, "internet", "x", 1, sha,
                                                         "pdf", "pending", "f-1", NOW)
            assert not created_again and again.attachments == (att,)
            assert [p.id for p in await store.pending_attachments()] == [att.id]

            variant = await trio.to_thread.run_sync(store.blobs.put, b"%PDF-1.7 rebuilt")
            report = {"removed": [{"code": "pdf.javascript", "detail": "obj 12"}]}
            done = await store.finish_attachment(att.id, "ready", report, variant, 16, "申請書.pdf", audit=None, now=NOW)
            assert done.status == "ready" and done.report == report and done.kind == "pdf"
            # The relay learns the detected kind only from the disarm engine.
            done = await store.finish_attachment(att.id, "ready", report, variant, 16, "申請書.pdf", kind="docm", audit=None, now=NOW)
            assert done.kind == "docm"
            assert await store.pending_attachments() == []
            assert (await store.get_message(msg.id)).attachments == (done,)

            assert await store.purge_expired(NOW + 10 * 86400, days=30) == 0
            assert await store.purge_expired(NOW + 31 * 86400, days=30) == 1
            assert not store.quarantine.exists(sha) and not store.blobs.exists(variant)
            assert (await store.get_attachment(att.id)).id == att.id  # the row remains
            with pytest.raises(FileNotFound):
                await store.get_attachment("9999")
        finally:
            await store.aclose()
