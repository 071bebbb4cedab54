"""An upload's bytes whose message was never recorded are deleted, but never from
under another upload of the same content or an attachment that names them."""

from __future__ import annotations

from pathlib import Path

from store.blobs import BlobStore


def _commit(blobs: BlobStore, data: bytes) -> str:
    with blobs.writer(len(data), hold=True) as w:
        w.write(data)
        return w.commit()[0]


def test_forgotten_bytes_stay_while_another_upload_holds_the_same_content(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "blobs", tmp_path / "tmp")
    (tmp_path / "blobs").mkdir()
    (tmp_path / "tmp").mkdir()
    first = _commit(blobs, b"same bytes")
    second = _commit(blobs, b"same bytes")
    assert first == second
    assert blobs.release(first, forget=True, referenced=lambda sha: False) is False
    assert blobs.exists(first)
    assert blobs.release(second, forget=True, referenced=lambda sha: False) is True
    assert not blobs.exists(first)
    assert list((tmp_path / "tmp").iterdir()) == []


def test_forgotten_bytes_an_attachment_names_are_kept(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "blobs", tmp_path / "tmp")
    (tmp_path / "blobs").mkdir()
    (tmp_path / "tmp").mkdir()
    sha = _commit(blobs, b"named elsewhere")
    assert blobs.release(sha, forget=True, referenced=lambda s: s == sha) is False
    assert blobs.exists(sha)
    kept = _commit(blobs, b"recorded")
    assert blobs.release(kept, forget=False, referenced=lambda s: False) is False
    assert blobs.exists(kept)
