"""Detection from content: every kind the engine speaks, built in code, plus the
evasions libmagic alone falls for (docm named .docx, ELF named .pdf, encrypted OOXML,
Word 2003 XML)."""

from __future__ import annotations

import gzip
import io
import struct
import tarfile
import zipfile
from typing import Callable

import docx
import openpyxl
import pptx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from sanitize import cfb
from sanitize.detect import declared_kind, detect
from sanitize.kinds import KINDS

# --------------------------------------------------------------------------- builders

_CT_W = "application/vnd.openxmlformats-officedocument.wordprocessingml"
_CT_X = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_CT_P = "application/vnd.openxmlformats-officedocument.presentationml"
MAIN = {
    "docx": f"{_CT_W}.document.main+xml",
    "docm": "application/vnd.ms-word.document.macroEnabled.main+xml",
    "dotx": f"{_CT_W}.template.main+xml",
    "dotm": "application/vnd.ms-word.template.macroEnabledTemplate.main+xml",
    "xlsx": f"{_CT_X}.sheet.main+xml",
    "xlsm": "application/vnd.ms-excel.sheet.macroEnabled.main+xml",
    "xltx": f"{_CT_X}.template.main+xml",
    "xltm": "application/vnd.ms-excel.template.macroEnabled.main+xml",
    "xlam": "application/vnd.ms-excel.addin.macroEnabled.main+xml",
    "pptx": f"{_CT_P}.presentation.main+xml",
    "pptm": "application/vnd.ms-powerpoint.presentation.macroEnabled.main+xml",
    "ppsx": f"{_CT_P}.slideshow.main+xml",
    "ppsm": "application/vnd.ms-powerpoint.slideshow.macroEnabled.main+xml",
    "potx": f"{_CT_P}.template.main+xml",
    "potm": "application/vnd.ms-powerpoint.template.macroEnabled.main+xml",
    "ppam": "application/vnd.ms-powerpoint.addin.macroEnabled.main+xml",
}
_FAMILY = {"d": "docx", "x": "xlsx", "p": "pptx"}


def _save(obj: object) -> bytes:
    buf = io.BytesIO()
    obj.save(buf)  # type: ignore[attr-defined]
    return buf.getvalue()


def real_package(family: str) -> bytes:
    """A genuine docx/xlsx/pptx written by python-docx/openpyxl/python-pptx."""
    if family == "docx":
        d = docx.Document()
        d.add_paragraph("令和6年度 予算説明")
        return _save(d)
    if family == "xlsx":
        wb = openpyxl.Workbook()
        wb.active["A1"] = "住民数"
        return _save(wb)
    return _save(pptx.Presentation())


def retyped(kind: str, extra: dict[str, bytes] | None = None,
            package: bytes | None = None) -> bytes:
    """A real package (``package``, or a small one made here) whose main part content
    type is switched to ``kind`` (what Office itself changes when saving as
    docm/xltm/…), optionally with extra parts."""
    base = _FAMILY[kind[0]]
    src = zipfile.ZipFile(io.BytesIO(package or real_package(base)))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info)
            if info.filename == "[Content_Types].xml":
                body = body.replace(MAIN[base].encode(), MAIN[kind].encode())
            dst.writestr(info.filename, body)
        for name, body in (extra or {}).items():
            dst.writestr(name, body)
    return out.getvalue()


def zip_of(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, body in files.items():
            zf.writestr(name, body)
    return out.getvalue()


def compound(*streams: str) -> bytes:
    return cfb.write_cfb(cfb.storage(cfb.ROOT_NAME, [cfb.stream(s, b"x" * 600) for s in streams]))


def image(fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 30, 30)).save(buf, fmt)
    return buf.getvalue()


def pe() -> bytes:
    dos = bytearray(b"MZ" + bytes(62))
    struct.pack_into("<I", dos, 0x3C, 64)
    return bytes(dos) + b"PE\x00\x00" + bytes(200)


def tar_bytes() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("a.txt")
        info.size = 3
        tf.addfile(info, io.BytesIO(b"abc"))
    return buf.getvalue()


def iso() -> bytes:
    data = bytearray(0x8800)
    data[0x8001:0x8006] = b"CD001"
    return bytes(data)


# --------------------------------------------------------------------------- cases

CASES: list[tuple[str, Callable[[], bytes], str, str]] = [
    # (id, builder, declared name, expected kind)
    ("pdf", lambda: b"%PDF-1.7\n1 0 obj<<>>endobj\n%%EOF\n", "a.pdf", "pdf"),
    ("pdf-after-junk", lambda: b"junk" * 100 + b"%PDF-1.4\n%%EOF\n", "a.pdf", "pdf"),
    ("rtf", lambda: b"{\\rtf1\\ansi hello}", "a.rtf", "rtf"),
    ("rtf-short-header", lambda: b"{\\rtx hello}", "a.doc", "rtf"),
    *[(f"img-{f}", (lambda f=f: image(f)), f"a.{ext}", kind) for f, ext, kind in (
        ("JPEG", "jpg", "jpeg"), ("PNG", "png", "png"), ("GIF", "gif", "gif"),
        ("WEBP", "webp", "webp"), ("TIFF", "tif", "tiff"), ("BMP", "bmp", "bmp"))],
    ("docx", lambda: real_package("docx"), "a.docx", "docx"),
    ("xlsx", lambda: real_package("xlsx"), "a.xlsx", "xlsx"),
    ("pptx", lambda: real_package("pptx"), "a.pptx", "pptx"),
    *[(k, (lambda k=k: retyped(k)), f"a.{k}", k) for k in MAIN if k not in _FAMILY.values()],
    ("xlsb", lambda: zip_of({
        "[Content_Types].xml": b'<Types xmlns="http://schemas.openxmlformats.org/package/'
        b'2006/content-types"><Default Extension="bin" ContentType="application/vnd.ms-'
        b'excel.sheet.binary.macroEnabled.main"/></Types>',
        "_rels/.rels": b'<Relationships xmlns="http://schemas.openxmlformats.org/package/'
        b'2006/relationships"><Relationship Id="r1" Type="http://schemas.openxmlformats.'
        b'org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.bin"/>'
        b'</Relationships>',
        "xl/workbook.bin": b"\x83\x01\x00"}), "a.xlsb", "xlsb"),
    ("zip", lambda: zip_of({"a.txt": b"hello", "b/c.pdf": b"%PDF-1.4"}), "a.zip", "zip"),
    ("jar", lambda: zip_of({"META-INF/MANIFEST.MF": b"Main-Class: A\n", "A.class": b"\xca\xfe"}),
     "a.zip", "executable"),
    ("apk", lambda: zip_of({"AndroidManifest.xml": b"\x03\x00", "classes.dex": b"dex\n035"}),
     "a.zip", "executable"),
    ("odt", lambda: zip_of({"mimetype": b"application/vnd.oasis.opendocument.text"}),
     "a.odt", "unknown"),
    ("doc", lambda: compound("WordDocument", "1Table"), "a.doc", "doc"),
    ("xls", lambda: compound("Workbook"), "a.xls", "xls"),
    ("xls-biff5", lambda: compound("Book"), "a.xls", "xls"),
    ("ppt", lambda: compound("PowerPoint Document"), "a.ppt", "ppt"),
    ("ooxml-encrypted", lambda: compound("EncryptionInfo", "EncryptedPackage"), "a.docx",
     "ooxml_encrypted"),
    ("msi-like", lambda: compound("\u4840\u3b3f\u43f2"), "a.msi", "cfb"),
    ("pe", pe, "a.exe", "executable"),
    ("elf", lambda: b"\x7fELF\x02\x01\x01" + bytes(57), "a", "executable"),
    ("macho", lambda: b"\xcf\xfa\xed\xfe" + bytes(60), "a", "executable"),
    ("macho-fat", lambda: b"\xca\xfe\xba\xbe" + bytes(60), "a", "executable"),
    ("shebang", lambda: b"#!/bin/sh\nrm -rf ~\n", "notes.txt", "executable"),
    ("wasm", lambda: b"\x00asm\x01\x00\x00\x00", "a.bin", "executable"),
    *[(f"script{e}", (lambda: b"WScript.Echo 1\r\n"), f"run{e}", "script")
      for e in (".js", ".vbs", ".ps1", ".bat", ".cmd", ".hta", ".wsf", ".JSE")],
    ("hta-content", lambda: b"<html><hta:application id=x><script>x</script>", "a.html",
     "script"),
    ("url-shortcut", lambda: b"[InternetShortcut]\r\nURL=file://evil/share\r\n", "a.txt",
     "script"),
    ("lnk", lambda: bytes.fromhex("4c0000000114020000000000c000000000000046") + bytes(60),
     "a.lnk", "lnk"),
    ("iso", iso, "a.iso", "disk_image"),
    ("vhd", lambda: bytes(2048) + b"conectix" + bytes(504), "a.vhd", "disk_image"),
    ("dmg", lambda: bytes(2048) + b"koly" + bytes(508), "a.dmg", "disk_image"),
    ("rar", lambda: b"Rar!\x1a\x07\x01\x00" + bytes(40), "a.rar", "archive_other"),
    ("7z", lambda: b"7z\xbc\xaf\x27\x1c\x00\x04" + bytes(40), "a.7z", "archive_other"),
    ("cab", lambda: b"MSCF" + bytes(60), "a.cab", "archive_other"),
    ("gz", lambda: gzip.compress(b"hello"), "a.gz", "archive_other"),
    ("tar", tar_bytes, "a.tar", "archive_other"),
    ("svg", lambda: b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>',
     "a.svg", "svg"),
    ("html", lambda: b"<!DOCTYPE html><html><body>hi</body></html>", "a.html", "html"),
    ("xml", lambda: b'<?xml version="1.0"?><root/>', "a.xml", "xml"),
    ("word2003-xml", lambda: b'<?xml version="1.0"?><?mso-application progid="Word.Document"?>'
     b'<w:wordDocument/>', "a.doc", "xml"),
    ("excel2003-xml", lambda: b'<?xml version="1.0"?>\r\n<?mso-application progid="Excel.'
     b'Sheet"?><Workbook/>', "a.xls", "xml"),
    ("csv-by-name", lambda: "氏名,住所\n山田,東京\n".encode(), "a.csv", "csv"),
    ("csv-by-content", lambda: b"a,b,c\n1,2,3\n4,5,6\n", "export", "csv"),
    ("text-utf8", lambda: "会議は午後3時からです。\n".encode(), "memo.txt", "text"),
    ("text-cp932", lambda: "会議は午後3時からです。\r\n".encode("cp932"), "memo.txt", "text"),
    ("text-utf16", lambda: "会議\r\n".encode("utf-16"), "memo.txt", "text"),
    ("text-empty", lambda: b"", "empty.txt", "text"),
    ("binary", lambda: bytes(range(256)) * 8, "blob.dat", "unknown"),
]


@pytest.mark.parametrize(("builder", "name", "kind"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_kind_from_content(builder: Callable[[], bytes], name: str, kind: str) -> None:
    found = detect(builder(), name)
    assert found.kind == kind
    assert found.kind in KINDS


def test_docm_named_docx_is_docm_and_reported() -> None:
    # The classic evasion: a macro document renamed so that mail filters see "docx".
    data = retyped("docm", {"word/vbaProject.bin": compound("VBA", "PROJECT")})
    found = detect(data, "議事録.docx")
    assert (found.kind, found.declared_kind, found.name_mismatch) == ("docm", "docx", True)


def test_macro_main_type_wins_without_relationships() -> None:
    # Two main-looking overrides and no _rels/.rels: the macro-enabled one decides.
    data = zip_of({"[Content_Types].xml": (
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        f'<Override PartName="/word/a.xml" ContentType="{MAIN["docx"]}"/>'
        f'<Override PartName="/word/b.xml" ContentType="{MAIN["docm"]}"/></Types>').encode()})
    assert detect(data, "a.docx").kind == "docm"


def test_elf_named_pdf_is_a_mismatch() -> None:
    found = detect(b"\x7fELF\x02\x01\x01" + bytes(57), "report.pdf")
    assert (found.kind, found.declared_kind, found.name_mismatch) == ("executable", "pdf", True)


def test_matching_name_is_not_a_mismatch() -> None:
    found = detect(image("JPEG"), "DSC0001.JPEG")
    assert (found.kind, found.declared_kind, found.name_mismatch) == ("jpeg", "jpeg", False)
    assert detect(image("PNG"), "no-extension").name_mismatch is False


def test_declared_kind_from_names() -> None:
    assert declared_kind("C:\\Users\\x\\報告書.DOCM") == "docm"
    assert declared_kind("a.tar.gz") == "archive_other"
    assert declared_kind("setup.exe") == "executable"
    assert declared_kind("a.weird") is None


def test_entity_in_content_types_is_not_expanded() -> None:
    # An XXE/billion-laughs [Content_Types].xml must neither expand nor hang.
    evil = (b'<?xml version="1.0"?><!DOCTYPE t [<!ENTITY a "aaaaaaaaaa">'
            b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;">'
            b'<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            b'&c;&x;</Types>')
    assert detect(zip_of({"[Content_Types].xml": evil}), "a.docx").kind in ("zip", "unknown")


MAGICS = [b"", b"PK\x03\x04", b"PK\x05\x06", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"%PDF",
          b"{\\rt", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"RIFF", b"BM", b"<?xml", b"<svg"]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(MAGICS), st.binary(max_size=2048), st.text(max_size=30))
def test_detect_never_raises_on_garbage(magic: bytes, tail: bytes, name: str) -> None:
    found = detect(magic + tail, name)
    assert found.kind in KINDS


@pytest.mark.parametrize("shift", range(6))
@pytest.mark.parametrize("encoding", ["utf-8", "cp932"])
def test_long_japanese_text_is_text_wherever_the_sample_cuts_a_character(
        shift: int, encoding: str) -> None:
    # The first 64 KiB are sampled: the cut may fall inside a multi-byte character.
    data = ("x" * shift + "氏名,住所\n" + "山田太郎,東京都千代田区霞が関\n" * 4000).encode(encoding)
    assert len(data) > 64 * 1024
    assert detect(data, "名簿.csv").kind == "csv"
    assert detect(data, "メモ.txt").kind == "text"
