"""Fields and formulas that act, generated in code for every format that holds them.

Word fields as Office writes them (complex fields split across runs, w:fldSimple,
RTF \\field groups, .doc text with 0x13/0x14/0x15 marks) and spreadsheet formulas
(.xlsx cell XML, .xls BIFF FORMULA and NAME records).  Packages come from
``ooxml_fixtures`` (python-docx / openpyxl output edited with plain zipfile).
"""

from __future__ import annotations

import html
import re
import struct

from sanitize.cfb import clsid_bytes, storage, stream, write_cfb
from tests.sanitize import ole_fixtures as O
from tests.sanitize import ooxml_fixtures as F

CACHED = F.CACHED


def split_complex_field(instr: str, cuts: int = 3, cached: str = CACHED) -> str:
    """A complex field whose instruction is cut into ``cuts`` runs at uneven places."""
    size = max(1, len(instr) // cuts)
    parts = [instr[i:i + size] for i in range(0, len(instr), size)]
    return F.complex_field([html.escape(p, quote=False) for p in parts], cached)


def docx_textbox(fragment: str) -> bytes:
    """``fragment`` inside a text box, in both branches of mc:AlternateContent."""
    wps = "http://schemas.microsoft.com/office/word/2010/wordprocessingShape"
    body = (f'<w:p><w:r><mc:AlternateContent xmlns:mc="{F.MC}" xmlns:wps="{wps}" '
            'xmlns:v="urn:schemas-microsoft-com:vml"><mc:Choice Requires="wps"><w:drawing>'
            f'<wps:txbx><w:txbxContent>{fragment}</w:txbxContent></wps:txbx></w:drawing>'
            '</mc:Choice><mc:Fallback><w:pict><v:shape><v:textbox><w:txbxContent>'
            f'{fragment}</w:txbxContent></v:textbox></v:shape></w:pict></mc:Fallback>'
            '</mc:AlternateContent></w:r></w:p>')
    return F.docx_with_body(body)


def docx_endnotes(fragment: str) -> bytes:
    xml = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:endnotes '
           f'xmlns:w="{F.W}" xmlns:r="{F.R}"><w:endnote w:id="1">{fragment}</w:endnote>'
           '</w:endnotes>')
    return F.repack(F.docx_bytes(), {
        "word/endnotes.xml": xml.encode(),
        "word/_rels/document.xml.rels": F.with_rel("rId96", f"{F.REL}/endnotes", "endnotes.xml"),
        "[Content_Types].xml": F.with_override(
            "word/endnotes.xml",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.endnotes+xml"),
    })


def docx_field(story: str, fragment: str) -> bytes:
    if story == "body":
        return F.docx_with_body(fragment)
    if story == "textbox":
        return docx_textbox(fragment)
    if story == "endnotes":
        return docx_endnotes(fragment)
    return F.docx_field_in(story, fragment)


def rtf_field(instr: str, cached: str = CACHED) -> bytes:
    """An RTF field; Word escapes \\, { and } of the instruction."""
    esc = instr.replace("\\", "\\\\").replace("{", "\\{").replace("}", "\\}")
    return (b"{\\rtf1\\ansi {\\fonttbl{\\f0 Arial;}}\\pard before "
            + b"{\\field{\\*\\fldinst {" + esc.encode("latin-1") + b"}}{\\fldrslt {"
            + cached.encode() + b"}}} after\\par}")


def doc_field(instr: str, wide: bool, cached: str = CACHED) -> bytes:
    """A .doc whose text holds one field (8-bit or UTF-16 text)."""
    text = f"Invoice \x13 {instr} \x14{cached}\x15 end\r"
    return O.doc(text=text.encode("utf-16-le" if wide else "cp1252"))


# -- Excel ------------------------------------------------------------------------------

def xlsx_formulas(cells: dict[str, tuple[str, str]], shared: bool = False) -> bytes:
    """Cells ``ref -> (formula, cached)`` added to row 3 (XML-escaped here); with
    ``shared`` the first cell is the master of a shared formula the others follow."""
    base = F.xlsx_bytes()
    xml = ""
    for i, (ref, (formula, cached)) in enumerate(cells.items()):
        f = html.escape(formula, quote=False)
        if shared:
            last = list(cells)[-1]
            attrs = f' t="shared" ref="C3:{last}" si="0"' if i == 0 else ' t="shared" si="0"'
            f = f if i == 0 else ""
        else:
            attrs = ""
        xml += f'<c r="{ref}" t="str"><f{attrs}>{f}</f><v>{html.escape(cached)}</v></c>'

    def sheet(data: bytes) -> bytes:
        return re.sub(rb"(</sheetData>)", lambda m: f'<row r="3">{xml}</row>'.encode()
                      + m.group(1), data, count=1)
    return F.repack(base, {"xl/worksheets/sheet1.xml": sheet})


def xlsx_raw_formula(raw_xml_formula: str, cached: str = "7") -> bytes:
    """A cell whose <f> text is given as raw XML (character references stay)."""
    return F.xlsx_with_formula(raw_xml_formula, cached)


def xlsx_defined_name(name: str, formula: str) -> bytes:
    def workbook(xml: bytes) -> bytes:
        el = f'<definedNames><definedName name="{name}">{html.escape(formula, quote=False)}' \
             f'</definedName></definedNames>'
        return re.sub(rb"(</sheets>)", lambda m: m.group(1) + el.encode(), xml, count=1)
    return F.repack(F.xlsx_bytes(), {"xl/workbook.xml": workbook})


def ptg_str(text: str) -> bytes:
    raw = text.encode("latin-1")
    return bytes([0x17, len(raw), 0]) + raw


def ptg_funcvar(number: int, argc: int) -> bytes:
    return bytes([0x42, argc]) + struct.pack("<H", number)


PTG_REF_A1 = bytes([0x44]) + struct.pack("<HH", 0, 0xC000)


def formula_record(rgce: bytes, row: int = 2, col: int = 2, value: float = 7.0) -> bytes:
    body = struct.pack("<HHHdHI", row, col, 15, value, 0, 0) + struct.pack("<H", len(rgce)) + rgce
    return O.biff(0x0006, body)


def name_record(name: str, rgce: bytes = b"") -> bytes:
    raw = name.encode("latin-1")
    body = struct.pack("<HBBHHH4s", 0, 0, len(raw), len(rgce), 0, 0, bytes(4)) + b"\x00" + raw
    return O.biff(0x0018, body + rgce)


def xls_with(sheet_records: bytes = b"", globals_records: bytes = b"") -> bytes:
    """A workbook whose globals and one worksheet get extra records."""
    globals_part = O._bof(0x0005) + O.biff(0x0042, struct.pack("<H", 1252)) + globals_records
    sheet = O._bof(0x0010) + O.biff(0x0200, bytes(14)) + sheet_records + O.biff(0x000A)
    first = len(globals_part) + len(O.boundsheet("Sheet1")) + 4
    book = globals_part + O.boundsheet("Sheet1", 0, first) + O.biff(0x000A) + sheet
    return write_cfb(storage("Root Entry", [
        stream("Workbook", book),
        stream("\x05SummaryInformation", O.summary_information({2: "Book"}))],
        clsid=clsid_bytes("00020820-0000-0000-C000-000000000046")))
