"""PDF family of the disarm engine: rebuild a PDF without its active content (CDR.md).

The file is opened by qpdf (through pikepdf) under tight limits with the empty password
only, the catalog's entry points are cut, then EVERY object in the file is walked
(``pdf.objects``, not only the paths a viewer follows, so nothing hides in an unusual
slot, an object stream or an incremental update) and what could act is removed:
scripts, additional actions, non-navigation actions, unsafe URIs, embedded files,
multimedia and 3D annotations, PostScript and U3D/PRC streams.  qpdf then writes a new
file: unencrypted, one revision, no orphan objects, nothing before the header or after
``%%EOF``, no object streams (so byte-level scanners downstream see every dictionary).

pikepdf ships ``pikepdf.sanitize``, but it follows known paths only, removes every URI
(we keep http/https/mailto links) and does not say what it removed, which the report
needs; hence this walk.

Links (GoTo, safe URI), outlines, page labels, the structure tree, optional content and
page text are left alone.  ``verify`` (in ``pdf_verify``) is the independent re-check.
"""

from __future__ import annotations

import re

import pikepdf
from pikepdf import Array, Dictionary, Name, Stream, String

from sanitize.formats.pdf_verify import apply_limits, load, memfile, verify
from sanitize.report import Blocked, Rebuilt, Removed

__all__ = ["KINDS", "rebuild", "verify"]

KINDS = frozenset({"pdf"})

# Actions that may stay: navigation inside the document and ordinary web/mail links.
_SAFE_NAMED = frozenset({"/NextPage", "/PrevPage", "/FirstPage", "/LastPage"})
_SAFE_SCHEMES = (b"http://", b"https://", b"mailto:")
# Action types removed wherever they sit, even in a slot no viewer reads (the list of
# CDR.md); any other type is removed when it sits in an /A or /Next slot.
_HOSTILE_ACTIONS = frozenset({
    "/JavaScript", "/Launch", "/GoToR", "/GoToE", "/SubmitForm", "/ImportData",
    "/ResetForm", "/Rendition", "/Movie", "/Sound", "/Hide", "/GoTo3DView",
    "/RichMediaExecute",
})
_JUDGED_ANYWHERE = _HOSTILE_ACTIONS | {"/URI", "/Named"}
_ACTION_CODES = {"/JavaScript": "pdf.javascript", "/Launch": "pdf.launch", "/URI": "pdf.uri_unsafe"}
_BAD_ANNOTS = frozenset({"/FileAttachment", "/Sound", "/Movie", "/Screen", "/RichMedia", "/3D"})
# Keys deleted from every dictionary: scripts, event triggers, embedded-file payloads.
_DROP_KEYS = {"/JS": "pdf.javascript", "/AA": "pdf.additional_actions",
              "/EF": "pdf.embedded_file", "/AF": "pdf.embedded_file"}
_CATALOG_KEYS = {
    "/OpenAction": "pdf.openaction", "/AA": "pdf.additional_actions",
    "/AF": "pdf.embedded_file", "/Collection": "pdf.embedded_file",
    "/URI": "pdf.uri_base", "/SpiderInfo": "pdf.web_capture",
}
_NAMES_KEYS = {"/JavaScript": "pdf.javascript", "/EmbeddedFiles": "pdf.embedded_file"}
_ACROFORM_KEYS = {"/XFA": "pdf.xfa", "/NeedsRendering": "pdf.xfa"}
# qpdf prefixes warnings with the input's description ("stream <...> (offset 12): ").
_WARNING_PREFIX = re.compile(r"^stream <[^>]*>[^:]*:\s*")


def rebuild(data: bytes, kind: str, ctx: object) -> Rebuilt:
    """Rebuild ``data`` without its active content; see the module docstring."""
    if kind not in KINDS:
        raise ValueError(f"pdf module asked to rebuild {kind!r}")
    cfg = ctx.cfg  # type: ignore[attr-defined]
    apply_limits(cfg)
    removed: list[Removed] = []
    try:
        with load(data) as pdf:
            if pdf.is_encrypted:
                removed.append(Removed("pdf.encryption", "owner password and restrictions"))
            pages = len(pdf.pages)
            if pages > cfg.max_pdf_pages:
                raise Blocked("limit_exceeded", f"{pages} pages > {cfg.max_pdf_pages}")
            _clean_catalog(pdf.Root, removed)
            walker = _Walker(removed)
            for obj in pdf.objects:
                walker.visit(obj)
            # Warnings come from opening and from resolving objects during the walk.
            repaired = list(pdf.get_warnings())
            out = _save(pdf)
            on_save = list(pdf.get_warnings())[len(repaired):]
    except pikepdf.PdfError as exc:
        raise Blocked("corrupt", f"qpdf: {exc}") from exc
    limited = [w for w in on_save if "limit" in w]
    if limited:
        # qpdf gave up decoding a stream (a decompression bomb) and would pass it on raw.
        raise Blocked("limit_exceeded", _warning_text(limited[0]))
    if repaired or on_save:
        first = _warning_text((repaired or on_save)[0])
        removed.append(Removed("pdf.recovered",
                               f"qpdf repaired the file ({len(repaired) + len(on_save)} warnings): {first}"))
    # One construct is met from its holder and again as an object: report it once.
    return Rebuilt(data=out, kind="pdf", removed=tuple(dict.fromkeys(removed)))


def _save(pdf: pikepdf.Pdf) -> bytes:
    with memfile() as f:
        # fix_metadata_version=False: do not parse the sender's XMP just to bump it.
        pdf.save(f, encryption=False, linearize=False, fix_metadata_version=False,
                 object_stream_mode=pikepdf.ObjectStreamMode.disable)
        f.seek(0)
        return f.read()


def _warning_text(warning: str) -> str:
    return _WARNING_PREFIX.sub("", warning)[:200]


def _clean_catalog(root: Dictionary, removed: list[Removed]) -> None:
    """Cut the document-level entry points (CDR.md "Catalog")."""
    _drop(root, _CATALOG_KEYS, "Catalog", removed)
    names = root.get("/Names")
    if isinstance(names, Dictionary):
        _drop(names, _NAMES_KEYS, "Catalog /Names", removed)
    acroform = root.get("/AcroForm")
    if isinstance(acroform, Dictionary):
        _drop(acroform, _ACROFORM_KEYS, "Catalog /AcroForm", removed)


def _drop(holder: Dictionary, keys: dict[str, str], where: str, removed: list[Removed]) -> None:
    present = holder.keys()
    for key, code in keys.items():
        if key in present:
            del holder[key]
            removed.append(Removed(code, f"{where} {key}"))


def _ref(obj: pikepdf.Object) -> str:
    num, gen = obj.objgen
    return f"{num} {gen} R"


def _uri_is_safe(uri: object) -> bool:
    if not isinstance(uri, String):
        return False
    raw = bytes(uri).strip()
    return raw.lower().startswith(_SAFE_SCHEMES) and not re.search(rb"[\x00-\x1f\x7f]", raw)


def _uri_scheme(uri: object) -> str:
    if not isinstance(uri, String):
        return "not a string"
    raw = bytes(uri).strip()[:40]
    head = raw.split(b":", 1)[0] if b":" in raw else raw[:10]
    return head.decode("latin-1") or "empty"


def _judge(action: object) -> tuple[str, str] | None:
    """None if ``action`` may stay, else (code, what it is)."""
    if not isinstance(action, Dictionary):
        return "pdf.action", "malformed action"
    s = action.get("/S")
    kind = str(s) if isinstance(s, Name) else ""
    if kind == "/GoTo":
        return None
    if kind == "/URI":
        uri = action.get("/URI")
        return None if _uri_is_safe(uri) else ("pdf.uri_unsafe", f"URI action ({_uri_scheme(uri)})")
    if kind == "/Named":
        n = action.get("/N")
        if isinstance(n, Name) and str(n) in _SAFE_NAMED:
            return None
        return "pdf.action", f"Named action {n}"
    return _ACTION_CODES.get(kind, "pdf.action"), f"{kind[1:] or 'untyped'} action"


class _Walker:
    """Visits every indirect object and the direct objects inside it, once each."""

    def __init__(self, removed: list[Removed]) -> None:
        self.removed = removed

    def visit(self, obj: pikepdf.Object) -> None:
        if isinstance(obj, Stream):
            self._stream(obj)
        if isinstance(obj, (Dictionary, Stream)):
            self._dict(obj, _ref(obj))
        elif isinstance(obj, Array):
            self._array(obj, _ref(obj))

    def _report(self, code: str, what: str, where: str) -> None:
        self.removed.append(Removed(code, f"{what} ({where})"))

    def _children(self, values: object, where: str) -> None:
        # Indirect children are visited in their own right by the pdf.objects loop.
        for value in values:  # type: ignore[attr-defined]
            if isinstance(value, Dictionary) and not value.is_indirect:
                self._dict(value, where)
            elif isinstance(value, Array) and not value.is_indirect:
                self._array(value, where)

    def _array(self, arr: Array, where: str) -> None:
        self._children(arr, where)

    def _dict(self, d: Dictionary, where: str) -> None:
        keys = d.keys()
        s = d.get("/S") if "/S" in keys else None
        if isinstance(s, Name) and str(s) in _JUDGED_ANYWHERE:
            verdict = _judge(d)
            if verdict is not None:  # an action that may not stay, wherever it sits
                self._report(*verdict, where)
                for key in list(keys):
                    del d[key]
                return
        sub = d.get("/Subtype") if "/Subtype" in keys else None
        subtype = str(sub) if isinstance(sub, Name) else ""
        if subtype in _BAD_ANNOTS and ("/Rect" in keys or d.get("/Type") == Name.Annot):
            self._report("pdf.annotation", f"{subtype[1:]} annotation", where)
            for key in list(keys):
                del d[key]
            return
        for key, code in _DROP_KEYS.items():
            if key in keys:
                del d[key]
                self._report(code, key, where)
        if "/A" in keys:
            self._action_slot(d, subtype, where)
        if "/Next" in keys and "/S" in keys:
            self._next_chain(d, where)
        if "/Annots" in keys:
            self._annots(d, where)
        self._children((d[k] for k in d.keys()), where)

    def _action_slot(self, d: Dictionary, subtype: str, where: str) -> None:
        action = d["/A"]
        if subtype == "/Widget":  # form widgets keep their look, lose their actions
            del d["/A"]
            self._report("pdf.action", "widget action", where)
            return
        verdict = _judge(action)
        if verdict is not None:
            del d["/A"]
            self._report(*verdict, _ref(action) if _indirect(action) else f"{where} /A")

    def _next_chain(self, d: Dictionary, where: str) -> None:
        nxt = d["/Next"]
        items = list(nxt) if isinstance(nxt, Array) else [nxt]
        keep = []
        for item in items:
            verdict = _judge(item)
            if verdict is None:
                keep.append(item)
            else:
                self._report(*verdict, _ref(item) if _indirect(item) else f"{where} /Next")
        if len(keep) == len(items):
            return
        if not keep:
            del d["/Next"]
        else:
            d["/Next"] = keep[0] if len(keep) == 1 else Array(keep)

    def _annots(self, d: Dictionary, where: str) -> None:
        annots = d["/Annots"]
        if not isinstance(annots, Array):
            return
        keep = []
        for annot in annots:
            sub = annot.get("/Subtype") if isinstance(annot, Dictionary) else None
            if isinstance(sub, Name) and str(sub) in _BAD_ANNOTS:
                self._report("pdf.annotation", f"{str(sub)[1:]} annotation",
                             _ref(annot) if annot.is_indirect else f"{where} /Annots")
            else:
                keep.append(annot)
        if len(keep) != len(annots):
            d["/Annots"] = Array(keep)

    def _stream(self, s: Stream) -> None:
        """Empty the streams that are payloads rather than page content."""
        keys = s.keys()
        t = s.get("/Type") if "/Type" in keys else None
        sub = s.get("/Subtype") if "/Subtype" in keys else None
        subtype = str(sub) if isinstance(sub, Name) else ""
        if t == Name.EmbeddedFile:
            code, what, form = "pdf.embedded_file", "embedded file stream", False
        elif subtype == "/PS" or s.get("/Subtype2") == Name.PS:
            code, what, form = "pdf.postscript", "PostScript XObject", True
        elif subtype in ("/U3D", "/PRC"):
            code, what, form = "pdf.3d", f"{subtype[1:]} 3D stream", False
        else:
            return
        for key in list(keys):
            if key != "/Length":  # qpdf owns /Length; write() resets it
                del s[key]
        s.write(b"")
        if form:  # content may still paint it with Do: leave an empty form there
            s.Type, s.Subtype, s.BBox = Name.XObject, Name.Form, Array([0, 0, 0, 0])
        self._report(code, what, _ref(s))


def _indirect(obj: object) -> bool:
    return isinstance(obj, pikepdf.Object) and obj.is_indirect
