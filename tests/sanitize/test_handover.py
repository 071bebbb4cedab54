"""The Handover: a parse made once per job and handed on, and never for other bytes."""

from __future__ import annotations

import io
import struct
import zipfile

import pytest

from sanitize import cfb
from sanitize.config import SanitizeConfig
from sanitize.detect import detect
from sanitize.engine import disarm_bytes
from sanitize.formats import Context
from sanitize.formats import ooxml
from sanitize.formats import pdf as pdfmod
from sanitize.handover import Handover
from sanitize.report import Verdict, VerifyFailed
from sanitize.safezip import read_members
from tests.sanitize import ole_fixtures as ole
from tests.sanitize import ooxml_fixtures as ooxf
from tests.sanitize import pdf_fixtures as fx

CFG = SanitizeConfig()
LIMITS = {"max_entries": 10_000, "max_total_bytes": 1 << 30, "max_stream_bytes": 1 << 30}


def small_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.txt", b"alpha")
        zf.writestr("報告.txt", b"beta")
    return buf.getvalue()


def test_a_compound_file_is_scanned_once_per_bytes_object() -> None:
    data = ole.doc()
    handover = Handover()
    first = handover.scan(data)
    assert first is not None and handover.scan(data) is first
    again = bytes(bytearray(data))  # equal bytes, another object: scanned afresh, alike
    other = handover.scan(again)
    assert other is not first
    assert cfb.read_tree(other, **LIMITS) == cfb.read_tree(first, **LIMITS)


def test_a_scan_is_never_handed_out_for_other_bytes() -> None:
    handover = Handover()
    assert handover.scan(ole.doc()) is not None
    macros = ole.doc_with_macros()
    found = handover.scan(macros)
    assert found is not None
    names = {path[-1] for path, _ in cfb.read_tree(found, **LIMITS).walk()}
    assert "Macros" in names


def test_a_mutable_buffer_is_not_kept() -> None:
    buf = bytearray(ole.doc())
    handover = Handover()
    first = handover.scan(buf)  # type: ignore[arg-type]
    assert first is not None and handover.scan(buf) is not first  # type: ignore[arg-type]


def test_a_zip_directory_is_read_once_per_bytes_object() -> None:
    data = small_zip()
    handover = Handover()
    first = handover.open_zip(data)
    assert handover.open_zip(data) is first
    again = bytes(bytearray(data))
    assert handover.open_zip(again) is not first
    assert [i.filename for i in handover.open_zip(again).infolist()] == ["a.txt", "報告.txt"]
    assert [m.name for m in read_members(data, CFG, handover)] == ["a.txt", "報告.txt"]


def test_detect_and_the_rebuild_share_one_handover() -> None:
    data = ole.doc_with_macros()
    handover = Handover()
    assert detect(data, "議事録.doc", handover).kind == "doc"
    result = disarm_bytes(data, "議事録.doc", CFG)
    assert result.verdict is Verdict.SANITIZED and result.kind == "doc"


def test_verify_reads_the_bytes_it_is_given_not_a_file_held_for_others() -> None:
    """The rebuild leaves its output's file for verify; verify asked about other bytes
    (here a hostile PDF) must judge those bytes, and the output still verifies."""
    ctx = Context(cfg=CFG)
    out = pdfmod.rebuild(fx.js_openaction(), "pdf", ctx).data
    with pytest.raises(VerifyFailed):
        pdfmod.verify(fx.js_openaction(), "pdf", ctx)
    pdfmod.verify(out, "pdf", ctx)
    assert ctx.handover.take_output(out) is None  # verify took it; nothing is left held


def _raw_stream(data: bytes, info: zipfile.ZipInfo) -> bytes:
    name_len, extra_len = struct.unpack_from("<HH", data, info.header_offset + 26)
    start = info.header_offset + 30 + name_len + extra_len  # after the local header
    return data[start:start + info.compress_size]


def test_verify_of_a_package_judges_its_own_bytes_beside_the_rebuilds_inflations() -> None:
    """The OOXML rebuild leaves what the streams it copied unchanged inflate to; verify
    takes them only for byte-identical streams: the hostile input still fails
    verify in the same job, and the output passes."""
    data = ooxf.docm_with_vba()
    ctx = Context(cfg=CFG)
    out = ooxml.rebuild(data, "docm", ctx).data
    with pytest.raises(VerifyFailed):
        ooxml.verify(data, "docm", ctx)
    ooxml.verify(out, "docx", ctx)
    zf = zipfile.ZipFile(io.BytesIO(out))
    kept = [i for i in zf.infolist() if i.compress_type == zipfile.ZIP_DEFLATED
            and ctx.handover.inflated(i.CRC, _raw_stream(out, i)) == zf.read(i)]
    assert "word/styles.xml" in {i.filename for i in kept}  # unchanged: handed over
    styles = zf.getinfo("word/styles.xml")
    stream = _raw_stream(out, styles)
    other = bytes([stream[0] ^ 1]) + stream[1:]  # same CRC key and length, other bytes
    assert ctx.handover.inflated(styles.CRC, other) is None
