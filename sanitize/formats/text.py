"""Text-like kinds: plain text, CSV, HTML and SVG rewritten from their safe parts
(CDR.md "Text, CSV, HTML, SVG").  Generic XML is refused: no rule tells its safe parts.

Decoding (all kinds): a BOM (UTF-8, UTF-16) wins; then a charset the file declares
(HTML ``<meta charset>``, the XML declaration: Shift_JIS, EUC-JP, ISO-2022-JP, UTF-8);
then strict UTF-8; then CP932 (Japanese Windows).  NUL bytes without a UTF-16 BOM, or
control characters in more than 5 % of the text, mean binary data: blocked.  Stray
control characters and bidi overrides (the "Trojan Source" trick) are removed, line
ends made uniform (CRLF if most were CRLF, else LF), and the output is UTF-8.

* text: UTF-8; with a BOM when the input was not plain UTF-8 (CP932, UTF-16 or BOM'd),
  so Japanese Windows tools that assume CP932 without one read it right.
* CSV: parsed with the csv module, written back with the input's delimiter (sniffed
  among ``, TAB ;``) and always with a UTF-8 BOM: Japanese Excel opens BOM-less UTF-8
  CSV as CP932 (mojibake).  A cell starting with ``= + - @ TAB CR`` gets a leading
  ``'`` unless it is a plain number (``-12.5``, ``+81``, ``1,234``) or a lone ``-``;
  so does any part of a cell after ``, ; TAB`` (when that is not the delimiter), since
  a spreadsheet splitting on another separator would see a formula there.  A DDE cell
  (``=cmd|'/c calc'!A0``) also has its ``|`` replaced by a full-width ``｜``.
* HTML: an allow-list rebuild with lxml (not a text conversion): structure, tables,
  lists, emphasis and http(s)/mailto/#fragment links stay; scripts, styles, frames,
  objects, forms, images (whose sources would be fetched), comments, event handlers
  and every other URL go.  The output declares UTF-8 and a Content-Security-Policy of
  ``default-src 'none'`` in case a browser finds something this missed.
* SVG: parsed without entity expansion, DTD or network; rebuilt from SVG shape, text,
  gradient and filter elements and presentation attributes; ``href`` only to
  ``#fragments``, ``url()`` only to ``#fragments``, ``<style>`` only without
  ``@import``, escapes or non-fragment ``url()``.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections import Counter
from dataclasses import dataclass

import lxml.html
from lxml import etree

from sanitize.formats import Context
from sanitize.report import Blocked, Rebuilt, Removed, VerifyFailed

KINDS = frozenset({"text", "csv", "html", "svg", "xml"})

BOM = "\ufeff"
# More control characters than this share (and more than a few): binary, not text.
# Generous, because coloured terminal logs carry an ESC per colour change.
MAX_CONTROL_RATIO = 0.05
MAX_LISTED = 50  # report entries per code; the rest are counted in one line

# Charsets a file may declare, mapped to Python codecs (Shift_JIS as its superset CP932).
_CHARSETS = {
    "utf-8": "utf-8", "utf8": "utf-8", "shift_jis": "cp932", "shift-jis": "cp932",
    "sjis": "cp932", "x-sjis": "cp932", "windows-31j": "cp932", "cp932": "cp932",
    "ms932": "cp932", "euc-jp": "euc_jp", "x-euc-jp": "euc_jp", "iso-2022-jp": "iso2022_jp",
}
_DECLARED = re.compile(rb"""(?:charset|encoding)\s*=\s*["']?([A-Za-z0-9_\-]+)""", re.I)
# C0 (but TAB LF FF CR), DEL and C1; bidi embeddings, overrides and isolates.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069]")


class _Log:
    """Collects removals: identical details are counted, each code lists at most 50."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str]] = Counter()

    def add(self, code: str, detail: str = "", n: int = 1) -> None:
        self._counts[(code, detail)] += n

    def removed(self) -> tuple[Removed, ...]:
        out: list[Removed] = []
        listed: Counter[str] = Counter()
        unlisted: Counter[str] = Counter()
        for (code, detail), n in self._counts.items():
            if listed[code] >= MAX_LISTED:
                unlisted[code] += n
                continue
            listed[code] += 1
            out.append(Removed(code, f"{detail} x{n}" if n > 1 else detail))
        out += [Removed(code, f"and {n} more") for code, n in unlisted.items()]
        return tuple(out)


# --- decoding ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Decoded:
    text: str  # line ends are "\n"
    encoding: str
    had_bom: bool
    newline: str  # what the output uses: "\r\n" or "\n"


def decode(data: bytes, log: _Log, declared: bool = False) -> Decoded:
    """Bytes to clean text, or Blocked when they are not text.  ``declared``: honour a
    charset the document itself names (HTML, SVG)."""
    bom = data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"))
    if bom:
        candidates = ["utf-8-sig"] if data[:1] == b"\xef" else ["utf-16"]
    elif b"\x00" in data:
        raise Blocked("unknown_kind", "NUL bytes: binary data, not text")
    else:
        candidates = ["utf-8", "cp932"]
        match = _DECLARED.search(data[:4096]) if declared else None
        if match and match.group(1).decode().lower() in _CHARSETS:
            candidates.insert(0, _CHARSETS[match.group(1).decode().lower()])
    for encoding in candidates:
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise Blocked("corrupt", "not valid UTF-8, CP932 or UTF-16 text")
    text = text.removeprefix(BOM)
    controls = len(_CONTROL.findall(text))
    if controls > 8 and controls > MAX_CONTROL_RATIO * len(text):
        raise Blocked("unknown_kind", f"{controls} control characters: binary data")
    if controls:
        text = _CONTROL.sub("", text)
        log.add("text.control_chars", f"{controls} character(s)")
    bidi = len(_BIDI.findall(text))
    if bidi:
        text = _BIDI.sub("", text)
        log.add("text.bidi_control", f"{bidi} character(s)")
    crlf = text.count("\r\n")
    newline = "\r\n" if crlf * 2 > text.count("\n") + text.count("\r") - crlf else "\n"
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return Decoded(text, encoding, bom, newline)


def _rebuild_text(data: bytes, log: _Log) -> bytes:
    d = decode(data, log)
    bom = BOM if d.had_bom or d.encoding != "utf-8" else ""
    return (bom + d.text.replace("\n", d.newline)).encode("utf-8")


def _verify_text(data: bytes) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise VerifyFailed(f"output is not UTF-8: {exc}") from exc
    if _CONTROL.search(text) or _BIDI.search(text) or re.search(r"\r(?!\n)", text):
        raise VerifyFailed("control characters or bare CR in the output")
    return text


# --- CSV ---------------------------------------------------------------------------------

# OWASP's formula starters, plus LF: the rebuild writes the input's CR as LF, and a
# cell that begins with a line break and then "=" is still read as a formula by some.
_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")
_NUMBER = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:[eE][+-]?\d+)?%?")
_DDE = re.compile(r"[=+\-@][^|]*\|[^!]*!", re.S)
_SEPARATORS = (",", ";", "\t")
_WORTH_A_LOOK = re.compile(r"^[=+\-@\t\r\n]|[|,;\t\n]")


def _is_number(s: str) -> bool:
    return bool(_NUMBER.fullmatch(s)) and any(c.isdigit() for c in s)


def _defuse(part: str, quotes: bool = False) -> str:
    """``part`` made inert.  With ``quotes``, leading double quotes are looked through:
    a part that starts a cell for a spreadsheet splitting on another separator may be
    re-quoted by it, and the quote then vanishes in front of the formula."""
    bare = part.lstrip('"') if quotes else part
    if bare.startswith(_TRIGGERS) and bare != "-" and not _is_number(bare):
        return "'" + part
    return part


def _defuse_cell(cell: str, delimiter: str) -> tuple[str, str | None]:
    """The cell as a spreadsheet may safely read it, and why it changed (or None)."""
    if not _WORTH_A_LOOK.search(cell):
        return cell, None  # the common case, kept fast for million-cell files
    out = _defuse(cell)
    # Parts after a separator that is not ours: a spreadsheet splitting on it (a TSV
    # named .csv, a ';' locale) would start a cell there -- and a row at each line
    # break, since our quotes mean nothing to it once the delimiter differs.
    for sep in _SEPARATORS + ("\n",):
        if sep != delimiter and sep in out:
            first, *rest = out.split(sep)
            out = sep.join([first] + [_defuse(p, quotes=True) for p in rest])
    if _DDE.search(cell):
        return out.replace("|", "｜"), "csv.dde"
    return out, ("csv.formula" if out != cell else None)


def _column(n: int) -> str:
    name = ""
    while n:
        n, r = divmod(n - 1, 26)
        name = chr(65 + r) + name
    return name


def _delimiter(text: str) -> str:
    try:
        return csv.Sniffer().sniff(text[:4096], delimiters="".join(_SEPARATORS)).delimiter
    except csv.Error:
        return ","


def _rebuild_csv(data: bytes, log: _Log) -> bytes:
    d = decode(data, log)
    delimiter = _delimiter(d.text)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=d.newline)
    try:
        for r, row in enumerate(csv.reader(io.StringIO(d.text), delimiter=delimiter), 1):
            cells = []
            for c, cell in enumerate(row, 1):
                cell, code = _defuse_cell(cell, delimiter)
                if code:
                    log.add(code, f"{_column(c)}{r}")
                cells.append(cell)
            writer.writerow(cells)
    except csv.Error as exc:
        raise Blocked("corrupt", f"CSV: {exc}") from exc
    return (BOM + out.getvalue()).encode("utf-8")


# A memo of a pure function of the delimiter (one of a few separators), not state
# about a file: the pattern is the same whichever file chose that delimiter.
@functools.lru_cache(maxsize=4)
def _formula_starts(delimiter: str) -> re.Pattern[str]:
    """Where a spreadsheet could start a cell inside one of ours: its start, and after
    any separator that is not the delimiter; group 1 runs to the next separator."""
    others = "".join(s for s in _SEPARATORS if s != delimiter) + "\n"
    first = "".join(c for c in "=+-@\t\r\n" if c not in others)
    return re.compile(f'(?:^|[{others}]"*)([{re.escape(first)}][^{others}]*)')


def _verify_csv(data: bytes) -> None:
    if not data.startswith(b"\xef\xbb\xbf"):
        raise VerifyFailed("CSV output without its UTF-8 BOM")
    text = _verify_text(data)
    delimiter = _delimiter(text)
    starts = _formula_starts(delimiter)
    for row in csv.reader(io.StringIO(text), delimiter=delimiter):
        for cell in row:
            for match in starts.finditer(cell):
                part = match.group(1)
                if part != "-" and not _is_number(part):
                    raise VerifyFailed(f"CSV cell {cell[:40]!r} starts a formula")
            if "|" in cell and _DDE_CHECK.search(cell):
                raise VerifyFailed(f"CSV cell {cell[:40]!r} holds a DDE link")


_DDE_CHECK = re.compile(r"[-=+@].*?\|.*?!", re.S)


# --- HTML --------------------------------------------------------------------------------

_HTML_KEEP = frozenset("""
    html head title body p br hr div span h1 h2 h3 h4 h5 h6 ul ol li dl dt dd table
    thead tbody tfoot tr th td caption colgroup col a b i u s strong em small sub sup
    blockquote pre code kbd samp var abbr cite q mark del ins figure figcaption section
    article header footer nav main aside address time ruby rt rp wbr details summary
""".split())
# Dropped with everything inside; other unknown tags are unwrapped (content kept).
_HTML_DROP = {
    "script": "html.script", "noscript": "html.script", "style": "html.style",
    **{t: "html.element" for t in """iframe frame frameset object embed applet param
        form input button select textarea option optgroup datalist output label meta
        base link svg math template audio video source track canvas portal dialog
        map area""".split()},
}
_HTML_ATTRS = frozenset("""
    id title lang dir align valign colspan rowspan width height border cellpadding
    cellspacing start reversed type datetime abbr scope headers span
""".split())
_URL_OK = ("http://", "https://", "mailto:", "#")
_CSP = "default-src 'none'"


def _url(value: str) -> str | None:
    """The URL if it is http(s), mailto or a #fragment, else None.  Browsers ignore
    whitespace and controls inside a scheme ("java\\tscript:"), so they are removed
    before looking."""
    clean = re.sub(r"[\x00-\x20\x7f]", "", value)
    return clean if clean.lower().startswith(_URL_OK) else None


# Characters a rebuilt tree may hold: XML's, minus C1 controls and bidi overrides.
# Character references (&#0; &#x202E; &#xFFFE;) bring in what decoding already removed.
_NOT_XML = re.compile("[^\t\n\r\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
                      "|[\u202a-\u202e\u2066-\u2069]")


def _chars(text: str | None) -> str | None:
    return _NOT_XML.sub("", text) if text else text


def _add_text(parent: etree._Element, text: str | None) -> None:
    text = _chars(text)
    if not text:
        return
    try:
        last = parent[-1]  # O(1) in lxml, where len() counts every child
    except IndexError:
        parent.text = (parent.text or "") + text
    else:
        last.tail = (last.tail or "") + text


def _html_copy(src: etree._Element, dst: etree._Element, log: _Log) -> None:
    """Copy the allowed parts of ``src``'s children under ``dst`` (a new tree)."""
    for child in src:
        tag = child.tag.lower() if isinstance(child.tag, str) else None
        if tag is None:  # comment (IE conditional comments run script), PI, entity
            log.add("html.comment")
        elif tag in _HTML_DROP:
            log.add(_HTML_DROP[tag], tag)
        elif tag == "img":
            log.add("html.external_image", "image source not fetched")
            _add_text(dst, child.get("alt"))
        elif tag in _HTML_KEEP:
            new = etree.SubElement(dst, tag)
            for name, value in child.attrib.items():
                name = name.lower()
                if name.startswith("on"):
                    log.add("html.event_handler", name)
                elif name == "href" and tag == "a" and _url(value):
                    new.set("href", _chars(_url(value)) or "")
                elif name in ("href", "src", "action", "formaction", "background", "poster",
                              "cite", "srcset", "ping", "xlink:href"):
                    log.add("html.url", f"{name}={value[:60]}")
                elif name in ("style", "class"):
                    log.add("html.style", f"{name} attribute")
                elif name in _HTML_ATTRS:
                    new.set(name, _chars(value) or "")
                else:
                    log.add("html.attribute", name)
            new.text = _chars(child.text)
            _html_copy(child, new, log)
        else:  # unknown or presentational (font, center): keep the content only
            _add_text(dst, child.text)
            _html_copy(child, dst, log)
        _add_text(dst, child.tail)


def _without_xml_declaration(text: str) -> str:
    # lxml refuses str input that carries an encoding declaration; it is decoded already.
    return re.sub(r"^\s*<\?xml[^>]*\?>", "", text)


def _rebuild_html(data: bytes, log: _Log) -> bytes:
    d = decode(data, log, declared=True)
    out = etree.Element("html")
    if d.text.strip():
        try:
            # lxml's tree takes only XML characters (FF is HTML whitespace).
            source = _without_xml_declaration(d.text).replace("\x0c", " ")
            root = lxml.html.document_fromstring(_chars(source))
        except (etree.ParserError, ValueError) as exc:
            raise Blocked("corrupt", f"HTML: {exc}") from exc
        for name, value in root.attrib.items():
            if name.lower() in ("lang", "dir"):
                out.set(name.lower(), _chars(value) or "")
        _html_copy(root, out, log)
    head = out.find("head")
    if head is None:
        head = etree.Element("head")
        out.insert(0, head)
    head.insert(0, etree.Element("meta", {"http-equiv": "Content-Security-Policy",
                                          "content": _CSP}))
    head.insert(0, etree.Element("meta", charset="utf-8"))
    html = lxml.html.tostring(out, encoding="unicode", method="html")
    return ("<!DOCTYPE html>\n" + html).encode("utf-8")


_HTML_FORBIDDEN = frozenset("""script noscript style iframe frame frameset object embed
    applet form input button textarea select base link svg math img template audio
    video source canvas""".split())


def _verify_html(data: bytes) -> None:
    root = lxml.html.document_fromstring(_verify_text(data))
    for el in root.iter():
        if not isinstance(el.tag, str):
            raise VerifyFailed("HTML comment or processing instruction in the output")
        if el.tag in _HTML_FORBIDDEN:
            raise VerifyFailed(f"HTML <{el.tag}> in the output")
        if el.tag == "meta" and not (set(el.attrib) == {"charset"} or
                                     el.get("http-equiv") == "Content-Security-Policy"):
            raise VerifyFailed("HTML <meta> other than charset/CSP in the output")
        for name, value in el.attrib.items():
            lowered = re.sub(r"\s", "", value).lower()
            if name.startswith("on") or name in ("style", "src", "srcdoc", "action") or \
                    lowered.startswith(("javascript:", "vbscript:", "data:")) or \
                    (name == "href" and not lowered.startswith(_URL_OK)):
                raise VerifyFailed(f"HTML attribute {name}={value[:40]!r} in the output")


# --- SVG ---------------------------------------------------------------------------------

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
XML_NS = "http://www.w3.org/XML/1998/namespace"

_SVG_KEEP = frozenset("""
    svg g defs title desc symbol use path rect circle ellipse line polyline polygon text
    tspan textPath linearGradient radialGradient stop clipPath mask pattern marker style
    switch filter feGaussianBlur feOffset feBlend feColorMatrix feComposite feFlood
    feMerge feMergeNode feMorphology feDropShadow feComponentTransfer feFuncR feFuncG
    feFuncB feFuncA
""".split())
_SVG_DROP = {"script": "svg.script", "foreignObject": "svg.foreign_object"}
_SVG_ATTRS = frozenset("""
    id class transform d x y x1 y1 x2 y2 cx cy r rx ry fx fy fr width height points
    viewBox preserveAspectRatio version fill fill-opacity fill-rule stroke stroke-width
    stroke-linecap stroke-linejoin stroke-miterlimit stroke-dasharray stroke-dashoffset
    stroke-opacity opacity font-family font-size font-weight font-style font-variant
    text-anchor dominant-baseline alignment-baseline baseline-shift letter-spacing
    word-spacing text-decoration writing-mode dx dy rotate textLength lengthAdjust
    startOffset offset stop-color stop-opacity gradientUnits gradientTransform
    spreadMethod clip-path clip-rule clipPathUnits mask maskUnits maskContentUnits
    patternUnits patternContentUnits patternTransform marker-start marker-mid marker-end
    markerWidth markerHeight markerUnits refX refY orient visibility display color
    overflow vector-effect paint-order shape-rendering text-rendering color-interpolation
    color-interpolation-filters filter filterUnits primitiveUnits in in2 stdDeviation
    result mode operator k1 k2 k3 k4 values type tableValues slope intercept amplitude
    exponent flood-color flood-opacity radius media lang
""".split())
_CSS_BAD = re.compile(r"@import|expression|javascript:|behavior|-moz-binding|\\|</", re.I)
_URL_NOT_FRAGMENT = re.compile(r"""url\(\s*(?!['"]?\s*#)""", re.I)


def _css_ok(css: str) -> bool:
    return not _CSS_BAD.search(css) and not _URL_NOT_FRAGMENT.search(css)


def _svg_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False,
                           load_dtd=False, dtd_validation=False, remove_comments=True,
                           remove_pis=True)


def _parse_svg(text: str) -> etree._Element:
    try:
        return etree.fromstring(_without_xml_declaration(text), _svg_parser())
    except etree.XMLSyntaxError as exc:  # includes libxml2's entity amplification limit
        raise Blocked("corrupt", f"SVG: {exc}") from exc


def _svg_attrs(child: etree._Element, new: etree._Element, log: _Log) -> None:
    for qname, value in child.attrib.items():
        q = etree.QName(qname)
        name = q.localname
        if q.namespace == XML_NS and name in ("space", "lang"):
            new.set(qname, _chars(value) or "")
        elif name.lower().startswith("on"):
            log.add("svg.event_handler", name)
        elif name == "href" and q.namespace in (None, XLINK_NS):
            if value.strip().startswith("#"):
                new.set(qname, _chars(value.strip()) or "")
            else:
                log.add("svg.external_href", value[:60])
        elif q.namespace is not None or name not in _SVG_ATTRS and name != "style":
            log.add("svg.attribute", name)
        elif not _css_ok(value):
            log.add("svg.style" if name == "style" else "svg.external_href",
                    f"{name}={value[:60]}")
        else:
            new.set(name, _chars(value) or "")


def _href(el: etree._Element) -> str:
    return el.get("href") or el.get(f"{{{XLINK_NS}}}href") or ""


def _svg_copy(src: etree._Element, dst: etree._Element, log: _Log) -> None:
    for child in src:
        if not isinstance(child.tag, str):  # unexpanded entity reference
            log.add("svg.entity", f"&{child.name};" if hasattr(child, "name") else "")
        else:
            q = etree.QName(child)
            name = q.localname
            if name == "a" and q.namespace in (SVG_NS, None):  # a link: keep what it shows
                log.add("svg.external_href", f"<a> {_href(child)[:60]}")
                _add_text(dst, child.text)
                _svg_copy(child, dst, log)
            elif q.namespace not in (SVG_NS, None) or name not in _SVG_KEEP:
                log.add(_SVG_DROP.get(name, "svg.element"), name)
            elif name == "style" and (len(child) or not _css_ok(child.text or "")):
                log.add("svg.style", "<style> with imports, escapes or external url()")
            else:
                new = etree.SubElement(dst, f"{{{SVG_NS}}}{name}")
                _svg_attrs(child, new, log)
                new.text = _chars(child.text)
                _svg_copy(child, new, log)
        _add_text(dst, child.tail)


def _rebuild_svg(data: bytes, log: _Log) -> bytes:
    root = _parse_svg(decode(data, log, declared=True).text)
    q = etree.QName(root)
    if q.localname != "svg" or q.namespace not in (SVG_NS, None):
        raise Blocked("corrupt", f"root element is {q.localname}, not svg")
    dtd = root.getroottree().docinfo.internalDTD
    if dtd is not None:
        log.add("svg.entity", f"DTD with {len(list(dtd.iterentities()))} entity declaration(s)")
    out = etree.Element(f"{{{SVG_NS}}}svg", nsmap={None: SVG_NS, "xlink": XLINK_NS})
    _svg_attrs(root, out, log)
    out.text = _chars(root.text)
    _svg_copy(root, out, log)
    body = etree.tostring(out, encoding="unicode")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body).encode("utf-8")


_SVG_FORBIDDEN = frozenset({"script", "foreignObject", "image", "feImage", "iframe", "a",
                            "animate", "animateMotion", "animateTransform", "set", "handler"})


def _verify_svg(data: bytes) -> None:
    text = _verify_text(data)
    try:
        root = _parse_svg(text)
    except Blocked as exc:
        raise VerifyFailed(exc.detail) from exc
    if root.getroottree().docinfo.internalDTD is not None:
        raise VerifyFailed("SVG output has a DTD")
    for el in root.iter():
        if not isinstance(el.tag, str):
            raise VerifyFailed("SVG comment, PI or entity in the output")
        q = etree.QName(el)
        if q.namespace != SVG_NS or q.localname in _SVG_FORBIDDEN:
            raise VerifyFailed(f"SVG element {el.tag} in the output")
        if q.localname == "style" and not _css_ok(el.text or ""):
            raise VerifyFailed("SVG <style> with external references")
        for name, value in el.attrib.items():
            local = etree.QName(name).localname
            if local.lower().startswith("on") or "javascript:" in value.lower() or \
                    (local == "href" and not value.startswith("#")) or \
                    re.search(r"url\(\s*['\"]?\s*[^#'\"\s]", value, re.I):
                raise VerifyFailed(f"SVG attribute {local}={value[:40]!r} in the output")


# --- the module contract -----------------------------------------------------------------

_REBUILD = {"text": _rebuild_text, "csv": _rebuild_csv, "html": _rebuild_html,
            "svg": _rebuild_svg}


def rebuild(data: bytes, kind: str, ctx: Context) -> Rebuilt:
    if kind == "xml":
        raise Blocked("unsupported_kind", "generic XML: no rule says which parts are safe")
    if kind not in _REBUILD:
        raise Blocked("unsupported_kind", f"text cannot rebuild {kind!r}")
    log = _Log()
    try:
        output = _REBUILD[kind](data, log)
    except RecursionError as exc:  # nesting deeper than the walk can follow
        raise Blocked("limit_exceeded", f"{kind}: nesting too deep") from exc
    return Rebuilt(output, kind, log.removed())


def verify(data: bytes, kind: str, ctx: Context) -> None:
    if kind == "text":
        _verify_text(data)
    elif kind == "csv":
        _verify_csv(data)
    elif kind == "html":
        _verify_html(data)
    elif kind == "svg":
        _verify_svg(data)
    else:
        raise VerifyFailed(f"text cannot verify {kind!r}")
