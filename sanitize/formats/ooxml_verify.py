"""Verify an OOXML rebuild: a separate, simpler scan of the output.

It shares only the rule tables with the rebuild, none of its walking code: it opens
the output with plain ``zipfile`` (central directory), inflates every member itself
(size and CRC checked against the directory), reads every content type and
relationship, parses every XML part that could hold a removed construct and looks
for anything the rebuild should have removed.  A hit means a bug in the rebuild, and
the file is blocked (``VerifyFailed``).

Pictures are named by their own bytes here (a signature check of its own, not the
rebuild's sniffing): every part of an ``image/*`` type or whose bytes start like a
picture must be a JPEG, PNG, GIF, WebP or TIFF of the type its content type says,
or an SVG, and must pass the image engine's verify (its byte walkers accept no
EXIF/APP segment, text chunk, comment or trailing byte); a metafile or a BMP left in
the package is a failure.

Members are inflated here rather than through ``ZipFile.open``: its per-member
objects cost more than inflating a small part, and verify reads every member.  A
part whose deflate stream is byte for byte one the rebuild inflated in this job (an
unchanged part, copied as it was) is not inflated twice: the job's ``Handover`` gives
the bytes that very stream inflates to, and they are still held to the size and CRC
of this output's directory.
"""

from __future__ import annotations

import io
import re
import struct
import threading
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

from sanitize.config import SanitizeConfig
from sanitize.formats import Context, images, text
from sanitize.formats import ooxml_rules as rules
from sanitize.handover import Handover
from sanitize.report import Blocked, VerifyFailed

_CFB = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


# Reused for its settings: each part is parsed into a tree of its own, and what a
# parser keeps between parses (its error log, interned names) changes no later parse.
_local = threading.local()


def _parser() -> etree.XMLParser:
    """One parser per thread (building one per part costs more than a small parse)."""
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = etree.XMLParser(resolve_entities=False, no_network=True,
                                                 load_dtd=False)
    return parser


def _parse(data: bytes, name: str) -> etree._Element:
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise VerifyFailed(f"{name}: not well-formed XML: {exc}") from exc
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise VerifyFailed(f"{name}: DTD")
    return root


_LOCAL_HEADER = struct.Struct("<4s2xH18xHH")  # signature, flags, name length, extra length
_UNSUPPORTED_FLAGS = 0x0001 | 0x0020 | 0x0040 | 0x2000  # encrypted, patched, strong, CD


def _member(data: bytes, info: zipfile.ZipInfo, handover: Handover | None = None) -> bytes:
    """Inflate one member where its local header says its data starts; the result
    must have the size and CRC the central directory gives."""
    name = info.filename
    sig, flags, name_len, extra_len = _LOCAL_HEADER.unpack_from(data, info.header_offset)
    if sig != b"PK\x03\x04" or (flags | info.flag_bits) & _UNSUPPORTED_FLAGS:
        raise VerifyFailed(f"{name}: bad local header")
    start = info.header_offset + _LOCAL_HEADER.size
    stored = data[start:start + name_len]
    stored_name = stored.decode("ascii" if stored.isascii() else
                                "utf-8" if info.flag_bits & 0x800 else "cp437")
    if stored_name != info.orig_filename:
        raise VerifyFailed(f"{name}: local name differs from the directory")
    start += name_len + extra_len
    raw = data[start:start + info.compress_size]
    if len(raw) != info.compress_size:
        raise VerifyFailed(f"{name}: data truncated")
    if info.compress_type == zipfile.ZIP_STORED:
        body = raw
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        # A stream the rebuild inflated whole this job, ending where it should: its
        # bytes, else inflate it here.
        known = handover.inflated(info.CRC, raw) if handover is not None else None
        if known is not None:
            body = known
        else:
            d = zlib.decompressobj(-zlib.MAX_WBITS)
            body = d.decompress(raw, info.file_size + 1)
            if not d.eof or d.unconsumed_tail or d.unused_data:
                raise VerifyFailed(f"{name}: deflate stream does not end with the member")
    else:
        raise VerifyFailed(f"{name}: compression method {info.compress_type}")
    if len(body) != info.file_size or zlib.crc32(body) != info.CRC:
        raise VerifyFailed(f"{name}: size or CRC differs from the directory")
    return body


# Content-type keyword -> names whose presence makes verify parse the part.  The
# parts Office takes these constructs from; every other XML part is only checked for a
# DTD.  Written apart from the rebuild's table on purpose.
_SCAN: tuple[tuple[tuple[str, ...], tuple[bytes | re.Pattern[bytes], ...]], ...] = (
    (("document.main", "template.main", "macroenabled.main", "macroenabledtemplate.main",
      "wordprocessingml.header", "wordprocessingml.footer", "footnotes", "endnotes",
      "wordprocessingml.comments", "glossary"),
     (b"instrText", b"fldSimple", b"bject", b"ontrol", b"ltChunk", b"subDoc", b"Macro")),
    (("wordprocessingml.settings",), (b"ttachedTemplate", b"ailMerge")),
    (("spreadsheetml.sheet.main", "spreadsheetml.template.main"), (b"<",)),
    (("worksheet", "dialogsheet"), (b"|", b"[", b"oleObj", b"ontrol", b"acro",
                                     rules.FUNCTION_CALL_BYTES)),
    (("drawing+xml", "controlproperties", "vmldrawing", "presentationml.slide",
      "presentationml.notes", "presentationml.handout"),
     (b"bject", b"ontrol", b"acro", b"action", b"oleObj")),
)
_DTD = re.compile(rb"(?:\xef\xbb\xbf)?(?>\s|<\?.*?\?>|<!--.*?-->)*+<!DOCTYPE", re.S)
_FORBIDDEN_TAGS = [f"{{{ns}}}{local}" for (nss, local) in rules.FORBIDDEN_ELEMENTS for ns in nss]
_FIELD_TAGS = [f"{{{ns}}}{local}" for ns in rules.NS_W
               for local in ("fldChar", "instrText", "delInstrText", "fldSimple")]
_X_TAGS = [f"{{{ns}}}{local}" for ns in rules.NS_X for local in ("f", "definedName")]
_ACTIVE = etree.XPath("//*[@macro!='' or @fmlaMacro!='' or @action]")


_DECL = re.compile(rb"\s*<\?xml[^>]*>")
_UTF8_DECL = re.compile(rb"encoding\s*=\s*[\"']utf-?8[\"']", re.I)


def _utf8(body: bytes) -> bool:
    """Byte-level name search only means something on UTF-8 text."""
    body = body[:1024]
    body = body[3:] if body.startswith(b"\xef\xbb\xbf") else body
    if not body.lstrip().startswith(b"<"):
        return False
    decl = _DECL.match(body)
    return decl is None or b"encoding" not in decl.group() or bool(_UTF8_DECL.search(decl.group()))


# A literal as searched: (its rarest byte, the search for it).  Without its rarest
# byte (one memchr) a literal cannot occur; re's literal search beats ``in``.
_Literal = tuple[bytes, Callable[[bytes], "re.Match[bytes] | None"]]


def _compiled(lit: bytes | re.Pattern[bytes]) -> _Literal:
    if isinstance(lit, re.Pattern):  # a pattern starting with a literal byte, maybe escaped
        first = lit.pattern[1:2] if lit.pattern[:1] == b"\\" else lit.pattern[:1]
        return first, lit.search

    def rank(byte: int) -> int:
        at = rules.BYTE_RARITY.find(bytes([byte]))
        return at if at >= 0 else len(rules.BYTE_RARITY)

    return bytes([min(lit, key=rank)]), re.compile(re.escape(lit)).search


_SCAN_COMPILED = tuple((keys, tuple(_compiled(lit) for lit in literals))
                       for keys, literals in _SCAN)


def _mentions(body: bytes, literals: tuple[_Literal, ...]) -> bool:
    for rare, search in literals:
        if rare in body and search(body) is not None:
            return True
    # A character reference spelling an ASCII character ("|", "[", "(", letters of a
    # name) hides it from the byte search; rarer than "&#" alone, which openpyxl
    # writes for every non-ASCII character.
    return b"&" in body and rules.ASCII_CHAR_REF.search(body) is not None


def _literals(content_type: str) -> tuple[_Literal, ...] | None:
    try:
        return _literals_cache[content_type]
    except KeyError:
        pass
    ct = content_type.lower()
    found = next((lits for keys, lits in _SCAN_COMPILED if any(k in ct for k in keys)), None)
    if len(_literals_cache) < 1024:  # content types are few; a hostile file may vary them
        _literals_cache[content_type] = found
    return found


# A memo of a pure function of the content type, not state about a file: the answer
# is the same whichever package named the type, and the size is capped above.
_literals_cache: dict[str, tuple[_Literal, ...] | None] = {}


def verify_package(data: bytes, cfg: SanitizeConfig, handover: Handover | None = None) -> None:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
        if len(infos) > cfg.max_archive_entries:
            raise VerifyFailed("too many parts")
        if not infos or infos[0].filename != "[Content_Types].xml":
            raise VerifyFailed("[Content_Types].xml is not the first part")
        types = _parse(_member(data, infos[0], handover), "[Content_Types].xml")
        defaults, overrides = _check_content_types(types)
        rels_passed: set[bytes] = set()  # .rels bodies already checked (many are alike)
        for info in infos[1:]:
            name = info.filename
            lower = "/" + name.lower()
            body = _member(data, info, handover)
            if body.startswith(_CFB) or "/embeddings/" in lower or "vbaproject" in lower:
                raise VerifyFailed(f"{name}: binary object part still present")
            ct = overrides.get(name.lower()) or defaults.get(name.rsplit(".", 1)[-1].lower(), "")
            if ct.startswith("image/") or _picture_signature(body):
                _check_picture(name, body, ct, cfg)
            elif name.endswith(".rels"):
                if body not in rels_passed:
                    _check_rels(name, _parse(body, name))
                    rels_passed.add(body)
            elif ct.endswith("xml") or "vmldrawing" in ct:
                literals = _literals(ct)
                if _DTD.match(body) or not _utf8(body) or (
                        literals is not None and _mentions(body, literals)):
                    _check_xml(name, _parse(body, name))
    except (zipfile.BadZipFile, ValueError, OSError, RuntimeError, NotImplementedError,
            EOFError, struct.error, zlib.error, UnicodeError) as exc:
        raise VerifyFailed(f"output is not a readable zip: {exc}") from exc


# Content type -> the signature its part must start with, and the kind the image
# engine verifies it as.  What the rebuild writes and nothing else.
_PICTURE_TYPES: dict[str, tuple[tuple[bytes, ...], str]] = {
    "image/jpeg": ((b"\xff\xd8\xff",), "jpeg"),
    "image/png": ((b"\x89PNG\r\n\x1a\n",), "png"),
    "image/gif": ((b"GIF87a", b"GIF89a"), "gif"),
    "image/webp": ((b"RIFF",), "webp"),
    "image/tiff": ((b"II*\0", b"MM\0*"), "tiff"),
}
# Starts of the picture formats Office holds, metafiles and BMP included: a part that
# starts like one is checked as a picture whatever its declared type.
_PICTURE_STARTS = (b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"II*\0", b"MM\0*", b"BM",
                   b"\xd7\xcd\xc6\x9a", b"\x01\0\x09\0", b"\x02\0\x09\0")


def _picture_signature(body: bytes) -> bool:
    return body.startswith(_PICTURE_STARTS) or body[8:12] == b"WEBP" or body[40:44] == b" EMF"


def _check_picture(name: str, body: bytes, ct: str, cfg: SanitizeConfig) -> None:
    ctx = Context(cfg)
    try:
        if ct == "image/svg+xml" and not _picture_signature(body):
            text.verify(body, "svg", ctx)
            return
        expected = _PICTURE_TYPES.get(ct)
        if expected is None or not body.startswith(expected[0]):
            raise VerifyFailed(f"picture of type {ct!r} that the rebuild does not write")
        images.verify(body, expected[1], ctx)
    except Blocked as exc:
        raise VerifyFailed(f"{name}: {exc.detail}") from exc


def _check_content_types(root: etree._Element) -> tuple[dict[str, str], dict[str, str]]:
    defaults: dict[str, str] = {}
    overrides: dict[str, str] = {}
    for el in root:
        if not isinstance(el.tag, str):
            continue
        ct = (el.get("ContentType") or "").lower()
        if ct in rules.FORBIDDEN_CONTENT_TYPES or "macroenabled" in ct:
            raise VerifyFailed(f"content type {ct} still declared")
        if el.get("Extension") is not None:
            defaults[el.get("Extension", "").lower()] = ct
        elif el.get("PartName") is not None:
            overrides[el.get("PartName", "").lstrip("/").lower()] = ct
    return defaults, overrides


def _check_rels(name: str, root: etree._Element) -> None:
    for rel in root:
        if not isinstance(rel.tag, str):
            continue
        rtype = (rel.get("Type") or "").lower()
        last = rtype.rstrip("/").rsplit("/", 1)[-1]
        target = rel.get("Target") or ""
        if last in rules.FORBIDDEN_REL_TYPES or rules.SIGNATURE_REL_MARK in rtype:
            raise VerifyFailed(f"{name}: relationship type {last}")
        external = rel.get("TargetMode", "Internal") != "Internal" or \
            rules.HAS_SCHEME.match(target)
        if external and not (last == "hyperlink" and rules.SAFE_EXTERNAL_SCHEME.match(target)
                             and not rules.follina_target(target)):
            raise VerifyFailed(f"{name}: external relationship {last} -> {target[:80]}")


def _formula_bad(text: str) -> bool:
    return rules.acting_formula(text) is not None


def _check_xml(name: str, root: etree._Element) -> None:
    for el in root.iter(*_FORBIDDEN_TAGS):
        raise VerifyFailed(f"{name}: <{etree.QName(el).localname}> still present")
    for el in _ACTIVE(root):
        if el.get("macro") or el.get("fmlaMacro"):
            raise VerifyFailed(f"{name}: macro attribute still present")
        if rules.PPACTION.match(el.get("action") or ""):
            raise VerifyFailed(f"{name}: action {el.get('action')}")
    for el in root.iter(*_X_TAGS):
        local = etree.QName(el).localname
        if local == "f" and _formula_bad(el.text or ""):
            raise VerifyFailed(f"{name}: formula {(el.text or '')[:60]}")
        if local == "definedName" and (rules.AUTO_NAME.match(el.get("name") or "")
                                       or _formula_bad(el.text or "")):
            raise VerifyFailed(f"{name}: defined name {el.get('name')}")
    # Complex fields on a stack (begin pushes, end pops; instruction text goes to the
    # innermost open field), fldSimple alone; every instruction is judged at the end.
    done: list[_OpenField] = []
    stack: list[_OpenField] = []
    for el in root.iter(*_FIELD_TAGS):
        q = etree.QName(el)
        ns, local = q.namespace or "", q.localname
        if local == "fldSimple":
            done.append(_OpenField(el.get(f"{{{ns}}}instr") or ""))
        elif local == "fldChar":
            kind = el.get(f"{{{ns}}}fldCharType")
            if kind == "begin":
                if stack and not stack[-1].separated:
                    stack[-1].nested = True
                    stack[-1].computed |= bool(rules.OPEN_FIELD_NAME.fullmatch(stack[-1].text))
                stack.append(_OpenField())
            elif kind == "separate" and stack:
                stack[-1].separated = True
            elif kind == "end" and stack:
                done.append(stack.pop())
        elif stack and not stack[-1].separated:
            stack[-1].text += el.text or ""
    for f in done + stack:
        if rules.acting_field(f.text, f.computed, f.nested):
            raise VerifyFailed(f"{name}: field {f.text.strip()[:60]}")


@dataclass(slots=True)
class _OpenField:
    text: str = ""
    computed: bool = False  # a nested field began inside the first word
    nested: bool = False
    separated: bool = False
