"""OOXML disarm: one hostile fixture per line of CDR.md "OOXML", judged by oletools
(olevba, oleobj, msodde) beside our own verify, and fidelity checked by re-opening the
output in python-docx / openpyxl / python-pptx."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import docx
import msoffcrypto
import openpyxl
import pptx
import pytest
from lxml import etree
from oletools import msodde, oleobj
from oletools.olevba import VBA_Parser
from oletools.ooxml import XmlParser

from sanitize.config import SanitizeConfig
from sanitize.engine import disarm_bytes
from sanitize.formats import Context, ooxml
from sanitize.report import Blocked, Rebuilt, Verdict, VerifyFailed
from tests.sanitize import ooxml_fixtures as F

CTX = Context(SanitizeConfig())
W = "{%s}" % F.W
X = "{%s}" % F.X


def run(data: bytes, kind: str, ctx: Context = CTX) -> Rebuilt:
    """Rebuild, then the module's own verify must accept the output."""
    out = ooxml.rebuild(data, kind, ctx)
    ooxml.verify(out.data, out.kind, ctx)
    return out


def codes(r: Rebuilt) -> set[str]:
    return {x.code for x in r.removed}


def save(tmp_path: Path, data: bytes, name: str) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def xml(data: bytes, part: str) -> etree._Element:
    return etree.fromstring(F.parts_of(data)[part])


def word_text(data: bytes) -> str:
    d = docx.Document(io.BytesIO(data))
    return "\n".join(p.text for p in d.paragraphs)


def all_rels(data: bytes) -> list[tuple[str, str, str]]:
    out = []
    for name, body in F.parts_of(data).items():
        if name.endswith(".rels"):
            for rel in etree.fromstring(body):
                out.append((rel.get("Type", ""), rel.get("Target", ""), rel.get("TargetMode", "")))
    return out


def external_rels(path: str) -> list[tuple[str, str]]:
    return list(oleobj.find_external_relationships(XmlParser(path)))


# -- every hostile fixture: the input fails verify, the output passes ---------------

HOSTILE = {
    "docm_vba": (F.docm_with_vba, "docm"),
    "pptm_vba": (F.pptm_with_vba, "pptm"),
    "remote_template": (F.docx_remote_template, "docx"),
    "follina": (F.docx_follina, "docx"),
    "ddeauto_complex": (lambda: F.docx_with_body(F.complex_field(F.DDE_SPLIT)), "docx"),
    "ddeauto_simple": (lambda: F.docx_with_body(F.simple_field('DDEAUTO c:\\x\\cmd.exe "/k calc"')),
                       "docx"),
    "activex": (F.docx_activex, "docx"),
    "ole_embedding": (lambda: F.docx_ole_embedding(alternate=True), "docx"),
    "altchunk": (F.docx_altchunk, "docx"),
    "subdoc": (F.docx_subdoc, "docx"),
    "customui": (F.docx_customui, "docx"),
    "file_hyperlink": (F.docx_hyperlinks, "docx"),
    "xlsm_auto_open": (F.xlsm_auto_open, "xlsm"),
    "xlsx_dde": (lambda: F.xlsx_with_formula("cmd|' /C calc'!A0"), "xlsx"),
    "xlsx_external_link": (F.xlsx_external_link, "xlsx"),
    "xlsx_ole_alternate": (F.xlsx_ole_in_alternate_content, "xlsx"),
    "pptx_program": (F.pptx_ppaction, "pptx"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_verify_catches_the_input_and_accepts_the_output(name: str) -> None:
    build, kind = HOSTILE[name]
    data = build()
    with pytest.raises(VerifyFailed):
        ooxml.verify(data, kind, CTX)
    out = run(data, kind)
    assert out.removed
    names = zipfile.ZipFile(io.BytesIO(out.data)).namelist()
    assert names[0] == "[Content_Types].xml"


# -- macros -----------------------------------------------------------------------


@pytest.mark.parametrize("builder,kind,plain", [
    (F.docm_with_vba, "docm", "docx"), (F.pptm_with_vba, "pptm", "pptx")])
def test_vba_project_removed_and_type_mapped(tmp_path: Path, builder, kind, plain) -> None:
    data = builder()
    assert VBA_Parser(save(tmp_path, data, "in." + kind)).detect_vba_macros()
    out = run(data, kind)
    assert out.kind == plain
    assert {"ooxml.vba", "ooxml.content_type_mapped"} <= codes(out)
    parts = F.parts_of(out.data)
    assert not [n for n in parts if "vba" in n.lower()]
    assert not [t for t, _, _ in all_rels(out.data) if "vba" in t.lower()]
    ct = parts["[Content_Types].xml"].decode().lower()
    assert "vbaproject" not in ct and "macroenabled" not in ct and "vbadata" not in ct
    assert not VBA_Parser(save(tmp_path, out.data, "out." + plain)).detect_vba_macros()
    if plain == "docx":
        assert F.TEXT in word_text(out.data)
    else:
        assert pptx.Presentation(io.BytesIO(out.data)).slides[0].shapes.title.text == "説明会"


def test_xlsm_auto_open_and_macro_sheet(tmp_path: Path) -> None:
    data = F.xlsm_auto_open()
    assert VBA_Parser(save(tmp_path, data, "in.xlsm")).detect_vba_macros()
    out = run(data, "xlsm")
    assert out.kind == "xlsx"
    assert {"ooxml.auto_open", "ooxml.macro_sheet", "ooxml.vba"} <= codes(out)
    parts = F.parts_of(out.data)
    assert not [n for n in parts if "macrosheet" in n or "vba" in n.lower()]
    wb = xml(out.data, "xl/workbook.xml")
    assert [s.get("name") for s in wb.iter(X + "sheet")] == ["集計"]
    names = {d.get("name"): d.get("localSheetId") for d in wb.iter(X + "definedName")}
    assert names == {"keep": "0"}  # renumbered past the removed macro sheet
    assert not VBA_Parser(save(tmp_path, out.data, "out.xlsx")).detect_vba_macros()
    ws = openpyxl.load_workbook(io.BytesIO(out.data))["集計"]
    assert ws["B1"].value == 1234 and ws["B2"].value == "=B1*2"


def test_workbook_of_only_macro_sheets_is_blocked() -> None:
    data = F.repack(F.xlsm_auto_open(), {"xl/workbook.xml": lambda x: x.replace(
        b'r:id="rId1"', b'r:id="rId90"')})
    with pytest.raises(Blocked) as exc:
        ooxml.rebuild(data, "xlsm", CTX)
    assert exc.value.reason == "active_content"


# -- remote templates, Follina, external relationships ----------------------------------


def test_remote_attached_template(tmp_path: Path) -> None:
    data = F.docx_remote_template()
    assert external_rels(save(tmp_path, data, "in.docx"))
    out = run(data, "docx")
    assert "ooxml.attached_template" in codes(out)
    assert external_rels(save(tmp_path, out.data, "out.docx")) == []
    settings = xml(out.data, "word/settings.xml")
    assert not list(settings.iter(W + "attachedTemplate"))
    assert F.TEXT in word_text(out.data)


def test_follina_mhtml_ole_link(tmp_path: Path) -> None:
    data = F.docx_follina()
    assert any(t.startswith("mhtml:") for _, t in external_rels(save(tmp_path, data, "in.docx")))
    out = run(data, "docx")
    assert "ooxml.ole_object" in codes(out)
    assert external_rels(save(tmp_path, out.data, "out.docx")) == []
    assert not list(xml(out.data, "word/document.xml").iter(W + "object"))
    assert F.TEXT in word_text(out.data)


def test_only_http_https_mailto_hyperlinks_stay(tmp_path: Path) -> None:
    out = run(F.docx_hyperlinks(), "docx")
    ext = external_rels(save(tmp_path, out.data, "out.docx"))
    assert ext == [("hyperlink", "https://www.city.example.lg.jp/")]
    assert "ooxml.external_rel" in codes(out)
    text = word_text(out.data)
    assert "safe link" in text and "file link" in text  # the text of a removed link stays


@pytest.mark.parametrize("target", ["http://203.0.113.9/a.png", "mhtml:http://x/y!z",
                                    "\\\\203.0.113.9\\share\\a.png"])
def test_external_non_hyperlink_relationships_removed(target: str) -> None:
    blip = ('<w:p><w:r><w:drawing><a:blip xmlns:a="http://schemas.openxmlformats.org/'
            'drawingml/2006/main" r:link="rId70"/></w:drawing></w:r></w:p>')
    data = F.repack(F.docx_bytes(), {
        "word/_rels/document.xml.rels": F.with_rel("rId70", f"{F.REL}/image", target, True),
        "word/document.xml": F.in_body(blip)})
    out = run(data, "docx")
    assert "ooxml.external_rel" in codes(out)
    assert all(mode != "External" for _, _, mode in all_rels(out.data))
    assert b'r:link="rId70"' not in F.parts_of(out.data)["word/document.xml"]


def test_hyperlink_with_follina_target_removed() -> None:
    data = F.repack(F.docx_bytes(), {"word/_rels/document.xml.rels": F.with_rel(
        "rId71", f"{F.REL}/hyperlink", "https://203.0.113.9/x.html!", True)})
    out = run(data, "docx")
    assert not [t for _, t, _ in all_rels(out.data) if t.endswith("!")]


# -- fields -------------------------------------------------------------------------


@pytest.mark.parametrize("fragment", [
    F.complex_field(F.DDE_SPLIT),
    F.simple_field('DDEAUTO c:\\windows\\system32\\cmd.exe "/k calc.exe"'),
    F.complex_field([" dde", 'auto "c:\\\\x.exe"']),  # case-insensitive, leading space
], ids=["complex_split", "fldSimple", "lowercase"])
def test_dde_fields_keep_only_cached_result(tmp_path: Path, fragment: str) -> None:
    data = F.docx_with_body(fragment)
    assert "dde" in msodde.process_file(save(tmp_path, data, "in.docx")).lower()
    out = run(data, "docx")
    assert "ooxml.field_dde" in codes(out)
    assert msodde.process_file(save(tmp_path, out.data, "out.docx")).strip() == ""
    doc = xml(out.data, "word/document.xml")
    assert not list(doc.iter(W + "instrText")) and not list(doc.iter(W + "fldSimple"))
    assert F.CACHED in word_text(out.data) and F.TEXT in word_text(out.data)


@pytest.mark.parametrize("instr", [
    'INCLUDEPICTURE "http://203.0.113.9/p.png" \\d', 'INCLUDETEXT "\\\\\\\\host\\\\s\\\\a.docx"',
    'LINK Excel.Sheet.8 "C:\\\\a.xls" "" \\a', 'IMPORT "http://203.0.113.9/x.wmf"'])
def test_include_link_import_fields(instr: str) -> None:
    for fragment in (F.complex_field([instr[:4], instr[4:]]), F.simple_field(instr)):
        out = run(F.docx_with_body(fragment), "docx")
        assert "ooxml.field_link" in codes(out)
        assert F.CACHED in word_text(out.data)
        assert instr.split()[0].encode() not in F.parts_of(out.data)["word/document.xml"]


def test_field_name_built_by_a_nested_field() -> None:
    # { { QUOTE 68 68 69 65 85 84 79 } "cmd" }: the outer field's name is computed.
    frag = ('<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r>'
            '<w:r><w:fldChar w:fldCharType="begin"/></w:r>'
            '<w:r><w:instrText>QUOTE 68 68 69 65 85 84 79</w:instrText></w:r>'
            '<w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>DDEAUTO</w:t></w:r>'
            '<w:r><w:fldChar w:fldCharType="end"/></w:r>'
            '<w:r><w:instrText xml:space="preserve"> "c:\\\\cmd.exe"</w:instrText></w:r>'
            f'<w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>{F.CACHED}</w:t></w:r>'
            '<w:r><w:fldChar w:fldCharType="end"/></w:r></w:p>')
    out = run(F.docx_with_body(frag), "docx")
    doc = F.parts_of(out.data)["word/document.xml"]
    assert b"QUOTE" not in doc and b"fldChar" not in doc
    assert F.CACHED in word_text(out.data)


def test_benign_fields_are_kept() -> None:
    frag = F.complex_field([" PAGE "], "3") + F.complex_field(
        [' HYPERLINK "https://example.jp/link" '], "site") + F.simple_field("NUMPAGES", "9")
    out = run(F.docx_with_body(frag), "docx")
    assert out.removed == ()
    doc = xml(out.data, "word/document.xml")
    assert len(list(doc.iter(W + "instrText"))) == 2 and len(list(doc.iter(W + "fldSimple"))) == 1


@pytest.mark.parametrize("part", ["header", "footer", "footnotes", "comments", "glossary"])
def test_fields_in_every_story(tmp_path: Path, part: str) -> None:
    data = F.docx_field_in(part, F.complex_field(F.DDE_SPLIT) + F.simple_field("INCLUDETEXT x"))
    out = run(data, "docx")
    assert {"ooxml.field_dde", "ooxml.field_link"} <= codes(out)
    for name, body in F.parts_of(out.data).items():
        assert b"EAUTO" not in body and b"INCLUDETEXT" not in body, name
    assert F.CACHED.encode() in b"".join(F.parts_of(out.data).values())


# -- objects, controls, chunks, ribbons ----------------------------------------------------


def test_activex_control(tmp_path: Path) -> None:
    out = run(F.docx_activex(), "docx")
    assert "ooxml.activex" in codes(out)
    parts = F.parts_of(out.data)
    assert not [n for n in parts if "activex" in n.lower()]
    assert not list(xml(out.data, "word/document.xml").iter(W + "control"))
    assert b"activex" not in parts["[Content_Types].xml"].lower()
    assert list(oleobj.find_ole(save(tmp_path, out.data, "out.docx"), None)) == []


@pytest.mark.parametrize("builder,main", [
    (lambda: F.docx_ole_embedding(alternate=True), "word/document.xml"),
    (lambda: F.docx_ole_embedding(alternate=False), "word/document.xml"),
    (F.xlsx_ole_in_alternate_content, "xl/worksheets/sheet1.xml")])
def test_ole_embeddings_and_alternate_content(tmp_path: Path, builder, main: str) -> None:
    data = builder()
    ext = "xlsx" if main.startswith("xl/") else "docx"
    assert list(oleobj.find_ole(save(tmp_path, data, "in." + ext), None))
    out = run(data, ext)
    assert "ooxml.ole_object" in codes(out)
    assert list(oleobj.find_ole(save(tmp_path, out.data, "out." + ext), None)) == []
    body = F.parts_of(out.data)[main]
    assert b"AlternateContent" not in body and b"OLEObject" not in body \
        and b"oleObject" not in body
    if ext == "docx":
        assert F.TEXT in word_text(out.data)
    else:
        assert openpyxl.load_workbook(io.BytesIO(out.data))["集計"]["B1"].value == 1234


def test_altchunk_and_subdocument() -> None:
    for builder, code, tag in ((F.docx_altchunk, "ooxml.altchunk", "altChunk"),
                               (F.docx_subdoc, "ooxml.subdocument", "subDoc")):
        out = run(builder(), "docx")
        assert code in codes(out)
        assert not list(xml(out.data, "word/document.xml").iter(W + tag))
        assert not [n for n in F.parts_of(out.data) if "afchunk" in n]


def test_custom_ui_ribbon_removed(tmp_path: Path) -> None:
    data = F.docx_customui()
    assert list(oleobj.find_customUI(XmlParser(save(tmp_path, data, "in.docx")))) == ["AutoRun"]
    out = run(data, "docx")
    assert "ooxml.customui" in codes(out)
    assert list(oleobj.find_customUI(XmlParser(save(tmp_path, out.data, "out.docx")))) == []
    assert not [n for n in F.parts_of(out.data) if "customUI" in n]


# -- Excel formulas ---------------------------------------------------------------------


@pytest.mark.parametrize("formula", [
    "cmd|' /C calc'!A0", "MSEXCEL|'\\..\\..\\Windows\\System32\\cmd.exe /c calc'!''",
    "SUM(1)+cmd|'/c calc'!A1", "SUM(1)+cmd&#124;'/c calc'!A1"])
def test_dde_formulas_keep_cached_value(formula: str) -> None:
    out = run(F.xlsx_with_formula(formula, "5"), "xlsx")
    assert "ooxml.dde_formula" in codes(out)
    ws = openpyxl.load_workbook(io.BytesIO(out.data))["集計"]
    assert ws["C3"].value == 5 and ws["B2"].value == "=B1*2"


def test_pipe_inside_a_string_literal_is_not_dde() -> None:
    out = run(F.xlsx_with_formula('CONCATENATE("a|b","c")', "0"), "xlsx")
    assert out.removed == ()
    assert openpyxl.load_workbook(io.BytesIO(out.data))["集計"]["C3"].value.startswith("=")


def test_external_workbook_link_and_reference() -> None:
    out = run(F.xlsx_external_link(), "xlsx")
    assert {"ooxml.external_link", "ooxml.external_ref"} <= codes(out)
    parts = F.parts_of(out.data)
    assert not [n for n in parts if "externalLink" in n]
    assert b"externalReferences" not in parts["xl/workbook.xml"]
    assert openpyxl.load_workbook(io.BytesIO(out.data))["集計"]["C3"].value == 7


def test_form_control_macro_attributes() -> None:
    ctrl = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><formControlPr xmlns='
            b'"http://schemas.microsoft.com/office/spreadsheetml/2009/9/main" objectType="Button" '
            b'fmlaMacro="[0]!Macro1"/>')
    base = F.xlsx_bytes()
    rels = "xl/worksheets/_rels/sheet1.xml.rels"
    data = F.repack(base, {
        "xl/ctrlProps/ctrlProp1.xml": ctrl,
        rels: F.new_rels(("rId5", f"{F.REL}/ctrlProp", "../ctrlProps/ctrlProp1.xml", False)),
        "[Content_Types].xml": F.with_override("xl/ctrlProps/ctrlProp1.xml",
                                               "application/vnd.ms-excel.controlproperties+xml"),
    })
    out = run(data, "xlsx")
    assert "ooxml.macro_ref" in codes(out)
    assert b"fmlaMacro" not in F.parts_of(out.data)["xl/ctrlProps/ctrlProp1.xml"]


# -- PowerPoint ------------------------------------------------------------------------------


@pytest.mark.parametrize("verb", ["ppaction://program", "ppaction://macro?name=Run",
                                  "PPAction://OLE?verb=0"])
def test_ppaction_program_macro_ole(verb: str) -> None:
    out = run(F.pptx_ppaction(verb), "pptx")
    assert codes(out) & {"ooxml.ppaction", "ooxml.dangling_reference"}
    slide = F.parts_of(out.data)["ppt/slides/slide1.xml"]
    assert b"ppaction" not in slide.lower() and b"hlinkClick" not in slide
    p = pptx.Presentation(io.BytesIO(out.data))
    assert p.slides[0].shapes.title.text == "説明会"


def test_internal_slide_jump_kept() -> None:
    out = run(F.pptx_ppaction("ppaction://hlinkshowjump?jump=nextslide"), "pptx")
    assert b"hlinkshowjump" in F.parts_of(out.data)["ppt/slides/slide1.xml"]


# -- package hygiene -------------------------------------------------------------------------


def test_clean_files_keep_their_content_and_nothing_is_reported() -> None:
    d = docx.Document(io.BytesIO(run(F.docx_bytes(), "docx").data))
    assert [p.text for p in d.paragraphs][:2] == ["お知らせ", F.TEXT]
    assert d.tables[0].cell(1, 1).text == "山田"
    assert d.sections[0].footer.paragraphs[0].text == "footer text"
    out = run(F.xlsx_bytes(), "xlsx")
    assert out.removed == () and out.kind == "xlsx"
    ws = openpyxl.load_workbook(io.BytesIO(out.data))["集計"]
    assert (ws["A1"].value, ws["B1"].value, ws["B2"].value) == ("人口", 1234, "=B1*2")
    p = pptx.Presentation(io.BytesIO(run(F.pptx_bytes(), "pptx").data))
    assert F.TEXT in p.slides[0].placeholders[1].text


def test_rebuild_is_deterministic_and_content_types_first() -> None:
    data = F.docm_with_vba()
    a, b = ooxml.rebuild(data, "docm", CTX), ooxml.rebuild(data, "docm", CTX)
    assert a.data == b.data
    assert zipfile.ZipFile(io.BytesIO(a.data)).namelist()[0] == "[Content_Types].xml"


def test_namespace_prefixes_survive_rewriting() -> None:
    out = run(F.docx_with_body(F.complex_field(F.DDE_SPLIT)), "docx")
    root = xml(out.data, "word/document.xml")
    ignorable = root.get("{%s}Ignorable" % F.MC)
    assert ignorable and all(p in root.nsmap for p in ignorable.split())


def test_orphan_and_smuggled_parts_dropped() -> None:
    data = F.repack(F.docx_bytes(), {"word/media/payload.exe": b"MZ\x90\x00" * 100,
                                     "evil.bin": b"\x00" * 10})
    out = run(data, "docx")
    names = set(F.parts_of(out.data))
    assert "word/media/payload.exe" not in names and "evil.bin" not in names
    assert "ooxml.orphan_part" in codes(out)


@pytest.mark.parametrize("part", ["word/document.xml", "docProps/app.xml"])
def test_dtd_anywhere_blocks(part: str) -> None:
    def add_dtd(x: bytes) -> bytes:
        i = x.index(b"?>") + 2
        return x[:i] + b'<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' + x[i:]
    with pytest.raises(Blocked) as exc:
        ooxml.rebuild(F.repack(F.docx_bytes(), {part: add_dtd}), "docx", CTX)
    assert exc.value.reason == "corrupt"


def test_utf16_part_is_parsed_not_skipped() -> None:
    doc = F.parts_of(F.docx_with_body(F.complex_field(F.DDE_SPLIT)))["word/document.xml"]
    utf16 = doc.decode().replace("encoding='UTF-8'", "encoding='UTF-16'").replace(
        'encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")
    out = run(F.repack(F.docx_bytes(), {"word/document.xml": utf16}), "docx")
    assert "ooxml.field_dde" in codes(out)


def test_zip_layer_limits_apply_to_packages() -> None:
    data = F.repack(F.docx_bytes(), {"word/media/zeros.png": bytes(3_000_000)})
    small = Context(SanitizeConfig(max_entry_bytes=1_000_000))
    with pytest.raises(Blocked) as exc:
        ooxml.rebuild(data, "docx", small)
    assert exc.value.reason == "archive_bomb"


# -- encrypted packages and the engine ----------------------------------------------------


def _encrypt(data: bytes, password: str) -> bytes:
    from msoffcrypto.format.ooxml import OOXMLFile

    out = io.BytesIO()
    OOXMLFile(io.BytesIO(data)).encrypt(password, out)
    return out.getvalue()


def test_encrypted_package_blocked_unless_default_password() -> None:
    assert msoffcrypto.OfficeFile(io.BytesIO(_encrypt(F.docx_bytes(), "x"))).is_encrypted()
    with pytest.raises(Blocked) as exc:
        ooxml.rebuild(_encrypt(F.docx_bytes(), "himitsu"), "ooxml_encrypted", CTX)
    assert exc.value.reason == "encrypted"
    velvet = _encrypt(F.docm_with_vba(), "VelvetSweatshop")
    out = run(velvet, "ooxml_encrypted")
    assert out.kind == "docx" and {"ooxml.default_password", "ooxml.vba"} <= codes(out)
    assert F.TEXT in word_text(out.data)
    with pytest.raises(Blocked) as exc:
        ooxml.rebuild(velvet, "ooxml_encrypted", Context(SanitizeConfig(try_default_password=False)))
    assert exc.value.reason == "encrypted"


def test_engine_end_to_end_names_the_output_docx() -> None:
    result = disarm_bytes(F.docm_with_vba(), "報告書.docm", SanitizeConfig())
    assert result.verdict is Verdict.SANITIZED, result.detail
    assert result.output_kind == "docx" and result.output_name == "報告書.docx"
