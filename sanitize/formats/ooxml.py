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
   pictures (parts of an ``image/*`` type, and any part whose bytes are a picture)
   are rebuilt by the image engine (``embedded_images``): a format change (BMP to
   PNG, a metafile to its placeholder) renames the part and retargets the
   relationships to it;
6. ``[Content_Types].xml`` loses overrides of removed parts and forbidden defaults,
   macro-enabled main types become plain (docm -> docx), and is written first.

Encrypted packages (kind ``ooxml_encrypted``) are blocked unless Office's default
password (VelvetSweatshop) opens them and ``cfg.try_default_password`` allows it.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from dataclasses import dataclass
from urllib.parse import unquote

from lxml import etree

from sanitize import kinds, safezip
from sanitize.formats import Context
from sanitize.formats import embedded_images as pictures
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

    verify_package(data, ctx.cfg, ctx.handover)


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


@dataclass(slots=True)
class _Rel:
    """One child of a .rels root, with what every step asks of it worked out once."""

    index: int  # position among the root's children
    is_rel: bool  # a <Relationship> element (not a comment, PI or other element)
    rid: str
    rtype: str  # Type, lower case
    target: str
    external: bool
    part: str | None  # the part an internal target names, if the package has it


# (is a Relationship, Id, Type lower-cased, Target, TargetMode) of each child of a root
_RelFields = tuple[bool, str, str, str, "str | None"]


def _rel_fields(data: bytes, part: str) -> tuple[_RelFields, ...]:
    out = []
    for el in parse(data, part).getroot():
        is_rel = isinstance(el.tag, str) and el.tag.rpartition("}")[2] == "Relationship"
        out.append((is_rel, el.get("Id") or "", (el.get("Type") or "").lower(),
                    el.get("Target") or "", el.get("TargetMode")))
    return tuple(out)


class _Rebuild:
    """One rebuild: holds the parts while steps 2-6 of the module docstring run."""

    def __init__(self, data: bytes, ctx: Context, found: Findings) -> None:
        self.ctx = ctx
        self.found = found
        self.parts: dict[str, bytes] = {}
        self.raw: dict[str, safezip.Compressed | None] = {}
        for m in safezip.read_members(data, ctx.cfg, ctx.handover):
            if not m.is_dir:
                self.parts[m.name] = m.data
                self.raw[m.name] = m.raw
        self.index = {name.lower(): name for name in self.parts}
        if CONTENT_TYPES not in self.parts:
            raise Blocked("corrupt", "no [Content_Types].xml: not an OOXML package")
        self.ct = _ContentTypes.parse(self.parts[CONTENT_TYPES])
        self.source_of = {name: rels_source(name) for name in self.parts}
        self.rels_part: dict[str, str] = {}  # source part -> its .rels part
        # source part -> its relationships.  Many .rels are byte for byte the same
        # (every layout's points at the master): each distinct one is parsed once.
        self.rel_list: dict[str, list[_Rel]] = {}
        fields_of: dict[bytes, tuple[_RelFields, ...]] = {}
        self._resolved: dict[tuple[str, str], str | None] = {}
        for name, source in self.source_of.items():
            if source is None:
                continue
            data = self.parts[name]
            fields = fields_of.get(data)
            if fields is None:
                fields = fields_of[data] = _rel_fields(data, name)
            self.rels_part[source] = name
            folder = posixpath.dirname(source)
            self.rel_list[source] = [
                _Rel(i, is_rel, rid, rtype, target,
                     (mode is not None and mode != "Internal")
                     or bool(rules.HAS_SCHEME.match(target)),
                     self._lookup(folder, source, target))
                for i, (is_rel, rid, rtype, target, mode) in enumerate(fields)]
        if "" not in self.rel_list:
            raise Blocked("corrupt", "no _rels/.rels")
        self.deleted: dict[str, str] = {}  # part -> Removed code
        self.removed_ids: dict[str, set[str]] = {}
        self.retargeted: set[str] = set()  # sources whose .rels point at a renamed part
        self.new_types: dict[str, str] = {}  # rebuilt picture part -> its content type

    def run(self) -> bytes:
        self._delete_parts()
        self._prune_relationships()
        keep = self._reachable()
        for name in self.parts:
            if name not in keep and name not in self.deleted and name != CONTENT_TYPES \
                    and self.source_of[name] not in self.deleted:
                self.found.add("ooxml.orphan_part", name)
        rebuilt = self._pictures(keep)
        out: dict[str, safezip.Member] = {}
        for name, data in self.parts.items():
            if name not in keep:
                continue
            if name in rebuilt:
                new_name, new_data = rebuilt[name]
                out[new_name] = safezip.Member(new_name, new_data)
                continue
            new: bytes | None = None
            source = self.source_of[name]
            if source is not None:
                if self.removed_ids.get(source) or source in self.retargeted:
                    new = self._pruned_rels(source)
            else:
                ct = self.ct.of(name)
                if is_xml_type(ct):
                    ids = frozenset(self.removed_ids.get(name, ()))
                    new = clean_part(name, data, ct, ids, self.found)
            if new is None:
                # An unchanged part keeps its checked deflate stream: no second
                # deflate, and verify finds what it inflates to in the handover.
                raw = self.raw[name]
                if raw is not None and raw.method == zipfile.ZIP_DEFLATED:
                    self.ctx.handover.keep_inflated(raw.crc, raw.stream, data)
                out[name] = safezip.Member(name, data, raw=raw)
            else:
                out[name] = safezip.Member(name, new)
        members = [self._content_types(out)]
        members += out.values()
        return safezip.write_zip(members)

    def _lookup(self, folder: str, source: str, target: str) -> str | None:
        """The part ``target`` names from ``source`` (in ``folder``), if present."""
        # Parts of one folder point at the same few targets: resolve each once.
        key = (folder, target)
        try:
            return self._resolved[key]
        except KeyError:
            part = self._resolved[key] = self.index.get(resolve_target(source, target).lower())
            return part

    def _pruned_rels(self, source: str) -> bytes:
        """The .rels of ``source`` without the relationships pruned from its list, and
        with the targets of renamed pictures changed."""
        name = self.rels_part[source]
        tree = parse(self.parts[name], name)
        children = list(tree.getroot())
        kept = {rel.index: rel for rel in self.rel_list[source]}
        for i, el in enumerate(children):
            rel = kept.get(i)
            if rel is None:
                tree.getroot().remove(el)
            elif rel.is_rel and (el.get("Target") or "") != rel.target:
                el.set("Target", rel.target)
        return serialize(tree)

    def _pictures(self, keep: set[str]) -> dict[str, tuple[str, bytes]]:
        """Every picture part kept, rebuilt: part -> (its new name, the new bytes).

        A picture is a part of an ``image/*`` type or a part whose bytes are one,
        whatever it is called.  All are sized up (headers only) before the first is
        decoded, so a package of many huge pictures is refused at once.
        """
        todo: dict[str, tuple[str | None, str]] = {}
        for name in sorted(keep):
            if self.source_of[name] is not None or name == CONTENT_TYPES:
                continue
            ct = self.ct.of(name).lower()
            kind = pictures.sniff(self.parts[name])
            if kind is None and ct == "image/svg+xml":
                kind = "svg"
            if kind is not None or ct.startswith("image/"):
                todo[name] = (kind, ct)
        if not todo:
            return {}
        budget = pictures.PixelBudget(self.ctx)
        budget.precheck((self.parts[name], kind or "") for name, (kind, _) in todo.items())
        done: dict[bytes, pictures.Picture] = {}  # identical parts are rebuilt once
        out: dict[str, tuple[str, bytes]] = {}
        renamed: dict[str, str] = {}
        for name, (kind, ct) in todo.items():
            data = self.parts[name]
            pic = done.get(data)
            if pic is None:
                pic = done[data] = pictures.rebuild_picture(data, kind, budget)
            new_name = name
            new_ct = pictures.CONTENT_TYPE[pic.kind]
            if new_ct != ct:
                if not name.lower().endswith(pictures.EXTENSIONS[pic.kind]):
                    new_name = renamed[name] = self._free_name(name, pic.kind)
                self.new_types[new_name] = new_ct
            out[name] = (new_name, pic.data)
            where = name if new_name == name else f"{name} -> {new_name}"
            if pic.replaced:
                self.found.add("ooxml.image_removed",
                               f"{where}: {pic.replaced}, replaced by a blank placeholder")
            elif pic.removed:
                self.found.add("ooxml.image_rebuilt", f"{where}: {pictures.summary(pic.removed)}")
        if renamed:
            self._retarget(renamed)
        return out

    def _free_name(self, name: str, kind: str) -> str:
        """``name`` with the extension of ``kind``, numbered if that name is taken."""
        stem = posixpath.splitext(name)[0]
        ext = pictures.EXTENSIONS[kind][0]
        candidate, n = stem + ext, 1
        while candidate.lower() in self.index:
            candidate, n = f"{stem}_{n}{ext}", n + 1
        self.index[candidate.lower()] = candidate
        return candidate

    def _retarget(self, renamed: dict[str, str]) -> None:
        """Point the relationships to renamed parts at their new names."""
        for source, rels in self.rel_list.items():
            for rel in rels:
                if rel.external or rel.part not in renamed:
                    continue
                folder = posixpath.dirname(source) or "."
                rel.target = posixpath.relpath(renamed[rel.part], folder)
                self.retargeted.add(source)

    def _delete_parts(self) -> None:
        for name, data in self.parts.items():
            code = rules.FORBIDDEN_CONTENT_TYPES.get(self.ct.of(name).lower())
            if code is None and data.startswith(_CFB_MAGIC):
                code = "ooxml.ole_object"  # VBA, OLE and ActiveX binaries are all CFB
            if code is None and "/embeddings/" in "/" + name.lower():
                code = "ooxml.embedded_package"
            if code:
                self.deleted[name] = code
        for rels in self.rel_list.values():
            for rel in rels:
                code = self._forbidden_type(rel.rtype)
                if code and not rel.external and rel.part is not None:
                    self.deleted.setdefault(rel.part, code)
        for name, code in self.deleted.items():
            self.found.add(code, name)

    @staticmethod
    def _forbidden_type(rtype: str) -> str | None:
        """Removed code for a (lower-case) relationship type, None if allowed."""
        if rules.SIGNATURE_REL_MARK in rtype:
            return "ooxml.signature"
        return rules.FORBIDDEN_REL_TYPES.get(rel_type_key(rtype))

    def _prune_relationships(self) -> None:
        for source, rels in self.rel_list.items():
            kept = []
            for rel in rels:
                code = self._rel_verdict(rel)
                if code is None:
                    kept.append(rel)
                    continue
                self.removed_ids.setdefault(source, set()).add(rel.rid)
                self.found.add(code, f"{source or '/'} {rel.rid} -> {rel.target[:120]}")
            if len(kept) != len(rels):
                self.rel_list[source] = kept

    def _rel_verdict(self, rel: _Rel) -> str | None:
        """Removed code if ``rel`` must go, None to keep it."""
        if not rel.is_rel:
            return "ooxml.bad_relationship"
        code = self._forbidden_type(rel.rtype)
        if code:
            return code
        if rel.external:
            if (rel_type_key(rel.rtype) == "hyperlink"
                    and rules.SAFE_EXTERNAL_SCHEME.match(rel.target)
                    and not rules.follina_target(rel.target)):
                return None
            return "ooxml.external_rel"
        if rel.part is not None and rel.part in self.deleted:
            return self.deleted[rel.part]
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
            if rels_name is None or source not in self.rel_list:
                continue
            seen.add(rels_name)
            for rel in self.rel_list[source]:
                target = rel.part
                if not rel.external and target is not None and target not in seen \
                        and target not in self.deleted:
                    todo.append(target)
        return seen

    def _content_types(self, out: dict[str, safezip.Member]) -> safezip.Member:
        """[Content_Types].xml for the parts in ``out``: its original bytes and stream
        when nothing in it changes."""
        root = self.ct.tree.getroot()
        changed = False
        present = {name.lower() for name in out}
        for key, el in self.ct.overrides.items():
            if key not in present:
                root.remove(el)
                changed = True
        for el in self.ct.defaults.values():
            ct = (el.get("ContentType") or "").lower()
            if ct in rules.FORBIDDEN_CONTENT_TYPES or (
                    "macroenabled" in ct and ct not in rules.MACRO_MAIN_CONTENT_TYPES):
                root.remove(el)  # e.g. Default bin=vbaProject, xlsm=embedded workbook
                changed = True
        for part, ct in self.new_types.items():
            el = self.ct.overrides.get(part.lower())
            if el is None or el.getparent() is None:
                el = etree.SubElement(root, f"{{{rules.NS_CT}}}Override",
                                      PartName="/" + part)
            el.set("ContentType", ct)
            changed = True
        for el in list(root):
            if not isinstance(el.tag, str):
                continue
            ct = (el.get("ContentType") or "").lower()
            plain = rules.MACRO_MAIN_CONTENT_TYPES.get(ct)
            if plain:
                el.set("ContentType", plain)
                self.found.add("ooxml.content_type_mapped", f"{ct} -> {plain}")
                changed = True
            elif "macroenabled" in ct:
                raise Blocked("active_content", f"macro-enabled part type {ct}")
        if not changed:
            return safezip.Member(CONTENT_TYPES, self.parts[CONTENT_TYPES],
                                  raw=self.raw[CONTENT_TYPES])
        return safezip.Member(CONTENT_TYPES, serialize(self.ct.tree))
