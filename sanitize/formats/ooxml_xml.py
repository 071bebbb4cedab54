"""Rewriting the XML inside an OOXML package: fields, objects, macro references.

``clean_part`` takes one part's bytes and returns new bytes, or None when the part
provably holds nothing to remove (then it is copied as is, which keeps rebuilds
close to the cost of re-zipping).  Whether a part must be parsed is decided on its
raw bytes by *element and attribute names*, which XML cannot hide behind character
references; parts that are not plain UTF-8 are always parsed.

Parsing uses lxml without entity resolution, network or huge trees, and keeps
namespace prefixes as written (``mc:Ignorable`` lists prefixes, so renaming them
would break the document).  A DTD anywhere blocks the file.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from lxml import etree

from sanitize.formats import ooxml_rules as rules
from sanitize.report import Blocked, Removed

# Byte patterns that make a part worth parsing, by family (see module docstring).
_COMMON = (rb"<!DOCTYPE|\s(?:macro|fmlaMacro)\s*=|\saction\s*=|[<:](?:FmlaMacro|object|"
           rb"controls?|altChunk|subDoc|attachedTemplate|mailMerge|OLEObject|oleObjs?|"
           rb"oleObjects|externalReferences|entryMacro|exitMacro)[\s/>]")
_TRIGGERS: dict[str, re.Pattern[bytes]] = {
    "word": re.compile(_COMMON + rb"|instrText|fldSimple"),
    "excel": re.compile(_COMMON + rb"|[<:](?:definedName|sheet|f)[\s/>]|RTD|WEBSERVICE|CALL"
                        rb"|REGISTER|EXEC"),
    "other": re.compile(_COMMON),
}
_XML_DECL_ENCODING = re.compile(rb"^<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)")


def family_of(content_type: str) -> str:
    ct = content_type.lower()
    if "wordprocessingml" in ct or "ms-word" in ct:
        return "word"
    if "spreadsheetml" in ct or "ms-excel" in ct:
        return "excel"
    return "other"


def is_xml_type(content_type: str) -> bool:
    ct = content_type.lower()
    return ct.endswith("+xml") or ct.endswith("/xml") or "vmldrawing" in ct


def _plain_utf8(data: bytes) -> bool:
    """True if byte-level name matching is meaningful (UTF-8/ASCII text)."""
    body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    if not body.lstrip().startswith(b"<"):
        return False
    m = _XML_DECL_ENCODING.match(body.lstrip())
    return m is None or m.group(1).lower() in (b"utf-8", b"utf8")


def parse(data: bytes, part: str) -> etree._ElementTree:
    """Parse one part safely; Blocked("corrupt") on any XML error or DTD."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False,
                             load_dtd=False, remove_blank_text=False)
    try:
        tree = etree.parse(io.BytesIO(data), parser)
    except etree.XMLSyntaxError as exc:
        raise Blocked("corrupt", f"{part}: XML error: {exc}") from exc
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise Blocked("corrupt", f"{part}: DTD in an OOXML part")
    return tree


def serialize(tree: etree._ElementTree) -> bytes:
    standalone = tree.docinfo.standalone
    if standalone is None:
        return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8", standalone=standalone)


@dataclass(slots=True)
class Findings:
    """Removed items of one rebuild, in order, without duplicates."""

    items: dict[tuple[str, str], None] = field(default_factory=dict)

    def add(self, code: str, detail: str) -> None:
        self.items[(code, detail)] = None

    def removed(self) -> tuple[Removed, ...]:
        return tuple(Removed(c, d) for c, d in self.items)


def _qname(el: etree._Element) -> tuple[str, str]:
    q = etree.QName(el)
    return q.namespace or "", q.localname


def _detach(el: etree._Element) -> None:
    """Remove ``el`` keeping the text that follows it (lxml stores it in .tail)."""
    parent = el.getparent()
    if parent is None:
        return
    if el.tail and el.tail.strip():
        prev = el.getprevious()
        if prev is not None:
            prev.tail = (prev.tail or "") + el.tail
        else:
            parent.text = (parent.text or "") + el.tail
    parent.remove(el)


def _remove_construct(el: etree._Element) -> None:
    """Remove ``el``, or the whole mc:AlternateContent it sits in: leaving one branch
    of an AlternateContent empty is what Office reports as a corrupt file."""
    target = el
    for anc in el.iterancestors():
        if etree.QName(anc).namespace == rules.NS_MC and etree.QName(anc).localname == \
                "AlternateContent":
            target = anc
            break
    _detach(target)


def _forbidden_code(ns: str, local: str) -> str | None:
    for (nss, name), code in rules.FORBIDDEN_ELEMENTS.items():
        if local == name and ns in nss:
            return code
    return None


def clean_part(part: str, data: bytes, content_type: str, removed_ids: frozenset[str],
               found: Findings) -> bytes | None:
    """New bytes for ``part``, or None if nothing in it needs changing."""
    family = family_of(content_type)
    if not removed_ids and _plain_utf8(data) and not _TRIGGERS[family].search(data):
        return None
    tree = parse(data, part)
    root = tree.getroot()
    changed = False
    for step in _steps(family):
        changed |= step(root, part, removed_ids, found)
    if not changed and _plain_utf8(data):
        return None
    return serialize(tree)


Step = Callable[[etree._Element, str, frozenset[str], Findings], bool]


def _steps(family: str) -> Iterable[Step]:
    if family == "word":
        yield _fields
    if family == "excel":
        yield _workbook
        yield _formulas
    yield _forbidden_elements
    yield _macro_attributes_and_actions
    yield _dangling_rel_refs  # last: what is left pointing at a removed relationship


# -- generic ---------------------------------------------------------------------


def _forbidden_elements(root: etree._Element, part: str, _ids: frozenset[str],
                        found: Findings) -> bool:
    hits = []
    for el in root.iter(etree.Element):
        ns, local = _qname(el)
        code = _forbidden_code(ns, local)
        if code:
            hits.append((el, code, local))
    for el, code, local in hits:
        if local == "oleObj":  # p:graphicFrame/a:graphic/a:graphicData/p:oleObj
            frame = next((a for a in el.iterancestors() if _qname(a)[1] == "graphicFrame"), el)
            el = frame
        found.add(code, f"{part}: <{local}>")
        _remove_construct(el)
    return bool(hits)


def _dangling_rel_refs(root: etree._Element, part: str, ids: frozenset[str],
                       found: Findings) -> bool:
    """Elements pointing (r:id, r:embed, r:link, …) at a relationship we removed."""
    if not ids:
        return False
    drop_attr: list[tuple[etree._Element, str]] = []
    drop_el: list[etree._Element] = []
    for el in root.iter(etree.Element):
        for name, value in el.attrib.items():
            q = etree.QName(name)
            if q.namespace in rules.NS_R and value in ids:
                ns, local = _qname(el)
                if q.localname in ("link", "href") or (local == "hyperlink" and ns in rules.NS_W):
                    drop_attr.append((el, name))  # the link goes, the text/image stays
                else:
                    drop_el.append(el)
    for el, name in drop_attr:
        del el.attrib[name]
    for el in drop_el:
        found.add("ooxml.dangling_reference", f"{part}: <{_qname(el)[1]}>")
        _remove_construct(el)
    return bool(drop_attr or drop_el)


def _macro_attributes_and_actions(root: etree._Element, part: str, _ids: frozenset[str],
                                  found: Findings) -> bool:
    actions = []
    changed = False
    for el in root.iter(etree.Element):
        for name in rules.MACRO_ATTRIBUTES:
            if el.get(name):
                del el.attrib[name]
                found.add("ooxml.macro_ref", f"{part}: @{name}")
                changed = True
        action = el.get("action")
        if action is not None and rules.PPACTION.match(action):
            actions.append(el)
    for el in actions:
        found.add("ooxml.ppaction", f"{part}: {el.get('action')}")
        _remove_construct(el)
    return changed or bool(actions)


# -- Word fields -----------------------------------------------------------------


@dataclass(slots=True)
class _Field:
    begin: int  # index into the run-content sequence
    own: list[str] = field(default_factory=list)  # instruction text at this level
    starts_nested: bool = False  # a nested field before any own text: computed name
    sep: int | None = None
    end: int | None = None


def _field_code(instr: str, starts_nested: bool) -> str | None:
    """Removed code if the instruction must go, else None."""
    if starts_nested:
        return "ooxml.field_dde"  # the field name is built by an inner field
    m = re.match(r"\s*\"?([A-Za-z]+)", instr)
    return rules.DANGEROUS_FIELDS.get(m.group(1).upper()) if m else None


def _fields(root: etree._Element, part: str, _ids: frozenset[str], found: Findings) -> bool:
    """Complex fields (fldChar begin/separate/end + instrText across runs) and
    w:fldSimple: dangerous ones keep only their cached result."""
    seq: list[etree._Element] = []  # children of w:r, in document order
    stack: list[_Field] = []
    done: list[_Field] = []
    simple: list[tuple[etree._Element, str]] = []
    for el in root.iter(etree.Element):
        ns, local = _qname(el)
        if ns not in rules.NS_W:
            continue
        if local == "fldSimple":
            code = _field_code(el.get(f"{{{ns}}}instr") or "", False)
            if code:
                simple.append((el, code))
            continue
        parent = el.getparent()
        if parent is None or _qname(parent)[1] != "r":
            continue
        seq.append(el)
        if local == "fldChar":
            kind = el.get(f"{{{ns}}}fldCharType")
            if kind == "begin":
                if stack and stack[-1].sep is None and not "".join(stack[-1].own).strip():
                    stack[-1].starts_nested = True
                stack.append(_Field(len(seq) - 1))
            elif kind == "separate" and stack:
                stack[-1].sep = len(seq) - 1
            elif kind == "end" and stack:
                f = stack.pop()
                f.end = len(seq) - 1
                done.append(f)
        elif local in ("instrText", "delInstrText") and stack and stack[-1].sep is None:
            stack[-1].own.append(el.text or "")
    done.extend(stack)  # unterminated fields run to the end of the part
    changed = False
    for f in done:
        instr = "".join(f.own)
        code = _field_code(instr, f.starts_nested)
        if not code:
            continue
        changed = True
        found.add(code, f"{part}: {instr.strip()[:80]}")
        stop = f.sep if f.sep is not None else (f.end if f.end is not None else len(seq) - 1)
        doomed = seq[f.begin:stop + 1]
        if f.end is not None:
            doomed.append(seq[f.end])
        for el in doomed:
            if _qname(el)[1] != "rPr":
                _detach(el)
    for el, code in simple:
        changed = True
        found.add(code, f"{part}: {(el.get(el.tag.split('}')[0] + '}instr') or '').strip()[:80]}")
        parent = el.getparent()
        if parent is None:
            continue
        pos = parent.index(el)
        for child in list(el):
            if _qname(child)[1] != "fldData":
                parent.insert(pos, child)
                pos += 1
        _detach(el)
    return changed


# -- Excel -------------------------------------------------------------------------


def _formula_code(text: str) -> str | None:
    bare = rules.STRING_LITERAL.sub('""', text)
    if rules.DDE_IN_FORMULA.search(bare):
        return "ooxml.dde_formula"
    if rules.EXTERNAL_BOOK.search(bare):
        return "ooxml.external_ref"
    if rules.ACTIVE_FUNCTION.search(bare):
        return "ooxml.active_formula"
    return None


def _x(el: etree._Element, local: str) -> bool:
    ns, name = _qname(el)
    return name == local and ns in rules.NS_X


def _workbook(root: etree._Element, part: str, ids: frozenset[str], found: Findings) -> bool:
    """Auto_* names, names with DDE/external refs, and sheets whose part was removed
    (macro sheets), renumbering the sheet-local names that follow them."""
    if not _x(root, "workbook"):
        return False
    changed = False
    sheets = [el for el in root.iter(etree.Element) if _x(el, "sheet")]
    gone: list[int] = []
    gone_names: list[str] = []
    for i, sh in enumerate(sheets):
        rid = next((v for k, v in sh.attrib.items()
                    if etree.QName(k).namespace in rules.NS_R and etree.QName(k).localname == "id"),
                   None)
        if rid in ids:
            gone.append(i)
            gone_names.append(sh.get("name") or "")
            found.add("ooxml.macro_sheet", f"{part}: sheet {sh.get('name')!r}")
            _detach(sh)
            changed = True
    if gone and len(gone) == len(sheets):
        raise Blocked("active_content", f"{part}: every sheet is a macro sheet")
    for dn in [el for el in root.iter(etree.Element) if _x(el, "definedName")]:
        name, text = dn.get("name") or "", dn.text or ""
        local = dn.get("localSheetId")
        code = None
        if rules.AUTO_NAME.match(name):
            code = "ooxml.auto_open"
        elif local is not None and local.isdigit() and int(local) in gone:
            code = "ooxml.macro_sheet"
        elif any(n and n in text for n in gone_names):
            code = "ooxml.macro_sheet"
        else:
            code = _formula_code(text)
        if code:
            found.add(code, f"{part}: name {name!r}")
            _detach(dn)
            changed = True
        elif local is not None and local.isdigit() and gone:
            dn.set("localSheetId", str(int(local) - sum(1 for g in gone if g < int(local))))
    if gone:
        for view in (el for el in root.iter(etree.Element) if _x(el, "workbookView")):
            for attr in ("activeTab", "firstSheet"):
                if view.get(attr) is not None:
                    view.set(attr, "0")
    return changed


def _formulas(root: etree._Element, part: str, _ids: frozenset[str], found: Findings) -> bool:
    """Cell formulas with DDE, external-book refs or active functions: keep the cached
    value (<v>), drop the formula, and the cells sharing a dropped shared formula."""
    doomed: list[etree._Element] = []
    shared: set[str] = set()
    cells = [el for el in root.iter(etree.Element) if _x(el, "f")]
    for f in cells:
        code = _formula_code(f.text or "")
        if code:
            cell = f.getparent()
            ref = cell.get("r") if cell is not None else None
            found.add(code, f"{part}: {ref or '?'} ={(f.text or '')[:60]}")
            doomed.append(f)
            if f.get("t") == "shared" and f.get("si") is not None:
                shared.add(f.get("si") or "")
    if shared:
        doomed.extend(f for f in cells if f.get("t") == "shared" and f.get("si") in shared
                      and f not in doomed)
    for f in doomed:
        _detach(f)
    return bool(doomed)
