"""The text of a file, read for the 個人番号 check on files leaving LGWAN (worker side).

A worker runs ``scan_reply`` for a "scan" job: it detects the kind, extracts the text a
reader of the file would see, reads it with ``policy.mynumber.find_my_numbers`` and
answers with the masked numbers only (``sanitize.textscan``): the text never leaves
the worker.  Hostile parsers run here and only here, under the worker's limits.

What is read, per kind (docs/CDR.md "Files leaving LGWAN"):

* text, CSV: decoded as the disarm engine decodes them (BOM, UTF-8, CP932, UTF-16).
  HTML, SVG, XML: the decoded text with the markup taken out.
* Word (docx, docm, dotx, dotm): every XML part's run text (``w:t``, deleted text,
  field instructions, text boxes, footnotes, comments, headers, footers), paragraphs
  and rows as line breaks, table cells ending in a tab; DrawingML text (``a:t``) and
  cached chart values (``c:v``) wherever they are; document properties.
* Excel (xlsx, xlsm, xltx, xltm): every sheet's cells in order, each cell followed by
  a tab and each row by a line break (so ``policy.mynumber``'s table rule reads one
  row at a time): shared and inline strings, and numeric values as the digits they
  hold -- a 個人番号 column is usually numbers, and a number formatted to twelve
  places (``000000000000``) gets its leading zeros back; sheet headers and footers,
  comments, charts, document properties.
* PowerPoint (pptx, ...): slide, notes and comment text, tables as in Word.
* PDF: the text-showing operators of every page and form XObject, decoded through the
  font's ToUnicode map, a Unicode or Shift_JIS predefined CMap, or (simple fonts) as
  single bytes; form field values, annotation text, document info; attached files are
  read like uploads.  A composite font with neither a ToUnicode map nor a Unicode
  CMap cannot be read: the file is unreadable.  Text drawn as images (a scan) is
  not read (no OCR).
* RTF: the document text (``\\'hh`` in the document's code page, ``\\u``), without
  font tables, pictures, objects and other ignorable destinations.
* ZIP: every member, as if it were uploaded (nested to ``max_archive_depth``).
* Images: no text to read (clear).
* Legacy .doc/.xls/.ppt, encrypted OOXML, and every other kind: unreadable.

Anything that fails, or text beyond ``max_input_bytes`` characters, makes the file
``unreadable``: the relay holds such a file like one that holds a 個人番号.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Callable
from typing import Any

from lxml import etree

from policy import mynumber
from sanitize import safezip
from sanitize.config import SanitizeConfig
from sanitize.detect import detect
from sanitize.kinds import IMAGES, OOXML
from sanitize.report import Blocked
from sanitize.textscan import MAX_FOUND, Scan, unreadable

ROWS_PER_READ = 20_000  # sheet rows read by the check at a time (memory, not result)
MAX_CMAP_ENTRIES = 200_000
MAX_FORM_DEPTH = 8  # form XObjects inside form XObjects
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.I)
_TAGS = re.compile(r"<[^>]*>")


class Unreadable(Exception):
    """The file's text cannot be read within the limits: held, fail closed."""


class _Reader:
    """The check, fed text a part at a time; counts characters against the budget."""

    def __init__(self, cfg: SanitizeConfig) -> None:
        self.cfg = cfg
        self.budget = cfg.max_input_bytes
        self.chars = 0
        self.found: dict[str, None] = {}

    def read(self, text: str) -> None:
        self.chars += len(text)
        if self.chars > self.budget:
            raise Unreadable(f"more than {self.budget} characters of text")
        for masked in mynumber.find_my_numbers(text):
            self.found.setdefault(masked)


def scan_bytes(data: bytes, name: str, cfg: SanitizeConfig, kinds: frozenset[str] | None = None,
               on_detect: Callable[[str], None] | None = None) -> Scan:
    """Detect ``data``'s kind and, if it is one of ``kinds`` (every kind if None), read
    its text for 個人番号.  Never raises: a failure is an ``unreadable`` Scan."""
    kind = "unknown"
    reader = _Reader(cfg)
    try:
        kind = detect(data, name).kind
        if on_detect is not None:
            on_detect(kind)
        if kinds is not None and kind not in kinds:
            return Scan(kind, "skipped")
        _extract(data, kind, reader, 0)
    except Unreadable as exc:
        return unreadable(kind, str(exc))
    except Blocked as exc:
        return unreadable(kind, f"{exc.reason}: {exc.detail}")
    except Exception as exc:  # MemoryError, RecursionError, a parser's own errors
        return unreadable(kind, f"{type(exc).__name__}: {exc}")
    found = tuple(reader.found)[:MAX_FOUND]
    return Scan(kind, "found" if found else "clear", found, chars=reader.chars)


def scan_reply(data: bytes, header: dict[str, Any], cfg: SanitizeConfig,
               announce: Callable[[str], None]) -> dict[str, Any]:
    """The worker's answer to ``{"op": "scan", "name", "kinds"}``."""
    kinds = header.get("kinds")
    wanted = frozenset(str(k) for k in kinds) if isinstance(kinds, list) else None
    return scan_bytes(data, str(header.get("name", "")), cfg, wanted, announce).header()


def _extract(data: bytes, kind: str, reader: _Reader, depth: int) -> None:
    if kind in ("text", "csv"):
        reader.read(_decode(data, markup=False))
    elif kind in ("html", "svg", "xml"):
        reader.read(_decode(data, markup=True))
    elif kind in OOXML:
        _ooxml(data, kind, reader)
    elif kind == "pdf":
        _pdf(data, reader, depth)
    elif kind == "rtf":
        _rtf(data, reader)
    elif kind == "zip":
        _zip(data, reader, depth)
    elif kind in IMAGES:
        return  # no text to read; a photo of a card is not read (no OCR)
    else:
        raise Unreadable(f"the text of a {kind} file is not read")


# --------------------------------------------------------------------------- text


class _Quiet:
    """What ``text.decode`` logs about removed controls: not needed for a check."""

    def add(self, code: str, detail: str = "", n: int = 1) -> None:
        pass


def _decode(data: bytes, markup: bool) -> str:
    from sanitize.formats import text
    decoded = text.decode(data, _Quiet(), declared=markup).text  # type: ignore[arg-type]
    if markup:
        # Markup out, a space for each tag (a cell boundary is not a digit's neighbour).
        decoded = html.unescape(_TAGS.sub(" ", decoded))
    return decoded


# --------------------------------------------------------------------------- OOXML

# Elements whose text a reader sees (any namespace): Word runs, deleted runs and
# field instructions, DrawingML text, chart caches.
_TEXT = frozenset({"t", "delText", "instrText", "delInstrText", "v"})
_LINE = frozenset({"p", "br", "cr", "tr"})
_CELL = frozenset({"tab", "tc"})
_SKIP_PARTS = re.compile(
    r"(?:^\[Content_Types\]\.xml|\.rels|/(?:styles|theme\d*|fontTable|settings|webSettings"
    r"|numbering|presProps|viewProps|tableStyles|stylesWithEffects|calcChain)\.xml)$")
_PROPERTIES = ("docProps/", "customXml/")
_SHEET = re.compile(r"^xl/worksheets/[^/]+\.xml$")
# A pivot table's copy of its source data (kept even when that sheet is deleted).
_PIVOT_RECORDS = re.compile(r"^xl/pivotCache/pivotCacheRecords[^/]*\.xml$")


def _parse(xml: bytes, part: str, tags: tuple[str, ...] | None = None) -> Any:
    if _DOCTYPE.search(xml[:4096]):
        raise Unreadable(f"{part}: DTD in an OOXML part")
    return etree.iterparse(io.BytesIO(xml), events=("end",), tag=tags, resolve_entities=False,
                           no_network=True, huge_tree=False, load_dtd=False,
                           remove_comments=True, remove_pis=True)


def _local(el: Any) -> str:
    return el.tag.rpartition("}")[2] if isinstance(el.tag, str) else ""


def _ooxml(data: bytes, kind: str, reader: _Reader) -> None:
    archive = safezip.SafeZip(data, reader.cfg)
    entries = {e.name: e for e in archive.entries if not e.is_dir}
    shared: list[str] = []
    pad: frozenset[int] = frozenset()
    if kind.startswith("xl"):
        if "xl/sharedStrings.xml" in entries:
            shared = _shared_strings(archive.read(entries["xl/sharedStrings.xml"]))
        if "xl/styles.xml" in entries:
            pad = _padded_styles(archive.read(entries["xl/styles.xml"]))
    for name, entry in entries.items():
        if not name.endswith(".xml") or _SKIP_PARTS.search(name) or name == "xl/sharedStrings.xml":
            continue
        xml = archive.read(entry)
        if _SHEET.match(name):
            _sheet(xml, name, shared, pad, reader)
        elif _PIVOT_RECORDS.match(name):
            _pivot_records(xml, name, reader)
        elif name.startswith(_PROPERTIES):
            reader.read("\n".join(t for t in _leaf_texts(xml, name)))
        else:
            reader.read(_runs(xml, name))


def _runs(xml: bytes, part: str) -> str:
    """Word, DrawingML and chart text of one part, as a reader sees it laid out."""
    out: list[str] = []
    for _, el in _parse(xml, part):
        local = _local(el)
        if local in _TEXT:
            if el.text:
                out.append(el.text)
        elif local in _LINE:
            out.append("\n")
        elif local in _CELL:
            out.append("\t")
        elif local == "noBreakHyphen":
            out.append("-")
        el.clear(keep_tail=False)
    return "".join(out)


def _leaf_texts(xml: bytes, part: str) -> list[str]:
    out = []
    for _, el in _parse(xml, part):
        if len(el) == 0 and el.text and el.text.strip():
            out.append(el.text)
    return out


def _shared_strings(xml: bytes) -> list[str]:
    out: list[str] = []
    for _, si in _parse(xml, "xl/sharedStrings.xml", ("{*}si",)):
        parts = []
        for child in si:
            local = _local(child)
            if local == "t":
                parts.append(child.text or "")
            elif local == "r":  # a rich-text run; rPh (furigana) is not what is shown
                parts.extend(t.text or "" for t in child if _local(t) == "t")
        out.append("".join(parts))
        si.clear(keep_tail=False)
    return out


def _padded_styles(xml: bytes) -> frozenset[int]:
    """Cell styles (``cellXfs`` indexes) whose number format writes twelve digit
    places (``000000000000``, ``0000-0000-0000``): their numbers get leading zeros."""
    formats: dict[str, str] = {}
    xfs: list[str] = []
    for _, el in _parse(xml, "xl/styles.xml", ("{*}numFmt", "{*}xf", "{*}cellXfs")):
        local = _local(el)
        if local == "numFmt":
            formats[el.get("numFmtId", "")] = el.get("formatCode", "")
        elif local == "cellXfs":
            xfs = [xf.get("numFmtId", "0") for xf in el if _local(xf) == "xf"]
    padded = set()
    for i, fmt_id in enumerate(xfs):
        code = re.sub(r'"[^"]*"|\\.|\[[^\]]*\]', "", formats.get(fmt_id, "").split(";")[0])
        if code.count("0") == 12 and "#" not in code and "." not in code:
            padded.add(i)
    return frozenset(padded)


def _number(value: str, padded: bool) -> str:
    """A numeric cell as the digits it shows: ``1.23456789018E+11`` is
    ``123456789018``; twelve places for a zero-padded format."""
    if "E" in value or "e" in value or "." in value:
        try:
            f = float(value)
        except ValueError:
            return value
        if f.is_integer() and abs(f) < 1e15:
            value = str(int(f))
    if padded and value.isdigit() and len(value) < 12:
        value = value.zfill(12)
    return value


_SHEET_NS = ("http://schemas.openxmlformats.org/spreadsheetml/2006/main",
             "http://purl.oclc.org/ooxml/spreadsheetml/main")
_V = frozenset(f"{{{ns}}}v" for ns in _SHEET_NS)
_IS = frozenset(f"{{{ns}}}is" for ns in _SHEET_NS)
_ROW = frozenset(f"{{{ns}}}row" for ns in _SHEET_NS)


def _sheet(xml: bytes, part: str, shared: list[str], pad: frozenset[int],
           reader: _Reader) -> None:
    """Cells in document order, each value followed by a tab; a line break after each
    row.  Read in batches of whole rows: a number never spans two rows.  Only values,
    rows, headers and footers come up from the parser (a 10 MB sheet has millions of
    cells: the Python work per cell is what the check costs)."""
    out: list[str] = []
    append = out.append
    rows = 0
    tags = [f"{{{ns}}}{local}" for ns in _SHEET_NS
            for local in ("v", "is", "row", "oddHeader", "oddFooter", "evenHeader",
                          "evenFooter", "firstHeader", "firstFooter")]
    for _, el in _parse(xml, part, tuple(tags)):
        tag = el.tag
        if tag in _V or tag in _IS:
            value = el.text if tag in _V else "".join(el.itertext())
            if value:
                c = el.getparent()
                t = c.get("t") if c is not None else None
                if t == "s" and tag in _V:
                    try:
                        value = shared[int(value)]
                    except (ValueError, IndexError):
                        raise Unreadable(f"{part}: shared string {value!r} out of range") from None
                elif (t is None or t == "n") and tag in _V:
                    style = c.get("s") if c is not None else None
                    value = _number(value, style is not None and style.isdigit() and
                                    int(style) in pad)
                append(value)
                append("\t")
        elif tag in _ROW:
            append("\n")
            el.clear(keep_tail=False)
            while el.getprevious() is not None:  # rows read: memory stays flat
                del el.getparent()[0]
            rows += 1
            if rows % ROWS_PER_READ == 0:
                reader.read("".join(out))
                out.clear()
        else:
            append("\n" + (el.text or "") + "\n")
    reader.read("".join(out))


def _pivot_records(xml: bytes, part: str, reader: _Reader) -> None:
    """Each record a row, its values (``v`` attributes) cells, as in a sheet."""
    out: list[str] = []
    for n, (_, record) in enumerate(_parse(xml, part, ("{*}r",)), 1):
        out.extend(f"{_number(v, False)}\t" for v in (c.get("v") for c in record) if v)
        out.append("\n")
        record.clear(keep_tail=False)
        if n % ROWS_PER_READ == 0:
            reader.read("".join(out))
            out.clear()
    reader.read("".join(out))


# --------------------------------------------------------------------------- PDF


def _pdf(data: bytes, reader: _Reader, depth: int) -> None:
    import pikepdf
    try:
        pdf = pikepdf.open(io.BytesIO(data))
    except pikepdf.PasswordError:
        raise Unreadable("encrypted PDF") from None
    except pikepdf.PdfError as exc:
        raise Unreadable(f"PDF: {exc}") from None
    with pdf:
        pages = len(pdf.pages)
        if pages > reader.cfg.max_pdf_pages:
            raise Unreadable(f"{pages} pages > {reader.cfg.max_pdf_pages}")
        reader.read("\n".join(str(v) for v in pdf.docinfo.values()
                              if isinstance(v, pikepdf.String)))
        for page in pdf.pages:
            out: list[str] = []
            _content(page, page.obj.get("/Resources"), out, 0, set())
            for annot in page.obj.get("/Annots") or []:
                if isinstance(annot, pikepdf.Dictionary):
                    for key in ("/Contents", "/V", "/TU", "/T"):
                        value = annot.get(key)
                        if isinstance(value, pikepdf.String):
                            out.append("\n" + str(value) + "\n")
            reader.read("".join(out))
        _form_fields(pdf, reader)
        for spec in list(pdf.attachments.values()):
            if depth >= reader.cfg.max_archive_depth:
                raise Unreadable("files attached too deeply")
            inner = spec.get_file().read_bytes()
            _extract(inner, detect(inner, spec.filename or "").kind, reader, depth + 1)


def _form_fields(pdf: Any, reader: _Reader) -> None:
    import pikepdf
    acro = pdf.Root.get("/AcroForm")
    todo = [(f, 0) for f in (acro.get("/Fields") or [])] if isinstance(acro, pikepdf.Dictionary) else []
    out: list[str] = []
    seen: set[tuple[int, int]] = set()
    while todo:
        field, level = todo.pop()
        if not isinstance(field, pikepdf.Dictionary) or level > 32:
            continue
        if field.is_indirect:
            if field.objgen in seen:
                continue
            seen.add(field.objgen)
        value = field.get("/V")
        if isinstance(value, pikepdf.String):
            out.append(str(value) + "\n")
        todo.extend((kid, level + 1) for kid in (field.get("/Kids") or []))
    reader.read("".join(out))


def _content(owner: Any, resources: Any, out: list[str], level: int,
             seen: set[tuple[int, int]]) -> None:
    """The text shown by one content stream (a page or a form XObject), in order."""
    import pikepdf
    fonts = resources.get("/Font") if isinstance(resources, pikepdf.Dictionary) else None
    xobjects = resources.get("/XObject") if isinstance(resources, pikepdf.Dictionary) else None
    decode: Callable[[bytes], str] = _latin1
    cache: dict[str, Callable[[bytes], str]] = {}
    for instruction in pikepdf.parse_content_stream(owner):
        operands, op = instruction.operands, str(instruction.operator)
        if op == "Tf" and operands:
            name = str(operands[0])
            if name not in cache:
                font = fonts.get(name) if isinstance(fonts, pikepdf.Dictionary) else None
                cache[name] = _font_decoder(font)
            decode = cache[name]
        elif op in ("Tj", "'", '"') and operands:
            if isinstance(operands[-1], pikepdf.String):
                out.append(decode(bytes(operands[-1])))
        elif op == "TJ" and operands and isinstance(operands[0], pikepdf.Array):
            for item in operands[0]:
                if isinstance(item, pikepdf.String):
                    out.append(decode(bytes(item)))
                elif float(item) < -200:  # a gap wider than a fifth of an em: a space
                    out.append(" ")
        elif op in ("Td", "TD", "T*", "Tm"):
            out.append(" ")
        elif op == "ET":
            out.append("\n")
        elif op == "Do" and operands and isinstance(xobjects, pikepdf.Dictionary):
            xobj = xobjects.get(str(operands[0]))
            if isinstance(xobj, pikepdf.Stream) and xobj.get("/Subtype") == "/Form":
                if level >= MAX_FORM_DEPTH:
                    raise Unreadable("form XObjects nested too deeply")
                if xobj.objgen in seen:
                    continue
                seen.add(xobj.objgen)
                _content(xobj, xobj.get("/Resources") or resources, out, level + 1, seen)
                out.append("\n")


def _latin1(raw: bytes) -> str:
    return raw.decode("latin-1")


def _font_decoder(font: Any) -> Callable[[bytes], str]:
    """How to turn a string shown in ``font`` into text."""
    import pikepdf
    if not isinstance(font, pikepdf.Dictionary):
        return _latin1
    composite = font.get("/Subtype") == "/Type0"
    to_unicode = font.get("/ToUnicode")
    if isinstance(to_unicode, pikepdf.Stream):
        return _CMap(to_unicode.read_bytes(), 2 if composite else 1).decode
    if not composite:
        return _latin1  # simple fonts: digits are their ASCII codes
    encoding = str(font.get("/Encoding") or "")
    if "UCS2" in encoding or "UTF16" in encoding:
        return lambda raw: raw.decode("utf-16-be", "replace")
    if "RKSJ" in encoding:
        return lambda raw: raw.decode("cp932", "replace")
    if "EUC" in encoding:
        return lambda raw: raw.decode("euc_jp", "replace")

    def cannot(raw: bytes) -> str:
        raise Unreadable(f"text in a composite font without a ToUnicode map ({encoding})")
    return cannot


_HEX = rb"<([0-9A-Fa-f\s]*)>"
_BLOCK = re.compile(rb"begin(bfchar|bfrange|codespacerange)(.*?)end\1", re.S)
_BFCHAR = re.compile(_HEX + rb"\s*" + _HEX)
_BFRANGE = re.compile(_HEX + rb"\s*" + _HEX + rb"\s*(?:" + _HEX + rb"|\[(.*?)\])", re.S)
_HEXES = re.compile(_HEX)


def _hex(raw: bytes) -> bytes:
    digits = re.sub(rb"\s", b"", raw)
    return bytes.fromhex((digits + b"0" * (len(digits) % 2)).decode())


def _utf16(raw: bytes) -> str:
    return raw.decode("utf-16-be", "replace")


class _CMap:
    """A ToUnicode CMap: ``bfchar`` and ``bfrange`` entries (ranges not expanded)."""

    def __init__(self, data: bytes, width: int) -> None:
        self.width = width
        self.chars: dict[bytes, str] = {}
        self.ranges: list[tuple[int, int, int, Any]] = []  # lo, hi, width, base or list
        entries = 0
        for block in _BLOCK.finditer(data):
            what, body = block.group(1), block.group(2)
            if what == b"codespacerange":
                first = _HEXES.search(body)
                if first:
                    self.width = max(1, len(_hex(first.group(1))))
            elif what == b"bfchar":
                for m in _BFCHAR.finditer(body):
                    self.chars[_hex(m.group(1))] = _utf16(_hex(m.group(2)))
                    entries += 1
            else:
                for m in _BFRANGE.finditer(body):
                    lo, hi = _hex(m.group(1)), _hex(m.group(2))
                    target: Any = _hex(m.group(3)) if m.group(3) is not None else \
                        [_utf16(_hex(h)) for h in _HEXES.findall(m.group(4) or b"")]
                    self.ranges.append((int.from_bytes(lo, "big"), int.from_bytes(hi, "big"),
                                        len(lo), target))
                    entries += 1
            if entries > MAX_CMAP_ENTRIES:
                raise Unreadable(f"ToUnicode map with more than {MAX_CMAP_ENTRIES} entries")

    def decode(self, raw: bytes) -> str:
        out = []
        w = self.width
        for i in range(0, len(raw) - w + 1, w):
            code = raw[i:i + w]
            text = self.chars.get(code)
            if text is None:
                text = self._in_range(int.from_bytes(code, "big"), w)
            out.append(text)
        return "".join(out)

    def _in_range(self, code: int, width: int) -> str:
        for lo, hi, w, target in self.ranges:
            if w == width and lo <= code <= hi:
                if isinstance(target, list):
                    return target[code - lo] if code - lo < len(target) else ""
                base = int.from_bytes(target, "big") + code - lo
                return _utf16(base.to_bytes(max(len(target), 2), "big"))
        return ""


# --------------------------------------------------------------------------- RTF

# Destinations whose text no reader sees (tables, pictures, objects, metadata stores).
_RTF_SKIP = frozenset({b"fonttbl", b"colortbl", b"stylesheet", b"listtable",
                       b"listoverridetable", b"revtbl", b"rsidtbl", b"pict", b"object",
                       b"objdata", b"datastore", b"themedata", b"colorschememapping",
                       b"latentstyles", b"xmlnstbl", b"generator", b"filetbl",
                       b"mmathPr", b"fldinst", b"shppict", b"nonshppict", b"bkmkstart",
                       b"bkmkend"})
_RTF_LINE = frozenset({b"par", b"line", b"row", b"sect", b"page", b"pard"})
_RTF_CELL = frozenset({b"tab", b"cell"})


def _rtf(data: bytes, reader: _Reader) -> None:
    from sanitize.formats import rtf
    root, _ = rtf.parse(data)
    codepage = "cp1252"
    for item in root.items[:200]:
        if isinstance(item, rtf.Word) and item.name == b"ansicpg" and item.param:
            codepage = f"cp{item.param}"
    try:
        b"".decode(codepage)
    except LookupError:
        codepage = "cp1252"
    out: list[str] = []
    _rtf_group(rtf, root, codepage, out, 1)
    reader.read("".join(out))


def _rtf_group(rtf: Any, group: Any, codepage: str, out: list[str], uc: int) -> None:
    pending = bytearray()
    skip = 0  # fallback characters still to skip after a \u

    def flush() -> None:
        if pending:
            out.append(pending.decode(codepage, "replace"))
            pending.clear()
    items = group.items
    first = next((i for i in items[:3] if isinstance(i, (rtf.Word, rtf.Symbol))), None)
    if isinstance(first, rtf.Symbol) and first.char == b"*":
        return  # an ignorable destination: not document text
    if isinstance(first, rtf.Word) and first.name in _RTF_SKIP:
        return
    for item in items:
        if isinstance(item, rtf.Group):
            flush()
            _rtf_group(rtf, item, codepage, out, uc)
        elif isinstance(item, rtf.Text):
            data = item.data.replace(b"\r", b"").replace(b"\n", b"")
            if skip:
                cut = min(skip, len(data))
                data, skip = data[cut:], skip - cut
            pending += data
        elif isinstance(item, rtf.Hex):
            if skip:
                skip -= 1
            else:
                pending.append(int(item.digits, 16))
        elif isinstance(item, rtf.Word):
            name = item.name
            if name == b"u" and item.param is not None:
                flush()
                out.append(chr(item.param % 65536))
                skip = uc
            elif name == b"uc" and item.param is not None:
                uc = max(item.param, 0)
            elif name in _RTF_LINE:
                flush()
                out.append("\n")
            elif name in _RTF_CELL:
                flush()
                out.append("\t")
            elif name in _RTF_SKIP:
                break  # a destination word mid-group takes the rest of the group
        elif isinstance(item, rtf.Symbol):
            if item.char in (b"\\", b"{", b"}"):
                pending += item.char
            elif item.char == b"~":
                pending += b" "
            elif item.char == b"_":
                pending += b"-"
    flush()


# --------------------------------------------------------------------------- ZIP


def _zip(data: bytes, reader: _Reader, depth: int) -> None:
    if depth >= reader.cfg.max_archive_depth:
        raise Unreadable(f"zip at depth {depth}")
    archive = safezip.SafeZip(data, reader.cfg)
    for entry in archive.entries:
        if entry.is_dir:
            continue
        inner = archive.read(entry)
        _extract(inner, detect(inner, entry.name).kind, reader, depth + 1)
