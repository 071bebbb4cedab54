"""sanitize.extract in-process: what each kind's text reading finds (the worker runs the
same function; tests/relay/test_file_outbound.py goes through a real pool)."""

from __future__ import annotations

import io
import zipfile

import openpyxl
import pikepdf
import pptx
import pytest

from policy import mynumber
from sanitize.config import SanitizeConfig
from sanitize.extract import scan_bytes

N = "12345678901" + str(mynumber.check_digit("12345678901"))
LEADING_ZERO = "01234567890" + str(mynumber.check_digit("01234567890"))
CFG = SanitizeConfig()


def masked(n: str) -> str:
    return "********" + n[-4:]


def test_an_xlsx_number_formatted_to_twelve_places_gets_its_leading_zero_back() -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["番号", int(LEADING_ZERO)])
    ws["B1"].number_format = "0000-0000-0000"
    ws.append(["別の列", 123456])
    ws.append(["次の行", 789012])  # two six-digit rows are not one number
    out = io.BytesIO()
    wb.save(out)
    assert scan_bytes(out.getvalue(), "a.xlsx", CFG).found == (masked(LEADING_ZERO),)


def test_pptx_slide_text_is_read() -> None:
    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    slide.shapes.title.text = f"対象者 {N[:4]}-{N[4:8]}-{N[8:]}"
    out = io.BytesIO()
    deck.save(out)
    assert scan_bytes(out.getvalue(), "a.pptx", CFG).found == (masked(N),)


def test_rtf_in_shift_jis_and_unicode_escapes_is_read() -> None:
    wide = "".join(f"\\u{0xFF10 + int(d)}?" for d in N)
    rtf = ("{\\rtf1\\ansi\\ansicpg932{\\fonttbl{\\f0 MS Mincho;}}"
           "\\f0 \\'94\\'d4\\'8d\\'86 " + wide + "\\par}").encode()
    assert scan_bytes(rtf, "a.rtf", CFG).found == (masked(N),)


def test_a_pdf_in_a_composite_font_is_read_through_its_tounicode_map() -> None:
    pdf = pikepdf.new()
    page = pdf.add_blank_page()
    cmap = (b"/CIDInit /ProcSet findresource begin begincmap 1 begincodespacerange "
            b"<0000> <FFFF> endcodespacerange 1 beginbfrange <0010> <0019> <0030> endbfrange "
            b"endcmap end")
    font = pdf.make_indirect(pikepdf.Dictionary(
        Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type0, BaseFont=pikepdf.Name("/Mincho"),
        Encoding=pikepdf.Name("/Identity-H"), ToUnicode=pdf.make_stream(cmap)))
    page.obj.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))
    codes = "".join(f"{0x10 + int(d):04X}" for d in N)
    page.obj.Contents = pdf.make_stream(f"BT /F1 11 Tf 50 800 Td <{codes}> Tj ET".encode())
    out = io.BytesIO()
    pdf.save(out)
    assert scan_bytes(out.getvalue(), "a.pdf", CFG).found == (masked(N),)


def test_a_csv_inside_a_zip_is_read() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("data/名簿.csv", f"氏名,番号\n山田,{N}\n".encode("cp932"))
    assert scan_bytes(out.getvalue(), "a.zip", CFG).found == (masked(N),)


@pytest.mark.parametrize("data, name", [
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "a.doc"),
    (b"%PDF-1.7\nnot really", "a.pdf"),
    (("x" * 2000).encode(), "big.txt"),
], ids=["legacy-office", "broken-pdf", "over-the-text-budget"])
def test_what_cannot_be_read_is_unreadable(data: bytes, name: str) -> None:
    cfg = SanitizeConfig(max_input_bytes=1000) if name == "big.txt" else CFG
    scan = scan_bytes(data, name, cfg)
    assert scan.outcome == "unreadable" and scan.detail


def test_kinds_not_asked_for_are_not_read() -> None:
    scan = scan_bytes(f"a,{N}\n".encode(), "a.csv", CFG, frozenset({"pdf"}))
    assert scan.outcome == "skipped" and scan.found == ()
