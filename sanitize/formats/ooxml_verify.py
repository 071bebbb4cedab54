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


def verify_package(data: bytes, cfg: SanitizeConfig) -> None:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        names = zf.namelist()
        if len(names) > cfg.max_archive_entries:
            raise VerifyFailed("too many parts")
        if not names or names[0] != "[Content_Types].xml":
            raise VerifyFailed("[Content_Types].xml is not the first part")
        parts = {n: zf.read(n) for n in names}
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise VerifyFailed(f"output is not a readable zip: {exc}") from exc
    for name, body in parts.items():
        lower = "/" + name.lower()
        if body.startswith(_CFB) or "/embeddings/" in lower or "vbaproject" in lower:
            raise VerifyFailed(f"{name}: binary object part still present")
    _check_content_types(_parse(parts["[Content_Types].xml"], "[Content_Types].xml"))
    for name, body in parts.items():
        if name.endswith(".rels"):
            _check_rels(name, _parse(body, name))
        elif name.lower().endswith((".xml", ".vml")):
            _check_xml(name, _parse(body, name))


def _check_content_types(root: etree._Element) -> None:
    for el in root:
        ct = (el.get("ContentType") or "").lower() if isinstance(el.tag, str) else ""
        if ct in rules.FORBIDDEN_CONTENT_TYPES or "macroenabled" in ct:
            raise VerifyFailed(f"content type {ct} still declared")


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
    return bool(rules.DDE_IN_FORMULA.search(bare) or rules.EXTERNAL_BOOK.search(bare)
                or rules.ACTIVE_FUNCTION.search(bare))


def _check_xml(name: str, root: etree._Element) -> None:
    fields: list[str] = []  # instruction text of each complex field, by its begin
    last_was_begin = False
    for el in root.iter(etree.Element):
        q = etree.QName(el)
        ns, local = q.namespace or "", q.localname
        for (nss, forbidden), _code in rules.FORBIDDEN_ELEMENTS.items():
            if local == forbidden and ns in nss:
                raise VerifyFailed(f"{name}: <{local}> still present")
        for attr in rules.MACRO_ATTRIBUTES:
            if el.get(attr):
                raise VerifyFailed(f"{name}: @{attr} still present")
        action = el.get("action")
        if action and rules.PPACTION.match(action):
            raise VerifyFailed(f"{name}: action {action}")
        if ns in rules.NS_W:
            if local == "fldChar" and el.get(f"{{{ns}}}fldCharType") == "begin":
                if last_was_begin:
                    raise VerifyFailed(f"{name}: field whose name is a nested field")
                fields.append("")
                last_was_begin = True
            elif local == "fldChar":
                last_was_begin = False
            elif local in ("instrText", "delInstrText") and fields:
                fields[-1] += el.text or ""
                last_was_begin = last_was_begin and not (el.text or "").strip()
            elif local == "fldSimple":
                fields.append(el.get(f"{{{ns}}}instr") or "")
        elif ns in rules.NS_X:
            if local == "f" and _formula_bad(el.text or ""):
                raise VerifyFailed(f"{name}: formula {(el.text or '')[:60]}")
            if local == "definedName" and (rules.AUTO_NAME.match(el.get("name") or "")
                                           or _formula_bad(el.text or "")):
                raise VerifyFailed(f"{name}: defined name {el.get('name')}")
    for instr in fields:
        m = _FIELD_WORD.match(instr)
        if m and m.group(1).upper() in rules.DANGEROUS_FIELDS:
            raise VerifyFailed(f"{name}: field {instr.strip()[:60]}")
