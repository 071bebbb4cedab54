"""Verify an OOXML rebuild: a separate, simpler scan of the output.

It shares only the rule tables with the rebuild, none of its walking code: it opens
the output with plain ``zipfile``, reads every content type and relationship, parses
every XML part fully and looks for anything the rebuild should have removed.  A hit
means a bug in the rebuild, and the file is blocked (``VerifyFailed``).
"""

from __future__ import annotations

import io
import re
import zipfile

from lxml import etree

from sanitize.config import SanitizeConfig
from sanitize.formats import ooxml_rules as rules
from sanitize.report import VerifyFailed

_FIELD_WORD = re.compile(r'\s*"?([A-Za-z]+)')
_CFB = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _parse(data: bytes, name: str) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        tree = etree.parse(io.BytesIO(data), parser)
    except etree.XMLSyntaxError as exc:
        raise VerifyFailed(f"{name}: not well-formed XML: {exc}") from exc
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise VerifyFailed(f"{name}: DTD")
    return tree.getroot()


# Content-type keyword -> names whose presence makes verify parse the part.  The
# parts Office takes these constructs from; every other XML part is only checked for a
# DTD.  Written apart from the rebuild's table on purpose.
_SCAN: tuple[tuple[tuple[str, ...], tuple[bytes, ...]], ...] = (
    (("document.main", "template.main", "macroenabled.main", "macroenabledtemplate.main",
      "wordprocessingml.header", "wordprocessingml.footer", "footnotes", "endnotes",
      "wordprocessingml.comments", "glossary"),
     (b"instrText", b"fldSimple", b"bject", b"ontrol", b"ltChunk", b"subDoc", b"Macro")),
    (("wordprocessingml.settings",), (b"ttachedTemplate", b"ailMerge")),
    (("spreadsheetml.sheet.main", "spreadsheetml.template.main"), (b"<",)),
    (("worksheet", "dialogsheet"), (b"|", b"[", b"oleObj", b"ontrol", b"acro")),
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


# Character references spelling "|" or "[" (a formula can hide DDE behind them);
# rarer than "&#" alone, which openpyxl writes for every non-ASCII character.
_CHAR_REF = re.compile(rb"&#(?:[xX]0*(?:7[cC]|5[bB])|0*(?:124|91));")
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


def _literals(content_type: str) -> tuple[bytes, ...] | None:
    ct = content_type.lower()
    for keys, literals in _SCAN:
        if any(k in ct for k in keys):
            return literals
    return None


def verify_package(data: bytes, cfg: SanitizeConfig) -> None:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
        if len(infos) > cfg.max_archive_entries:
            raise VerifyFailed("too many parts")
        if not infos or infos[0].filename != "[Content_Types].xml":
            raise VerifyFailed("[Content_Types].xml is not the first part")
        types = _parse(zf.read(infos[0]), "[Content_Types].xml")
        defaults, overrides = _check_content_types(types)
        for info in infos[1:]:
            name = info.filename
            lower = "/" + name.lower()
            with zf.open(info) as fh:
                head = fh.read(8)
            if head == _CFB or "/embeddings/" in lower or "vbaproject" in lower:
                raise VerifyFailed(f"{name}: binary object part still present")
            ct = overrides.get(name.lower()) or defaults.get(name.rsplit(".", 1)[-1].lower(), "")
            if name.endswith(".rels"):
                _check_rels(name, _parse(zf.read(info), name))
            elif ct.endswith("xml") or "vmldrawing" in ct:
                body = zf.read(info)
                literals = _literals(ct)
                if _DTD.match(body) or not _utf8(body) or (literals is not None and (
                        any(lit in body for lit in literals) or _CHAR_REF.search(body))):
                    _check_xml(name, _parse(body, name))
    except (zipfile.BadZipFile, ValueError, OSError, RuntimeError, NotImplementedError,
            EOFError) as exc:
        raise VerifyFailed(f"output is not a readable zip: {exc}") from exc


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
    bare = rules.STRING_LITERAL.sub("", text)
    return bool(rules.DDE_IN_FORMULA.search(bare) or rules.EXTERNAL_BOOK.search(bare))


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
    fields: list[str] = []  # instruction text of each complex field, by its begin
    last_was_begin = False
    for el in root.iter(*_FIELD_TAGS):
        q = etree.QName(el)
        ns, local = q.namespace or "", q.localname
        if local == "fldChar":
            begin = el.get(f"{{{ns}}}fldCharType") == "begin"
            if begin and last_was_begin:
                raise VerifyFailed(f"{name}: field whose name is a nested field")
            if begin:
                fields.append("")
            last_was_begin = begin
        elif local == "fldSimple":
            fields.append(el.get(f"{{{ns}}}instr") or "")
        elif fields:
            fields[-1] += el.text or ""
            last_was_begin = last_was_begin and not (el.text or "").strip()
    for instr in fields:
        m = _FIELD_WORD.match(instr)
        if m and m.group(1).upper() in rules.DANGEROUS_FIELDS:
            raise VerifyFailed(f"{name}: field {instr.strip()[:60]}")
