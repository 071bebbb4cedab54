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

import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from lxml import etree

from sanitize.formats import ooxml_rules as rules
from sanitize.report import Blocked, Removed

_XML_DECL_ENCODING = re.compile(rb"^<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)")


def tags(nss: Iterable[str], *locals_: str) -> list[str]:
    """Clark names ({ns}local) for lxml's C-level ``iter(*tags)`` filtering."""
    return [f"{{{ns}}}{local}" for ns in nss for local in locals_]


def is_xml_type(content_type: str) -> bool:
    ct = content_type.lower()
    return ct.endswith("+xml") or ct.endswith("/xml") or "vmldrawing" in ct


def _plain_utf8(data: bytes) -> bool:
    """True if byte-level name matching is meaningful (UTF-8/ASCII text)."""
    head = data[:1024]  # a longer prolog is odd enough to be parsed
    body = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
    if not body.lstrip().startswith(b"<"):
        return False
    m = _XML_DECL_ENCODING.match(body.lstrip())
    return m is None or m.group(1).lower() in (b"utf-8", b"utf8")


# Reused for its settings: each part is parsed into a tree of its own, and what a
# parser keeps between parses (its error log, interned names) changes no later parse.
_local = threading.local()


def _parser() -> etree.XMLParser:
    """One parser per thread: building one costs as much as parsing a small part."""
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = etree.XMLParser(
            resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False,
            remove_blank_text=False)
    return parser


def parse(data: bytes, part: str) -> etree._ElementTree:
    """Parse one part safely; Blocked("corrupt") on any XML error or DTD."""
    try:
        tree = etree.fromstring(data, _parser()).getroottree()
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


# Clark name -> Removed code, for lxml's C-level tag filtering.
_FORBIDDEN_TAGS: dict[str, str] = {
    tag: code for (nss, local), code in rules.FORBIDDEN_ELEMENTS.items() for tag in tags(nss, local)
}
_R_ATTRS = etree.XPath("//@*[namespace-uri()=$a or namespace-uri()=$b]")
_ACTIVE_ATTRS = etree.XPath("//*[@macro!='' or @fmlaMacro!='' or @action]")


def clean_part(part: str, data: bytes, content_type: str, removed_ids: frozenset[str],
               found: Findings) -> bytes | None:
    """New bytes for ``part``, or None if nothing in it needs changing."""
    plain = _plain_utf8(data)
    klass = _class_of(content_type)
    if plain:
        if klass.always or removed_ids or _hit(data, klass.any_needles):
            steps = [st for st in klass.steps if klass.always or _hit(data, st.needles)
                     or (st.fn is _dangling_rel_refs and removed_ids)]
        else:
            steps = []  # no step's name occurs: no step could change anything
        if not steps and not _PROLOG_DTD.match(data):
            return None
    else:
        steps = list(klass.steps)  # UTF-16 & co.: no byte-level shortcut
    tree = parse(data, part)
    root = tree.getroot()
    changed = False
    for st in steps:
        changed |= st.fn(root, part, removed_ids, found)
    if not changed and plain:
        return None
    return serialize(tree)


# A name to look for in a part's bytes: (its rarest byte, the search for it).  When
# the rarest byte is absent (one memchr) the name is too; otherwise re's literal
# search runs (faster than ``in`` at every part size measured, 200 B to 70 KB).
_Needle = tuple[bytes, Callable[[bytes], "re.Match[bytes] | None"]]


def _needle(lit: bytes | re.Pattern[bytes]) -> _Needle:
    if isinstance(lit, bytes):
        def rank(byte: int) -> int:
            at = rules.BYTE_RARITY.find(bytes([byte]))
            return at if at >= 0 else len(rules.BYTE_RARITY)

        return bytes([min(lit, key=rank)]), re.compile(re.escape(lit)).search
    # a pattern starting with a literal byte, escaped or not (see _Step)
    first = lit.pattern[1:2] if lit.pattern[:1] == b"\\" else lit.pattern[:1]
    return first, lit.search


def _hit(data: bytes, needles: tuple[_Needle, ...]) -> bool:
    for rare, search in needles:
        if rare in data and search(data) is not None:
            return True
    return False


StepFn = Callable[[etree._Element, str, frozenset[str], Findings], bool]


@dataclass(frozen=True, slots=True)
class _Step:
    """A rewriting step, run only on parts whose bytes contain one of ``literals``
    (element or attribute names, which XML cannot encode).  Most parts are never
    parsed."""

    fn: StepFn
    # bytes, or patterns that start with a literal byte
    literals: tuple[bytes | re.Pattern[bytes], ...] = ()
    needles: tuple[_Needle, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "needles", tuple(_needle(lit) for lit in self.literals))


# -- generic ---------------------------------------------------------------------


def _forbidden_elements(root: etree._Element, part: str, _ids: frozenset[str],
                        found: Findings) -> bool:
    hits = list(root.iter(*_FORBIDDEN_TAGS))
    for el in hits:
        local = etree.QName(el).localname
        found.add(_FORBIDDEN_TAGS[el.tag], f"{part}: <{local}>")
        if local == "oleObj":  # p:graphicFrame/a:graphic/a:graphicData/p:oleObj
            el = next((a for a in el.iterancestors() if _qname(a)[1] == "graphicFrame"), el)
        _remove_construct(el)
    return bool(hits)


def _dangling_rel_refs(root: etree._Element, part: str, ids: frozenset[str],
                       found: Findings) -> bool:
    """Elements pointing (r:id, r:embed, r:link, …) at a relationship we removed."""
    a, b = sorted(rules.NS_R)
    drop_attr: list[tuple[etree._Element, str]] = []
    drop_el: list[etree._Element] = []
    for attr in _R_ATTRS(root, a=a, b=b):
        if str(attr) not in ids:
            continue
        el = attr.getparent()
        ns, local = _qname(el)
        if etree.QName(attr.attrname).localname in ("link", "href") or (
                local == "hyperlink" and ns in rules.NS_W):
            drop_attr.append((el, attr.attrname))  # the link goes, the text/image stays
        else:
            drop_el.append(el)
    for el, name in drop_attr:
        el.attrib.pop(name, None)
    for el in drop_el:
        found.add("ooxml.dangling_reference", f"{part}: <{_qname(el)[1]}>")
        _remove_construct(el)
    return bool(drop_attr or drop_el)


def _macro_attributes_and_actions(root: etree._Element, part: str, _ids: frozenset[str],
                                  found: Findings) -> bool:
    changed = False
    for el in _ACTIVE_ATTRS(root):
        for name in rules.MACRO_ATTRIBUTES:
            if el.get(name):
                del el.attrib[name]
                found.add("ooxml.macro_ref", f"{part}: @{name}")
                changed = True
        action = el.get("action")
        if action is not None and rules.PPACTION.match(action):
            found.add("ooxml.ppaction", f"{part}: {action}")
            _remove_construct(el)
            changed = True
    return changed


# -- Word fields -----------------------------------------------------------------


@dataclass(slots=True)
class _Field:
    begin: int  # index into the run-content sequence
    own: list[str] = field(default_factory=list)  # instruction text at this level
    computed: bool = False  # a nested field inside the first word: its name is computed
    nested: bool = False  # a nested field anywhere in the instruction
    sep: int | None = None
    end: int | None = None


# Kind of acting field (ooxml_rules.acting_field) -> Removed code; the rest (include,
# link, import, database) is "ooxml.field_link".
_FIELD_CODES = {"dde": "ooxml.field_dde", "macro": "ooxml.field_macro",
                "print": "ooxml.field_print", "hyperlink": "ooxml.field_hyperlink",
                "computed": "ooxml.field_computed"}


def _field_code(instr: str, computed: bool = False, nested: bool = False) -> str | None:
    """Removed code if the instruction must go, else None."""
    kind = rules.acting_field(instr, computed, nested)
    return None if kind is None else _FIELD_CODES.get(kind, "ooxml.field_link")


_FIELD_TAGS = tags(rules.NS_W, "fldChar", "instrText", "delInstrText", "fldSimple")


def _scan_fields(elements: Iterable[etree._Element]) -> tuple[
        list[etree._Element], list[_Field], list[tuple[etree._Element, str]]]:
    """Run the fldChar state machine over ``elements`` (document order).  Returns the
    run children seen, the fields found (indices into them) and dangerous fldSimple."""
    seq: list[etree._Element] = []
    stack: list[_Field] = []
    done: list[_Field] = []
    simple: list[tuple[etree._Element, str]] = []
    for el in elements:
        ns, local = _qname(el)
        if ns not in rules.NS_W:
            continue
        if local == "fldSimple":
            code = _field_code(el.get(f"{{{ns}}}instr") or "")
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
                outer = stack[-1] if stack else None
                if outer is not None and outer.sep is None:
                    outer.nested = True
                    if rules.OPEN_FIELD_NAME.fullmatch("".join(outer.own)):
                        outer.computed = True
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
    return seq, done, simple


def _fields(root: etree._Element, part: str, _ids: frozenset[str], found: Findings) -> bool:
    """Complex fields (fldChar begin/separate/end + instrText across runs) and
    w:fldSimple: dangerous ones keep only their cached result."""
    seq, done, simple = _scan_fields(root.iter(*_FIELD_TAGS))  # C-filtered: fast
    if any(_field_code("".join(f.own), f.computed, f.nested) for f in done):
        # Removing an instruction also removes what sits between begin and separate
        # (nested results, tabs): walk every element to see it, same state machine.
        seq, done, simple = _scan_fields(root.iter(etree.Element))
    changed = False
    for f in done:
        instr = "".join(f.own)
        code = _field_code(instr, f.computed, f.nested)
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


# Kind of acting formula (ooxml_rules.acting_formula) -> Removed code.
_FORMULA_CODES = {"dde": "ooxml.dde_formula", "external": "ooxml.external_ref",
                  "function": "ooxml.acting_formula"}


def _formula_code(text: str) -> str | None:
    found = rules.acting_formula(text)
    return None if found is None else _FORMULA_CODES[found[0]]


def _x(el: etree._Element, local: str) -> bool:
    ns, name = _qname(el)
    return name == local and ns in rules.NS_X


def _workbook(root: etree._Element, part: str, ids: frozenset[str], found: Findings) -> bool:
    """Auto_* names, names with DDE/external refs, and sheets whose part was removed
    (macro sheets), renumbering the sheet-local names that follow them."""
    if not _x(root, "workbook"):
        return False
    changed = False
    sheets = list(root.iter(*tags(rules.NS_X, "sheet")))
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
    for dn in list(root.iter(*tags(rules.NS_X, "definedName"))):
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
        for view in root.iter(*tags(rules.NS_X, "workbookView")):
            for attr in ("activeTab", "firstSheet"):
                if view.get(attr) is not None:
                    view.set(attr, "0")
    return changed


def _formulas(root: etree._Element, part: str, _ids: frozenset[str], found: Findings) -> bool:
    """Cell formulas that reach outside the workbook (DDE, other workbooks, acting
    functions): keep the cached value (<v>), drop the formula, and drop it from every
    cell sharing a dropped shared formula (their formula is the master's)."""
    doomed: list[etree._Element] = []
    shared: set[str] = set()
    cells = list(root.iter(*tags(rules.NS_X, "f")))
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


@dataclass(frozen=True, slots=True)
class _Class:
    """Which steps run on parts of some content types (``always``: parse regardless)."""

    content_types: tuple[str, ...]  # substrings of the lower-case content type
    steps: tuple[_Step, ...]
    always: bool = False
    # One test for "does any step's name occur": the union of the steps' literals,
    # weakened (macro, Macro -> acro) and without those containing another one.
    any_needles: tuple[_Needle, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        lits = {_WEAKER.get(lit, lit) if isinstance(lit, bytes) else lit
                for st in self.steps for lit in st.literals}
        words = {lit for lit in lits if isinstance(lit, bytes)}
        kept = [lit for lit in lits if not isinstance(lit, bytes)
                or not any(w != lit and w in lit for w in words)]
        kept.sort(key=lambda lit: lit if isinstance(lit, bytes) else lit.pattern)
        object.__setattr__(self, "any_needles", tuple(_needle(lit) for lit in kept))


# A part containing "macro" or "Macro" contains "acro": one search instead of two.
_WEAKER = {b"macro": b"acro", b"Macro": b"acro"}
_DANGLING = _Step(_dangling_rel_refs)  # last: earlier steps may remove the holders
_FORBIDDEN = _Step(_forbidden_elements, (b"bject", b"ontrol", b"ltChunk", b"subDoc", b"Macro",
                                         b"ttachedTemplate", b"ailMerge", b"oleObj",
                                         b"xternalReferences"))
_ACTIVE = _Step(_macro_attributes_and_actions, (b"macro", b"Macro", b"action"))
# Only the parts Office reads these constructs from are scanned (the brief's "stories",
# settings, workbook, sheets, drawings, slides); any other part is parsed only to drop
# references to removed relationships.
_CLASSES = (
    _Class(("wordprocessingml.document.main", "wordprocessingml.template.main",
            "ms-word.document.macroenabled.main", "ms-word.template.macroenabledtemplate.main",
            "wordprocessingml.header", "wordprocessingml.footer", "wordprocessingml.footnotes",
            "wordprocessingml.endnotes", "wordprocessingml.comments", "document.glossary"),
           (_Step(_fields, (b"instrText", b"fldSimple")),
            _Step(_forbidden_elements, (b"bject", b"ontrol", b"ltChunk", b"subDoc", b"Macro")),
            _DANGLING)),
    _Class(("wordprocessingml.settings",),
           (_Step(_forbidden_elements, (b"ttachedTemplate", b"ailMerge")), _DANGLING)),
    _Class(("spreadsheetml.sheet.main", "spreadsheetml.template.main",
            "ms-excel.sheet.macroenabled.main", "ms-excel.template.macroenabled.main"),
           (_Step(_workbook), _FORBIDDEN, _DANGLING), always=True),
    _Class(("spreadsheetml.worksheet", "spreadsheetml.dialogsheet"),
           (_Step(_formulas, (b"|", b"[", rules.FUNCTION_CALL_BYTES, rules.ASCII_CHAR_REF)),
            _Step(_forbidden_elements, (b"oleObj", b"ontrol")), _ACTIVE, _DANGLING)),
    _Class(("drawing+xml", "controlproperties", "vmldrawing", "presentationml.slide",
            "presentationml.notesslide", "presentationml.handoutmaster",
            "presentationml.notesmaster"),
           (_FORBIDDEN, _ACTIVE, _DANGLING)),
)
_OTHER = _Class((), (_DANGLING,))
_PROLOG_DTD = re.compile(rb"(?:\xef\xbb\xbf)?(?>\s|<\?.*?\?>|<!--.*?-->)*+<!DOCTYPE", re.S)


def _class_of(content_type: str) -> _Class:
    try:
        return _class_cache[content_type]
    except KeyError:
        pass
    ct = content_type.lower()
    klass = next((k for k in _CLASSES if any(key in ct for key in k.content_types)), _OTHER)
    if len(_class_cache) < 1024:  # content types are few; a hostile file may vary them
        _class_cache[content_type] = klass
    return klass


# A memo of a pure function of the content type, not state about a file: the answer
# is the same whichever package named the type, and the size is capped above.
_class_cache: dict[str, _Class] = {}
