"""OOXML disarm (docx/xlsx/pptx, their macro-enabled and template forms).

The package is rebuilt from the parts judged safe (CDR.md "OOXML"):

1. the ZIP is read with ``safezip`` (bombs, overlaps, unsafe names, encryption);
2. parts are deleted by content type (VBA, ActiveX, OLE, macro sheets, external
   links, connections, signatures, …), by the type of the relationship pointing at
   them, by their bytes (any compound file: OLE/VBA/ActiveX binaries) and by place
   (``embeddings/``: embedded packages are **dropped**, not disarmed recursively: a
   chart keeps its cached values, an embedded workbook icon disappears);
3. relationships are deleted by type, when their target was deleted, and when they
   are external (only http/https/mailto hyperlinks stay; ``mhtml:`` and ``…!``
   targets never);
4. only parts reachable from the package relationships are written (smuggled,
   orphaned parts and the customUI of a removed ribbon go);
5. XML parts are rewritten by ``ooxml_xml`` (fields, objects, macro names, DDE);
6. ``[Content_Types].xml`` loses overrides of removed parts and forbidden defaults,
   macro-enabled main types become plain (docm -> docx), and is written first.

Encrypted packages (kind ``ooxml_encrypted``) are blocked unless Office's default
password (VelvetSweatshop) opens them and ``cfg.try_default_password`` allows it.
"""

from __future__ import annotations

import io
import posixpath
import re
from dataclasses import dataclass
from urllib.parse import unquote

from lxml import etree

from sanitize import kinds, safezip
from sanitize.formats import Context
from sanitize.formats import ooxml_rules as rules
from sanitize.formats.ooxml_xml import Findings, clean_part, is_xml_type, parse, serialize
from sanitize.report import Blocked, Rebuilt

KINDS = frozenset(kinds.OOXML | {"ooxml_encrypted"})

CONTENT_TYPES = "[Content_Types].xml"
_CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_RELS = re.compile(r"^(.*?)_rels/([^/]*)\.rels$", re.IGNORECASE)

# Main part content type -> kind, to name what an encrypted package held.
_MAIN_KIND = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml": "docx",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml": "dotx",
    "application/vnd.ms-word.document.macroenabled.main+xml": "docm",
    "application/vnd.ms-word.template.macroenabledtemplate.main+xml": "dotm",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml": "xlsx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml": "xltx",
    "application/vnd.ms-excel.sheet.macroenabled.main+xml": "xlsm",
    "application/vnd.ms-excel.template.macroenabled.main+xml": "xltm",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml": "pptx",
    "application/vnd.openxmlformats-officedocument.presentationml.slideshow.main+xml": "ppsx",
    "application/vnd.openxmlformats-officedocument.presentationml.template.main+xml": "potx",
    "application/vnd.ms-powerpoint.presentation.macroenabled.main+xml": "pptm",
    "application/vnd.ms-powerpoint.slideshow.macroenabled.main+xml": "ppsm",
    "application/vnd.ms-powerpoint.template.macroenabled.main+xml": "potm",
}


def rels_source(rels_part: str) -> str | None:
    """``word/_rels/document.xml.rels`` -> ``word/document.xml``; root rels -> ``""``."""
    m = _RELS.match(rels_part)
    return None if m is None else m.group(1) + m.group(2)


def rels_part_of(source: str) -> str:
    d, b = posixpath.split(source)
    return posixpath.join(d, "_rels", b + ".rels")


def resolve_target(source: str, target: str) -> str:
    """Part name (no leading slash) an internal target names, relative to ``source``."""
    t = unquote(target.split("#", 1)[0]).strip()
    path = t[1:] if t.startswith("/") else posixpath.join(posixpath.dirname(source), t)
    return posixpath.normpath(path)


def rel_type_key(rel_type: str) -> str:
    return rel_type.rstrip("/").rsplit("/", 1)[-1].lower()


def is_external(rel: etree._Element) -> bool:
    mode = rel.get("TargetMode")
    return (mode is not None and mode != "Internal") or bool(
        rules.HAS_SCHEME.match(rel.get("Target") or ""))


@dataclass(frozen=True, slots=True)
class _ContentTypes:
    tree: etree._ElementTree
    defaults: dict[str, etree._Element]  # extension (lower) -> <Default>
    overrides: dict[str, etree._Element]  # part name (lower, no slash) -> <Override>

    @classmethod
    def parse(cls, data: bytes) -> _ContentTypes:
        tree = parse(data, CONTENT_TYPES)
        defaults, overrides = {}, {}
        for el in tree.getroot():
            if not isinstance(el.tag, str):
                continue
            local = etree.QName(el).localname
            if local == "Default":
                defaults[(el.get("Extension") or "").lower()] = el
            elif local == "Override":
                overrides[(el.get("PartName") or "").lstrip("/").lower()] = el
        return cls(tree, defaults, overrides)

    def of(self, part: str) -> str:
        el = self.overrides.get(part.lower())
        if el is None:
            el = self.defaults.get(posixpath.splitext(part)[1].lstrip(".").lower())
        return "" if el is None else (el.get("ContentType") or "")


def rebuild(data: bytes, kind: str, ctx: Context) -> Rebuilt:
    if kind == "ooxml_encrypted":
        return _rebuild_encrypted(data, ctx)
    found = Findings()
    out = _Rebuild(data, ctx, found).run()
    return Rebuilt(out, kinds.output_kind(kind), found.removed())


def verify(data: bytes, kind: str, ctx: Context) -> None:
    from sanitize.formats.ooxml_verify import verify_package

    verify_package(data, ctx.cfg)


def _rebuild_encrypted(data: bytes, ctx: Context) -> Rebuilt:
    if not ctx.cfg.try_default_password:
        raise Blocked("encrypted", "encrypted OOXML package")
    try:
        import msoffcrypto

        office = msoffcrypto.OfficeFile(io.BytesIO(data))
        office.load_key(password="VelvetSweatshop", verify_password=True)
        plain = io.BytesIO()
        office.decrypt(plain)
    except Exception as exc:  # noqa: BLE001 - any failure of the third-party decryptor
        # means "we cannot read it": that is exactly the encrypted verdict.
        raise Blocked("encrypted", f"not the default password ({type(exc).__name__})") from exc
    inner = plain.getvalue()
    ct = _ContentTypes.parse(_member(inner, CONTENT_TYPES, ctx))
    inner_kind = next((_MAIN_KIND[el.get("ContentType", "").lower()]
                       for el in ct.overrides.values()
                       if el.get("ContentType", "").lower() in _MAIN_KIND), None)
    if inner_kind is None:
        raise Blocked("corrupt", "decrypted package has no known main part")
    found = Findings()
    found.add("ooxml.default_password", "opened with Office's default password")
    out = _Rebuild(inner, ctx, found).run()
    return Rebuilt(out, kinds.output_kind(inner_kind), found.removed())


def _member(data: bytes, name: str, ctx: Context) -> bytes:
    for m in safezip.read_members(data, ctx.cfg):
        if m.name == name:
            return m.data
    raise Blocked("corrupt", f"no {name}")


class _Rebuild:
    """One rebuild: holds the parts while steps 2-6 of the module docstring run."""

    def __init__(self, data: bytes, ctx: Context, found: Findings) -> None:
        self.found = found
        self.parts: dict[str, bytes] = {}
        self.raw: dict[str, safezip.Compressed | None] = {}
        for m in safezip.read_members(data, ctx.cfg):
            if not m.is_dir:
                self.parts[m.name] = m.data
                self.raw[m.name] = m.raw
        self.index = {name.lower(): name for name in self.parts}
        if CONTENT_TYPES not in self.parts:
            raise Blocked("corrupt", "no [Content_Types].xml: not an OOXML package")
        self.ct = _ContentTypes.parse(self.parts[CONTENT_TYPES])
        self.rels: dict[str, etree._ElementTree] = {}  # source part -> parsed .rels
        for name in self.parts:
            source = rels_source(name)
            if source is not None:
                self.rels[source] = parse(self.parts[name], name)
        if "" not in self.rels:
            raise Blocked("corrupt", "no _rels/.rels")
        self.deleted: dict[str, str] = {}  # part -> Removed code
        self.removed_ids: dict[str, set[str]] = {}

    def run(self) -> bytes:
        self._delete_parts()
        self._prune_relationships()
        keep = self._reachable()
        for name in self.parts:
            if name not in keep and name not in self.deleted and name != CONTENT_TYPES \
                    and rels_source(name) not in self.deleted:
                self.found.add("ooxml.orphan_part", name)
        out: dict[str, safezip.Member] = {}
        for name, data in self.parts.items():
            if name not in keep:
                continue
            new: bytes | None = None
            source = rels_source(name)
            if source is not None:
                if self.removed_ids.get(source):
                    new = serialize(self.rels[source])
            else:
                ct = self.ct.of(name)
                if is_xml_type(ct):
                    ids = frozenset(self.removed_ids.get(name, ()))
                    new = clean_part(name, data, ct, ids, self.found)
            # An unchanged part keeps its checked deflate stream: no second deflate.
            out[name] = safezip.Member(name, data, raw=self.raw[name]) if new is None \
                else safezip.Member(name, new)
        members = [safezip.Member(CONTENT_TYPES, self._content_types(out))]
        members += out.values()
        return safezip.write_zip(members)

    def _lookup(self, source: str, target: str) -> str | None:
        return self.index.get(resolve_target(source, target).lower())

    def _delete_parts(self) -> None:
        for name, data in self.parts.items():
            code = rules.FORBIDDEN_CONTENT_TYPES.get(self.ct.of(name).lower())
            if code is None and data.startswith(_CFB_MAGIC):
                code = "ooxml.ole_object"  # VBA, OLE and ActiveX binaries are all CFB
            if code is None and "/embeddings/" in "/" + name.lower():
                code = "ooxml.embedded_package"
            if code:
                self.deleted[name] = code
        for source, tree in self.rels.items():
            for rel in tree.getroot():
                code = self._forbidden_type(rel)
                if code and not is_external(rel):
                    target = self._lookup(source, rel.get("Target") or "")
                    if target is not None:
                        self.deleted.setdefault(target, code)
        for name, code in self.deleted.items():
            self.found.add(code, name)

    @staticmethod
    def _forbidden_type(rel: etree._Element) -> str | None:
        rtype = (rel.get("Type") or "").lower()
        if rules.SIGNATURE_REL_MARK in rtype:
            return "ooxml.signature"
        return rules.FORBIDDEN_REL_TYPES.get(rel_type_key(rtype))

    def _prune_relationships(self) -> None:
        for source, tree in self.rels.items():
            for rel in list(tree.getroot()):
                code = self._rel_verdict(source, rel)
                if code is None:
                    continue
                rid = rel.get("Id") or ""
                self.removed_ids.setdefault(source, set()).add(rid)
                self.found.add(code, f"{source or '/'} {rid} -> {(rel.get('Target') or '')[:120]}")
                tree.getroot().remove(rel)

    def _rel_verdict(self, source: str, rel: etree._Element) -> str | None:
        """Removed code if ``rel`` must go, None to keep it."""
        if not isinstance(rel.tag, str) or etree.QName(rel).localname != "Relationship":
            return "ooxml.bad_relationship"
        code = self._forbidden_type(rel)
        if code:
            return code
        target = rel.get("Target") or ""
        if is_external(rel):
            if (rel_type_key(rel.get("Type") or "") == "hyperlink"
                    and rules.SAFE_EXTERNAL_SCHEME.match(target)
                    and not rules.follina_target(target)):
                return None
            return "ooxml.external_rel"
        part = self._lookup(source, target)
        if part is not None and part in self.deleted:
            return self.deleted[part]
        return None

    def _reachable(self) -> set[str]:
        """Parts reachable from the package relationships, with their .rels parts."""
        seen: set[str] = set()
        todo = [""]
        while todo:
            source = todo.pop()
            if source:
                seen.add(source)
            rels_name = self.index.get(rels_part_of(source).lower())
            if rels_name is None or source not in self.rels:
                continue
            seen.add(rels_name)
            for rel in self.rels[source].getroot():
                if is_external(rel):
                    continue
                target = self._lookup(source, rel.get("Target") or "")
                if target is not None and target not in seen and target not in self.deleted:
                    todo.append(target)
        return seen

    def _content_types(self, out: dict[str, safezip.Member]) -> bytes:
        root = self.ct.tree.getroot()
        present = {name.lower() for name in out}
        for key, el in self.ct.overrides.items():
            if key not in present:
                root.remove(el)
        for el in self.ct.defaults.values():
            ct = (el.get("ContentType") or "").lower()
            if ct in rules.FORBIDDEN_CONTENT_TYPES or (
                    "macroenabled" in ct and ct not in rules.MACRO_MAIN_CONTENT_TYPES):
                root.remove(el)  # e.g. Default bin=vbaProject, xlsm=embedded workbook
        for el in list(root):
            if not isinstance(el.tag, str):
                continue
            ct = (el.get("ContentType") or "").lower()
            plain = rules.MACRO_MAIN_CONTENT_TYPES.get(ct)
            if plain:
                el.set("ContentType", plain)
                self.found.add("ooxml.content_type_mapped", f"{ct} -> {plain}")
            elif "macroenabled" in ct:
                raise Blocked("active_content", f"macro-enabled part type {ct}")
        return serialize(self.ct.tree)
