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

Then every font program and image is written anew (``pdf_fonts``, ``pdf_images``):
TrueType and CFF programs without hinting, Type 1 programs dropped, images re-encoded
from their pixels or samples, JBIG2 images removed, inline images found in every
content stream and rebuilt.

Links (GoTo, safe URI), outlines, page labels, the structure tree, optional content and
page text are left alone.  Speed: Python work on a pikepdf object is costly per call,
so each object is first matched as qpdf's JSON text against the names the walk acts
on; only the few that match are walked in Python (bench/NOTES-sanitize.md).  ``verify`` (in ``pdf_verify``) is the independent re-check.
"""

from __future__ import annotations

import bisect
import itertools
import re
from typing import TYPE_CHECKING

import pikepdf
from pikepdf import Array, Dictionary, Name, Stream, String

from sanitize.formats.pdf_fonts import rebuild_fonts
from sanitize.formats.pdf_images import filters, rebuild_images
from sanitize.formats.pdf_verify import alternation, apply_limits, hold_output, load, memfile, verify
from sanitize.report import Blocked, Rebuilt, Removed

if TYPE_CHECKING:
    from sanitize.formats import Context

__all__ = ["KINDS", "rebuild", "verify"]

KINDS = frozenset({"pdf"})
_Dict = Dictionary | Stream  # a stream's dictionary is judged like any other

# Actions that may stay: navigation inside the document and ordinary web/mail links.
_SAFE_NAMED = frozenset({b"/NextPage", b"/PrevPage", b"/FirstPage", b"/LastPage"})
_SAFE_SCHEMES = (b"http://", b"https://", b"mailto:")
# Action types removed wherever they sit, even in a slot no viewer reads (the list of
# CDR.md); any other type is removed when it sits in an /A or /Next slot.
_HOSTILE_ACTIONS = frozenset({
    b"/JavaScript", b"/Launch", b"/GoToR", b"/GoToE", b"/SubmitForm", b"/ImportData",
    b"/ResetForm", b"/Rendition", b"/Movie", b"/Sound", b"/Hide", b"/GoTo3DView",
    b"/RichMediaExecute",
})
_JUDGED_ANYWHERE = _HOSTILE_ACTIONS | {b"/URI", b"/Named"}
_ACTION_CODES = {b"/JavaScript": "pdf.javascript", b"/Launch": "pdf.launch", b"/URI": "pdf.uri_unsafe"}
_STRUCTURAL = frozenset({b"/Catalog", b"/Pages", b"/Page"})
_BAD_ANNOTS = frozenset({b"/FileAttachment", b"/Sound", b"/Movie", b"/Screen", b"/RichMedia", b"/3D"})
# Keys deleted from every dictionary they appear in.  Most belong to one place (the
# catalog, its /Names or /AcroForm) but a damaged file may leave that dictionary
# unattached, and a reader that repairs differently may still find it.
_DROP_KEYS = {
    "/JS": "pdf.javascript", "/AA": "pdf.additional_actions", "/OpenAction": "pdf.openaction",
    "/JavaScript": "pdf.javascript", "/EF": "pdf.embedded_file", "/AF": "pdf.embedded_file",
    "/EmbeddedFiles": "pdf.embedded_file", "/Collection": "pdf.embedded_file",
    "/XFA": "pdf.xfa", "/NeedsRendering": "pdf.xfa", "/SpiderInfo": "pdf.web_capture",
    "/RichMediaContent": "pdf.multimedia", "/RichMediaSettings": "pdf.multimedia",
    # Never keys in a valid file; left over by damage, they only alarm scanners.
    **dict.fromkeys(("/Launch", "/RichMedia", "/EmbeddedFile", "/GoToR", "/GoToE", "/SubmitForm",
                     "/ImportData", "/RichMediaExecute"), "pdf.action"),
}
# Name values byte scanners (pdfid and the like) flag; after the rules above they can
# only sit under a key no reader acts on, so the entry goes rather than raise an alarm.
_FLAGGED_VALUES = frozenset({
    b"/JS", b"/JavaScript", b"/AA", b"/OpenAction", b"/Launch", b"/EmbeddedFile", b"/XFA",
    b"/RichMedia", b"/GoToR", b"/GoToE", b"/SubmitForm", b"/ImportData", b"/RichMediaExecute",
})
# A name that starts like one of the above and goes on with a non-alphanumeric byte
# ("/OpenAction`6", "/JS#28"): no reader acts on it, but byte scanners split names
# there and see the hostile one.  Such keys and values go too.
_LOOKALIKE = re.compile(
    rb"/(?:JS|JavaScript|AA|OpenAction|Launch|EmbeddedFiles?|XFA|RichMedia\w*|GoToR|GoToE|"
    rb"SubmitForm|ImportData|EF|AF)[^A-Za-z0-9]")
# Every name the walk acts on (keys, action and annotation types, payload types), any
# name that starts with one of them and goes on with a byte that is not a letter or
# digit (the look-alikes above), any name starting "/RichMedia", and a type given by
# reference ("/S": "7 0 R"): an object whose JSON form (qpdf's, see _suspects) matches
# none of these has nothing to remove.  A string that merely reads "/JS" only costs the
# full look.  This keeps the Python walk, costly per object, to the few that need it.
_TRIGGER_NAMES = sorted(
    {k[1:].encode() for k in _DROP_KEYS}
    | {n[1:] for n in _JUDGED_ANYWHERE | _BAD_ANNOTS | _FLAGGED_VALUES}
    | {b"Action", b"EmbeddedFile", b"U3D", b"PRC", b"PS", b"Subtype2", b"URI", b"A", b"Next",
       b"Annots"},
    key=len, reverse=True)
_TRIGGER = re.compile(
    rb"/(?:" + alternation(_TRIGGER_NAMES) + rb"(?![A-Za-z0-9])|RichMedia"
    rb'|(?:S|Type|Subtype|N)"\s*:\s*"\d+ \d+ R")')
# qpdf prefixes warnings with the input's description ("stream <...> (offset 12): ").
_WARNING_PREFIX = re.compile(r"^stream <[^>]*>[^:]*:\s*")


def rebuild(data: bytes, kind: str, ctx: Context) -> Rebuilt:
    """Rebuild ``data`` without its active content; see the module docstring."""
    if kind not in KINDS:
        raise ValueError(f"pdf module asked to rebuild {kind!r}")
    cfg = ctx.cfg
    apply_limits(cfg)
    removed: list[Removed] = []
    try:
        with load(data) as pdf:
            if pdf.is_encrypted:
                removed.append(Removed("pdf.encryption", "owner password and restrictions"))
            pages = len(pdf.pages)
            if pages > cfg.max_pdf_pages:
                raise Blocked("limit_exceeded", f"{pages} pages > {cfg.max_pdf_pages}")
            if not isinstance(pdf.Root, Dictionary):
                raise Blocked("corrupt", "catalog is not a dictionary")
            # qpdf's writer fills in /Size only if the trailer has the key: a damaged
            # trailer without it would come out unreadable.
            pdf.trailer.Size = 0
            objs, texts = _json_texts(pdf)
            joined = _Joined(texts)
            suspects, everything = _find_suspects(objs, joined, _TRIGGER)
            walker = _Walker(removed, pdf.Root.objgen, everything)
            for obj in suspects:
                walker.visit(obj)
            _media(pdf, objs, joined, ctx, removed)
            # Warnings come from opening and from resolving objects during the walk;
            # get_warnings() hands them over once and clears them.
            repaired = list(pdf.get_warnings())
            out = _save(pdf, ctx)
            on_save = list(pdf.get_warnings())
    except pikepdf.PikepdfError as exc:
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


def _save(pdf: pikepdf.Pdf, ctx: Context) -> bytes:
    with memfile(ctx.handover) as f:
        # fix_metadata_version=False: do not parse the sender's XMP just to bump it.
        pdf.save(f, encryption=False, linearize=False, fix_metadata_version=False,
                 object_stream_mode=pikepdf.ObjectStreamMode.disable)
        f.truncate()  # a reused file may hold a longer earlier output past this one
        f.seek(0)
        out = f.read()
        hold_output(f, out, ctx.handover)  # verify maps this file, not a copy of the output
        return out


def _suspects(pdf: pikepdf.Pdf) -> tuple[list[pikepdf.Object], bool]:
    """The objects whose text matches _TRIGGER, in file order, and whether every
    object and every direct object inside them must be walked instead."""
    objs, texts = _json_texts(pdf)
    return _find_suspects(objs, _Joined(texts), _TRIGGER)


def _json_texts(pdf: pikepdf.Pdf) -> tuple[list[pikepdf.Object], list[bytes]]:
    """The objects whose text matches _TRIGGER, in file order, and whether every
    object and every direct object inside them must be walked instead.

    The text of an object is qpdf's JSON form of it (``to_json``: for a stream, its
    dictionary; children given by reference stay references): one call per object,
    faster than ``unparse`` (two calls for a stream).  A name cannot hide
    in it: qpdf stores names decoded ("/J#53" is "/JS") and writes each one as its
    bytes in UTF-8 with JSON escapes (a backslash) for controls, quotes and
    backslashes, or, if not UTF-8, as "n:" and the canonical PDF spelling ("/JS#80");
    either way a name's letters and digits are written as themselves and the byte
    after a trigger name is a letter or digit only if it is one in the name.  The
    texts are scanned as one, joined with NUL (JSON escapes every NUL inside it)."""
    objs = list(pdf.objects)
    # Numbers, booleans and nulls come out as Python values: nothing to look at.  (The
    # unbound method spares a bound-method object per call.)
    to_json, pdf_object = pikepdf.Object.to_json, pikepdf.Object
    return objs, [to_json(obj, True) if isinstance(obj, pdf_object) else b"" for obj in objs]


class _Joined:
    """The objects' texts scanned as one, joined with NUL (JSON escapes every NUL
    inside a text); joined once for every pattern."""

    def __init__(self, texts: list[bytes]) -> None:
        self.texts = texts
        self.joined = b"\x00".join(texts)
        self._starts: list[int] = []

    def hits(self, pattern: re.Pattern[bytes]) -> list[int]:
        """The indexes of the texts ``pattern`` matches, in order."""
        hit: set[int] = set()
        for m in pattern.finditer(self.joined):
            if not self._starts:
                self._starts = list(itertools.accumulate((len(t) + 1 for t in self.texts[:-1]),
                                                         initial=0))
            hit.add(bisect.bisect_right(self._starts, m.start()) - 1)
        return sorted(hit)


def _find_suspects(objs: list[pikepdf.Object], joined: _Joined,
                   trigger: re.Pattern[bytes]) -> tuple[list[pikepdf.Object], bool]:
    hit = joined.hits(trigger)
    if any(isinstance(objs[i], Name) for i in hit):
        # A name that is an object of its own ("5 0 obj /JavaScript") is judged in
        # every dictionary that refers to it, under any key: rare enough to walk all.
        return objs, True
    return [objs[i] for i in hit], False


# Objects that hold or are media the rebuild writes anew: image streams (by type, by
# size keys, by an image filter; a type given by reference is resolved later) and
# dictionaries naming a font program.
_MEDIA = re.compile(rb'"/(?:Subtype"\s*:\s*"(?:/Image|\d+ \d+ R)"|Width"|FontFile[23]?"'
                    rb'|(?:JBIG2|JPX|CCITTFax|DCT)Decode")')
_PLAIN_FLATE = re.compile(rb'\{\s*"/Filter": "/FlateDecode",\s*"/Length": \d+\s*\}\Z')
_FONT_FILE = re.compile(rb'"/FontFile[23]?"')
_IMAGE_FILTERS = frozenset({b"/JBIG2Decode", b"/JPXDecode", b"/CCITTFaxDecode", b"/DCTDecode"})


def _media(pdf: pikepdf.Pdf, objs: list[pikepdf.Object], joined: _Joined, ctx: Context,
           removed: list[Removed]) -> None:
    """Rebuild every font program and image, and the inline images in all other streams
    (``pdf_fonts``, ``pdf_images``)."""
    texts = joined.texts
    hit = joined.hits(_MEDIA)
    fonts = rebuild_fonts((objs[i] for i in hit if _FONT_FILE.search(texts[i])), removed)
    images: list[Stream] = []
    for i in hit:
        obj = objs[i]
        if isinstance(obj, Stream) and obj.objgen not in fonts and _is_image(obj):
            images.append(obj)
    seen = fonts | {s.objgen for s in images}
    # Plain Flate content (most of it) is told by its text: no pikepdf call to ask.
    others = [(o, _PLAIN_FLATE.match(texts[i]) is not None) for i, o in enumerate(objs)
              if isinstance(o, Stream) and o.objgen not in seen]
    rebuild_images(pdf, ctx, images, others, removed)


def _is_image(s: Stream) -> bool:
    keys = s.keys()
    return (_get_nm(s, keys, "/Subtype") == b"/Image" or ("/Width" in keys and "/Height" in keys)
            or not _IMAGE_FILTERS.isdisjoint(filters(s)))


def _warning_text(warning: str) -> str:
    return _WARNING_PREFIX.sub("", warning)[:200]


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


def _nm(obj: object) -> bytes:
    """A name's canonical spelling (b"/JavaScript"), or b"" for anything else.

    Compare names through this: a name may be an indirect object (unhashable, so
    ``in some_set`` raises) and need not be UTF-8 (so ``str()`` raises)."""
    return obj.unparse(resolved=True) if isinstance(obj, Name) else b""


def _get_nm(d: _Dict, keys: set[str], key: str) -> bytes:
    """_nm of ``d[key]``, b"" if there is no such key."""
    return _nm(d[key]) if key in keys else b""


def _label(name: object) -> str:
    """A name for a report, without the slash."""
    return _nm(name)[1:].decode("latin-1") or "untyped"


def _judge(action: object) -> tuple[str, str] | None:
    """None if ``action`` may stay, else (code, what it is)."""
    if not isinstance(action, Dictionary):
        return "pdf.action", "malformed action"
    keys = action.keys()
    kind = _get_nm(action, keys, "/S")
    if kind == b"/GoTo":
        return None
    if kind == b"/URI":
        uri = action["/URI"] if "/URI" in keys else None
        return None if _uri_is_safe(uri) else ("pdf.uri_unsafe", f"URI action ({_uri_scheme(uri)})")
    if kind == b"/Named":
        n = _get_nm(action, keys, "/N")
        if n in _SAFE_NAMED:
            return None
        return "pdf.action", f"Named action {n[1:].decode('latin-1') or 'untyped'}"
    code = _ACTION_CODES.get(kind, "pdf.action")
    return code, f"{kind[1:].decode('latin-1') or 'untyped'} action"


class _Walker:
    """Visits every indirect object and the direct objects inside it, once each."""

    def __init__(self, removed: list[Removed], root: tuple[int, int], everything: bool) -> None:
        self.removed = removed
        self.root = root
        self.everything = everything  # walk every direct object (see _suspects)

    def _suspect(self, direct: pikepdf.Object) -> bool:
        """Whether a direct object inside a suspect may hold something to remove, by
        the test _suspects applies to whole objects: a page's /Resources or
        /MediaBox need no walk because its /AA does."""
        return self.everything or _TRIGGER.search(direct.to_json(True)) is not None

    def visit(self, obj: pikepdf.Object) -> None:
        """Walk ``obj`` (one of _suspects) and every direct object inside it."""
        if isinstance(obj, (Dictionary, Stream)):
            self._dict(obj, "Catalog" if obj.objgen == self.root else _ref(obj))
        elif isinstance(obj, Array):
            self._array(obj, _ref(obj))

    def _report(self, code: str, what: str, where: str) -> None:
        self.removed.append(Removed(code, f"{what} ({where})"))

    def _array(self, arr: Array, where: str) -> None:
        # Indirect children are visited in their own right, if they are suspects.
        for value in arr:
            if isinstance(value, Dictionary) and not value.is_indirect:
                if self._suspect(value):
                    self._dict(value, where)
            elif isinstance(value, Array) and not value.is_indirect:
                if self._suspect(value):
                    self._array(value, where)

    def _dict(self, d: _Dict, where: str) -> None:
        keys = d.keys()
        if self._whole(d, keys, where):
            return
        if not keys.isdisjoint(_DROP_KEYS):
            for key, code in _DROP_KEYS.items():
                if key in keys:
                    del d[key]
                    self._report(code, key, where)
        # ``keys`` stays right below: none of these is a key deleted above.  A missing
        # key is tested with ``in`` first: d.get() of a missing key is slow in pikepdf.
        if "/URI" in keys and _get_nm(d, keys, "/S") != b"/URI" and not _uri_is_safe(uri := d["/URI"]):
            del d["/URI"]  # the catalog's base URI, or one left behind by damage
            if isinstance(uri, Dictionary):
                self._report("pdf.uri_base", "/URI base", where)
            else:
                self._report("pdf.uri_unsafe", f"/URI ({_uri_scheme(uri)})", where)
        if "/A" in keys:
            self._action_slot(d, _get_nm(d, keys, "/Subtype") == b"/Widget", where)
        if "/Next" in keys and "/S" in keys:
            self._next_chain(d, where)
        if "/Annots" in keys:
            self._annots(d, where)
        for key, value in d.items():  # in key order (keys() is a set)
            if value is None:  # a null value: no entry to qpdf (keys() leaves it out)
                continue
            spelt = _nm(value)
            if spelt in _FLAGGED_VALUES or _LOOKALIKE.match(spelt) or _LOOKALIKE.match(_key_bytes(key)):
                del d[key]
                self._report("pdf.action", f"{_label(value)} under {_key_bytes(key).decode('latin-1')}", where)
            elif isinstance(value, Dictionary) and not value.is_indirect:
                if self._suspect(value):
                    self._dict(value, where)
            elif isinstance(value, Array) and not value.is_indirect:
                if self._suspect(value):
                    self._array(value, where)

    def _whole(self, d: _Dict, keys: set[str], where: str) -> bool:
        """Empty ``d`` if it is itself a hostile action, annotation or payload."""
        s = _get_nm(d, keys, "/S")
        typ = _get_nm(d, keys, "/Type")
        sub = _get_nm(d, keys, "/Subtype")
        if s in _JUDGED_ANYWHERE or typ == b"/Action":
            verdict = _judge(d)
            if verdict is None:
                return False
            self._report(*verdict, where)  # an action that may not stay, wherever it sits
        elif sub in _BAD_ANNOTS and ("/Rect" in keys or typ == b"/Annot"):
            self._report("pdf.annotation", f"{sub[1:].decode('latin-1')} annotation", where)
        elif typ == b"/EmbeddedFile":
            self._report("pdf.embedded_file", "embedded file", where)
        elif sub in (b"/U3D", b"/PRC"):
            self._report("pdf.3d", f"{sub[1:].decode('latin-1')} 3D data", where)
        elif sub == b"/PS" or _get_nm(d, keys, "/Subtype2") == b"/PS":
            self._report("pdf.postscript", "PostScript XObject", where)
            _empty(d)
            if isinstance(d, Stream):  # content may still paint it with Do: leave an empty form
                d.Type, d.Subtype, d.BBox = Name.XObject, Name.Form, Array([0, 0, 0, 0])
            return True
        else:
            return False
        _empty(d)
        return True

    def _action_slot(self, d: _Dict, widget: bool, where: str) -> None:
        action = d["/A"]
        if widget:  # form widgets keep their look, lose their actions
            del d["/A"]
            self._report("pdf.action", "widget action", where)
            return
        verdict = _judge(action)
        if verdict is not None:
            del d["/A"]
            self._report(*verdict, _ref(action) if _indirect(action) else f"{where} /A")

    def _next_chain(self, d: _Dict, where: str) -> None:
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

    def _annots(self, d: _Dict, where: str) -> None:
        annots = d["/Annots"]
        if not isinstance(annots, Array):
            return
        keep = []
        for annot in annots:
            sub = annot.get("/Subtype") if isinstance(annot, Dictionary) else None
            if _nm(sub) in _BAD_ANNOTS:
                self._report("pdf.annotation", f"{_label(sub)} annotation",
                             _ref(annot) if annot.is_indirect else f"{where} /Annots")
            else:
                keep.append(annot)
        if len(keep) != len(annots):
            d["/Annots"] = Array(keep)


def _key_bytes(key: str) -> bytes:
    """A dictionary key as bytes (pikepdf hands keys over with surrogate escapes)."""
    return key.encode("utf-8", "surrogateescape")


def _empty(d: _Dict) -> None:
    """Empty a dictionary (or stream) in place, whoever points at it."""
    keys = d.keys()
    # One dictionary posing as both a page (or the catalog) and an action is built to
    # make parsers disagree; emptying it would also drop the document's pages.
    if "/Pages" in keys or "/Kids" in keys or _nm(d.get("/Type")) in _STRUCTURAL:
        raise Blocked("corrupt", "a page or the catalog is also an action or annotation")
    for key in list(keys):
        if key != "/Length":  # qpdf owns a stream's /Length; write() resets it
            del d[key]
    if isinstance(d, Stream):
        d.write(b"")


def _indirect(obj: object) -> bool:
    return isinstance(obj, pikepdf.Object) and obj.is_indirect
