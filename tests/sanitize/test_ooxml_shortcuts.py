"""The OOXML disarm's shortcuts stay exact: the byte prefilters that decide which parts
are parsed miss no forbidden name, .rels parsed once for alike bodies still prune per
part, an untouched [Content_Types].xml is kept as it was, and verify's own member
reader refuses a damaged output instead of reading past it."""

from __future__ import annotations

import io
import struct
import zipfile

import pytest
from lxml import etree

from sanitize import safezip
from sanitize.config import SanitizeConfig
from sanitize.formats import Context, ooxml
from sanitize.formats import ooxml_rules as rules
from sanitize.formats.ooxml_xml import Findings, clean_part
from sanitize.report import VerifyFailed
from tests.sanitize import ooxml_fixtures as F

CTX = Context(SanitizeConfig())

# A content type of each class of part the rebuild rewrites, and the names whose
# presence makes it look for forbidden elements and for macro/action attributes
# (CDR.md "OOXML": only the parts Office reads a construct from are searched for it).
WORD_NAMES = ("bject", "ontrol", "ltChunk", "subDoc", "Macro")
ALL_NAMES = ("bject", "ontrol", "ltChunk", "subDoc", "Macro", "ttachedTemplate", "ailMerge",
             "oleObj", "xternalReferences")
CLASSES = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml":
        (WORD_NAMES, False),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml":
        (("oleObj", "ontrol"), True),
    "application/vnd.openxmlformats-officedocument.presentationml.slide+xml": (ALL_NAMES, True),
    "application/vnd.openxmlformats-officedocument.drawing+xml": (ALL_NAMES, True),
    "application/vnd.ms-office.vmlDrawing": (ALL_NAMES, True),
}
# Namespaces declared on every test part (plain prefixes, nothing spelled oddly).
NS = " ".join(f'xmlns:n{i}="{ns}"' for i, ns in enumerate(sorted(
    {ns for nss, _ in rules.FORBIDDEN_ELEMENTS for ns in nss})))


def part_with(inner: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<root {NS}>'
            f"<keep>平文 plain text</keep>{inner}</root>").encode()


def prefix_of(ns: str) -> str:
    return f"n{sorted({n for nss, _ in rules.FORBIDDEN_ELEMENTS for n in nss}).index(ns)}"


@pytest.mark.parametrize("content_type,key", [
    (ct, key) for ct, (names, _) in sorted(CLASSES.items())
    for key in sorted(rules.FORBIDDEN_ELEMENTS, key=lambda k: (k[1], min(k[0])))
    if any(name in key[1] for name in names)])
def test_every_forbidden_element_is_found_behind_the_prefilter(content_type: str, key) -> None:
    nss, local = key
    for ns in sorted(nss):
        found = Findings()
        out = clean_part("p.xml", part_with(f"<{prefix_of(ns)}:{local}/>"), content_type,
                         frozenset(), found)
        assert out is not None, (local, ns)
        assert local.encode() not in out
        assert [r.code for r in found.removed()] == [rules.FORBIDDEN_ELEMENTS[key]]


@pytest.mark.parametrize("content_type", [ct for ct, (_, attrs) in CLASSES.items() if attrs])
@pytest.mark.parametrize("attr,value,code", [
    ("macro", "[0]!Auto", "ooxml.macro_ref"),
    ("fmlaMacro", "Module1.Run", "ooxml.macro_ref"),
    ("action", "ppaction://program", "ooxml.ppaction"),
    ("action", "PPAction://Macro?name=x", "ooxml.ppaction")])
def test_every_active_attribute_is_found_behind_the_prefilter(
        content_type: str, attr: str, value: str, code: str) -> None:
    found = Findings()
    out = clean_part("p.xml", part_with(f'<shape {attr}="{value}"/>'), content_type,
                     frozenset(), found)
    assert out is not None
    assert value.encode() not in out
    assert code in {r.code for r in found.removed()}


def test_a_part_without_any_name_is_copied_untouched() -> None:
    for content_type in CLASSES:
        assert clean_part("p.xml", part_with("<a:t xmlns:a='urn:a'>nothing</a:t>"),
                          content_type, frozenset(), Findings()) is None


def _alike_rels_package() -> bytes:
    """Two slides in different folders whose .rels are the same bytes; the target
    "media/x.bin" is an OLE compound file from one folder and a picture from the
    other, so one relationship must go and the other stay."""
    rels = F.new_rels(("rIdX", f"{F.R}/image", "media/x.bin", False))
    ct_slide = "application/vnd.openxmlformats-officedocument.presentationml.slide+xml"
    slide = (b'<?xml version="1.0" encoding="UTF-8"?>\n<p:sld xmlns:p="'
             b'http://schemas.openxmlformats.org/presentationml/2006/main"/>')
    base = F.pptx_bytes()
    pres_rels = "ppt/_rels/presentation.xml.rels"
    return F.repack(base, {
        "[Content_Types].xml": lambda x: F.with_override("ppt/a/one.xml", ct_slide)(
            F.with_override("ppt/b/two.xml", ct_slide)(
                F.with_default("bin", "image/png")(x))),
        pres_rels: lambda x: F.with_rel("rIdA1", f"{F.R}/slide", "a/one.xml")(
            F.with_rel("rIdB2", f"{F.R}/slide", "b/two.xml")(x)),
        "ppt/a/one.xml": slide,
        "ppt/a/_rels/one.xml.rels": rels,
        "ppt/b/two.xml": slide,
        "ppt/b/_rels/two.xml.rels": rels,
        "ppt/a/media/x.bin": F.ole_object_bin(),
        "ppt/b/media/x.bin": b"\0" * 40,  # a printer-settings blob: kept as it is
    })


def test_alike_rels_are_pruned_each_from_its_own_folder() -> None:
    out = ooxml.rebuild(_alike_rels_package(), "pptx", CTX)
    ooxml.verify(out.data, out.kind, CTX)
    parts = F.parts_of(out.data)
    assert "ppt/a/media/x.bin" not in parts and "ppt/b/media/x.bin" in parts
    assert b"rIdX" not in parts["ppt/a/_rels/one.xml.rels"]
    assert b"rIdX" in parts["ppt/b/_rels/two.xml.rels"]
    details = {(r.code, r.detail) for r in out.removed}
    assert ("ooxml.ole_object", "ppt/a/one.xml rIdX -> media/x.bin") in details
    assert not [d for _, d in details if d.startswith("ppt/b/")]


def test_content_types_kept_byte_for_byte_when_nothing_in_it_changes() -> None:
    data = F.pptx_bytes()
    out = ooxml.rebuild(data, "pptx", CTX)
    assert out.removed == ()
    assert F.parts_of(out.data)["[Content_Types].xml"] == F.parts_of(data)["[Content_Types].xml"]
    # ... and rewritten when a part it names is removed.
    out = ooxml.rebuild(F.pptm_with_vba(), "pptm", CTX)
    ct = F.parts_of(out.data)["[Content_Types].xml"].lower()
    assert b"vbaproject" not in ct and b"macroenabled" not in ct


# -- verify reads members itself: a damaged output is refused -------------------------


def _output() -> bytes:
    return ooxml.rebuild(F.docx_bytes(), "docx", CTX).data


def _entry(data: bytes, name: str) -> zipfile.ZipInfo:
    return zipfile.ZipFile(io.BytesIO(data)).getinfo(name)


def _data_start(data: bytes, info: zipfile.ZipInfo) -> int:
    n, x = struct.unpack_from("<HH", data, info.header_offset + 26)
    return info.header_offset + 30 + n + x


def test_verify_refuses_a_member_whose_bytes_do_not_match_the_crc() -> None:
    data = bytearray(_output())
    info = _entry(bytes(data), "word/document.xml")
    assert info.compress_type == zipfile.ZIP_DEFLATED
    # The CRC in the central directory (its entry comes after every member's data);
    # the stream itself still inflates.
    cd = bytes(data).rindex(b"word/document.xml") - 46
    assert bytes(data[cd:cd + 4]) == b"PK\x01\x02"
    struct.pack_into("<L", data, cd + 16, info.CRC ^ 1)
    with pytest.raises(VerifyFailed):
        ooxml.verify(bytes(data), "docx", CTX)


def test_verify_refuses_a_truncated_deflate_stream() -> None:
    data = bytearray(_output())
    info = _entry(bytes(data), "word/document.xml")
    start = _data_start(bytes(data), info)
    data[start:start + info.compress_size] = b"\0" * info.compress_size  # not deflate
    with pytest.raises(VerifyFailed):
        ooxml.verify(bytes(data), "docx", CTX)


def test_verify_refuses_a_local_name_that_differs_from_the_directory() -> None:
    data = bytearray(_output())
    info = _entry(bytes(data), "word/document.xml")
    at = info.header_offset + 30
    assert bytes(data[at:at + 17]) == b"word/document.xml"
    data[at:at + 17] = b"word/documenX.xml"
    with pytest.raises(VerifyFailed):
        ooxml.verify(bytes(data), "docx", CTX)


def test_verify_still_parses_every_distinct_rels() -> None:
    # Two .rels: the first alike to many, the second hostile: memoising the first
    # must not let the second through.
    parts = F.parts_of(_output())
    hostile = F.new_rels(("rId9", f"{F.R}/attachedTemplate", "http://x.example/t.dotm", True))
    members = [safezip.Member(n, b) for n, b in parts.items()]
    members.append(safezip.Member("word/_rels/footnotes.xml.rels", parts["_rels/.rels"]))
    members.append(safezip.Member("word/_rels/endnotes.xml.rels", hostile))
    with pytest.raises(VerifyFailed):
        ooxml.verify(safezip.write_zip(members), "docx", CTX)


def test_verify_parses_a_slide_whose_only_hit_is_a_hidden_name() -> None:
    # A slide holding p:oleObj: its rarest bytes occur only inside that name.
    slide = part_with('<n2:oleObj r:id="x" xmlns:r="urn:r"/>'.replace("n2", prefix_of(
        "http://schemas.openxmlformats.org/presentationml/2006/main")))
    parts = F.parts_of(_output())
    parts["[Content_Types].xml"] = F.with_override(
        "word/s.xml", "application/vnd.openxmlformats-officedocument.presentationml.slide+xml")(
        parts["[Content_Types].xml"])
    members = [safezip.Member(n, b) for n, b in parts.items()]
    members.append(safezip.Member("word/s.xml", slide))
    with pytest.raises(VerifyFailed, match="oleObj"):
        ooxml.verify(safezip.write_zip(members), "docx", CTX)
    assert etree.fromstring(slide) is not None
