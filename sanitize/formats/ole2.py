"""Legacy Office (Word .doc, Excel .xls, PowerPoint .ppt): rebuild the compound file.

The file is read into a tree (``sanitize.cfb``: without olefile for plain files,
through a strict olefile open otherwise), judged, stripped and written anew with our
own CFB writer; ``verify`` re-opens the output with olefile.  The main stream (WordDocument / Workbook / PowerPoint
Document) is carried over byte for byte; everything we cannot neutralise without
rewriting it is blocked instead:

* other compound files (MSI, Visio, Outlook .msg, bare OLE objects): ``unsupported_kind``;
* Word FIB fEncrypted/fObfuscated, Excel FILEPASS, PowerPoint CryptSession10Container
  or an ``EncryptedSummary`` stream: ``encrypted``.  The default password
  (VelvetSweatshop) is not tried: that needs RC4/CryptoAPI decryption (not done);
* Excel: OBPROJ (the workbook references a VBA project), macro or VBA-module sheets,
  macro names (Auto_Open & co., fFunc/fProc/fOB names), DDE/OLE external names and
  external-workbook SUPBOOKs: ``macro_needs_rewrite``.  Removing OBPROJ means
  shifting every absolute offset in the stream (BOUNDSHEET, INDEX, EXTSST), i.e. BIFF
  rewriting, which we do not do.  So a workbook whose only active part is a VBA
  project is *blocked* (OBPROJ remains); a VBA storage without OBPROJ (Excel never
  loads it) is simply dropped;
* Word: acting field instructions in the text (``ooxml_rules.ACTING_FIELDS``: DDE,
  INCLUDETEXT, MACROBUTTON, a HYPERLINK to a file, …, and fields whose name a nested
  field builds): ``macro_needs_rewrite`` (same reason: dropping an instruction means
  rewriting the piece table and field tables);
* Excel: formulas that reach out (``ooxml_rules.ACTING_FUNCTIONS``): in defined names,
  as "_xlfn."/add-in names of the newer functions (WEBSERVICE, IMAGE, …), and in cell,
  shared and array formulas calling RTD or a HYPERLINK whose target is not a
  literal http(s)/mailto URL: ``macro_needs_rewrite`` (replacing a FORMULA
  record by its cached value changes record sizes, hence BIFF rewriting);
* PowerPoint: embedded OLE storages (ExOleObjStg), VBA (VBAInfo), ActiveX (ExControl),
  linked OLE and "run program / macro / OLE verb" actions inside the PowerPoint
  Document stream: ``active_content``.

Removed storages/streams are listed in ``_FORBIDDEN_NAMES`` and ``FORBIDDEN_CLSIDS``.
Word has no FIB bit that enables VBA: Word 97+ loads macros only from the ``Macros``
storage, so dropping it is enough and the FIB stays untouched (byte-identical main
stream).  In ``\\x05SummaryInformation`` the template (PIDSI_TEMPLATE, 7) and comments
(PIDSI_COMMENTS, 6) properties are cut out of the property set; a property set we
cannot parse is dropped whole (and reported).
"""

from __future__ import annotations

import dataclasses
import io
import re
import struct
from typing import TYPE_CHECKING, Iterable, Iterator

import olefile

from sanitize import cfb
from sanitize.formats import Context, ole2_pictures
from sanitize.formats import ooxml_rules as rules
from sanitize.report import Blocked, Rebuilt, Removed, VerifyFailed

if TYPE_CHECKING:
    from sanitize.handover import Handover

KINDS = frozenset({"doc", "xls", "ppt"})

# Root stream -> kind (names compared case-insensitively).
MAIN_STREAMS = {"worddocument": "doc", "workbook": "xls", "book": "xls",
                "powerpoint document": "ppt"}

# Storage or stream names removed wherever they are (lower case) -> removed code.
_FORBIDDEN_NAMES = {
    "macros": "ole2.macros",  # Word VBA project
    "_vba_project_cur": "ole2.macros",  # Excel VBA project
    "_vba_project": "ole2.macros",
    "vba": "ole2.macros",
    "project": "ole2.macros",
    "projectwm": "ole2.macros",
    "\x05digitalsignature": "ole2.macros",  # VBA signature, meaningless without it
    "\x05msodigitalsignature": "ole2.macros",
    "objectpool": "ole2.embedded_object",  # Word embedded / linked OLE objects
    "ctls": "ole2.activex",  # Excel ActiveX control data
    "\x01ole10native": "ole2.embedded_object",  # OLE 1.0 Package payload
    "\x01ole": "ole2.embedded_object",  # OLE link / moniker data
}
_FORBIDDEN_PREFIXES = {"mbd": "ole2.embedded_object"}  # Excel/PPT embedding storages
_NESTED_ONLY = {"\x01compobj": "ole2.embedded_object"}  # the root's own is kept

# | CLSID | class | why |
# |---|---|---|
# | 0002CE02-0000-0000-C000-000000000046 | Equation Editor 3.0 | CVE-2017-11882, CVE-2018-0802 |
# | 0002CE03-0000-0000-C000-000000000046 | Equation Editor (MathType equation) | same component |
# | 00000300-0000-0000-C000-000000000046 | StdOleLink (OLE2Link) | CVE-2017-0199 remote link |
# | 00000303-0000-0000-C000-000000000046 | File moniker | links to local/UNC files |
# | 00000309-0000-0000-C000-000000000046 | Composite moniker | wraps the others |
# | 79EAC9E0-BAF9-11CE-8C82-00AA004BA90B | URL moniker | remote fetch |
# | 06290BD3-48AA-11D2-8432-006008C3FBFC | Script moniker (scriptlet) | CVE-2017-8570 |
# | 06290BD2-48AA-11D2-8432-006008C3FBFC | Scriptlet constructor | same family |
# | 3050F4D8-98B5-11CF-BB82-00AA00BDCE0B | HTA (htafile) | runs script |
# | 25336920-03F9-11CF-8FD0-00AA00686F13 | HTML document | script host |
# | 0003000C-0000-0000-C000-000000000046 | Packager (Package) | drops/launches files |
# | F20DA720-C02F-11CE-927B-0800095AE340 | OLE Package | same |
# | BDD1F04B-858B-11D1-B16A-00C0F0283628 | MSCOMCTL ListView | CVE-2012-0158 |
# | C74190B6-8589-11D1-B16A-00C0F0283628 | MSCOMCTL TreeView | CVE-2012-0158 |
# | 35053A22-8589-11D1-B16A-00C0F0283628 | MSCOMCTL ProgressBar | common controls |
# | 2C247F23-8591-11D1-B16A-00C0F0283628 | MSCOMCTL ImageList | common controls |
# | 1EFB6596-857C-11D1-B16A-00C0F0283628 | MSCOMCTL TabStrip | common controls |
# | 66833FE6-8583-11D1-B16A-00C0F0283628 | MSCOMCTL Toolbar | common controls |
# | F08DF954-8592-11D1-B16A-00C0F0283628 | MSCOMCTL Slider | common controls |
# | 8E3867A3-8586-11D1-B16A-00C0F0283628 | MSCOMCTL StatusBar | common controls |
# | D27CDB6E-AE6D-11CF-96B8-444553540000 | Shockwave Flash | CVE-2018-4878 |
# | EAB22AC3-30C1-11CF-A7EB-0000C05BAE0B | Shell.Explorer (WebBrowser) | remote content |
FORBIDDEN_CLSIDS = frozenset({
    "0002CE02-0000-0000-C000-000000000046", "0002CE03-0000-0000-C000-000000000046",
    "00000300-0000-0000-C000-000000000046", "00000303-0000-0000-C000-000000000046",
    "00000309-0000-0000-C000-000000000046", "79EAC9E0-BAF9-11CE-8C82-00AA004BA90B",
    "06290BD3-48AA-11D2-8432-006008C3FBFC", "06290BD2-48AA-11D2-8432-006008C3FBFC",
    "3050F4D8-98B5-11CF-BB82-00AA00BDCE0B", "25336920-03F9-11CF-8FD0-00AA00686F13",
    "0003000C-0000-0000-C000-000000000046", "F20DA720-C02F-11CE-927B-0800095AE340",
    "BDD1F04B-858B-11D1-B16A-00C0F0283628", "C74190B6-8589-11D1-B16A-00C0F0283628",
    "35053A22-8589-11D1-B16A-00C0F0283628", "2C247F23-8591-11D1-B16A-00C0F0283628",
    "1EFB6596-857C-11D1-B16A-00C0F0283628", "66833FE6-8583-11D1-B16A-00C0F0283628",
    "F08DF954-8592-11D1-B16A-00C0F0283628", "8E3867A3-8586-11D1-B16A-00C0F0283628",
    "D27CDB6E-AE6D-11CF-96B8-444553540000", "EAB22AC3-30C1-11CF-A7EB-0000C05BAE0B",
})

# The same CLSIDs as on-disk bytes, for the rebuild (no text conversion per entry).
_FORBIDDEN_CLSID_BYTES = frozenset(cfb.clsid_bytes(c) for c in FORBIDDEN_CLSIDS)

SUMMARY_INFO = "\x05SummaryInformation"
_SUMMARY_LOW = SUMMARY_INFO.lower()
PIDSI_COMMENTS, PIDSI_TEMPLATE = 6, 7
_SUMMARY_CODES = {PIDSI_COMMENTS: "ole2.summary_comments", PIDSI_TEMPLATE: "ole2.summary_template"}


def rebuild(data: bytes, kind: str, ctx: Context) -> Rebuilt:
    if len(data) > ctx.cfg.max_input_bytes:
        raise Blocked("too_large", f"{len(data)} bytes")
    limits = {"max_entries": ctx.cfg.max_archive_entries,
              "max_total_bytes": ctx.cfg.max_expanded_bytes,
              "max_stream_bytes": ctx.cfg.max_entry_bytes}
    # cfb.scan reads a plain file as olefile would, without olefile's cost (and detect
    # left its scan in the handover); what it is unsure of (DIFAT, odd directories,
    # defects) goes through olefile, strictly.
    found = ctx.handover.scan(data)
    if found is not None:
        root = cfb.read_tree(found, **limits)
    else:
        ole = cfb.open_ole(data)
        try:
            root = cfb.read_tree(ole, **limits, data=data)
        finally:
            ole.close()
    actual, main = classify(root)
    if root.clsid in _FORBIDDEN_CLSID_BYTES:
        raise Blocked("active_content", f"root class {cfb.clsid_text(root.clsid)}")
    _JUDGES[actual](root, main.data)
    removed: list[Removed] = []
    kept = _strip(root, (), removed)
    kept = _scrub_summary(kept, removed)
    kept, main = _rebuild_pictures(kept, actual, main, ctx, removed)
    try:
        out = cfb.write_cfb(kept)
    except ValueError as exc:  # read_tree refuses what the writer cannot write
        raise Blocked("corrupt", str(exc)) from exc
    _check_main_stream(out, main, ctx.handover)
    return Rebuilt(out, actual, tuple(removed))


def _rebuild_pictures(root: cfb.Node, kind: str, main: cfb.Node, ctx: Context,
                      removed: list[Removed]) -> tuple[cfb.Node, cfb.Node]:
    """Every JPEG and PNG picture rebuilt in place, at the same size
    (``ole2_pictures``); (the new root, the new main stream)."""
    changed, found = ole2_pictures.rebuild_streams(
        ((path, node.data) for path, node in root.walk() if not node.is_storage), kind, ctx)
    if not changed:
        return root, main
    removed.extend(found)

    def renew(node: cfb.Node, path: tuple[str, ...]) -> cfb.Node:
        if not node.is_storage:
            data = changed.get(path)
            return node if data is None else dataclasses.replace(node, data=data)
        return dataclasses.replace(node, children=tuple(renew(k, path + (k.name,))
                                                        for k in node.children))

    root = renew(root, ())
    new_main = root.child(main.name)
    assert new_main is not None
    return root, new_main


def _check_main_stream(out: bytes, main: cfb.Node, handover: Handover | None = None) -> None:
    """The main stream (with its pictures rebuilt in place) must come out byte for
    byte (``verify`` never sees the input, so this half of the check lives here).

    A fidelity check of our writer, not a safety one: the output is read back by
    ``cfb.scan`` (header, FAT, directory tree and chains parsed from the bytes, not
    from the writer's bookkeeping), which costs far less than an olefile open; olefile
    reads files over 6.8 MB, which ``scan`` leaves alone.  That olefile finds the
    main stream in the output is ``verify``'s part.  The scan is left in the job's
    ``handover``, where verify, given these very bytes, finds it (one parse of the
    output's header, FAT and directory, not two: ~10 µs of a 117 KB workbook's ~0.4 ms).
    """
    found = handover.scan(out) if handover is not None else cfb.scan(out)
    if found is None:  # over 6.8 MB (a DIFAT), which scan leaves to olefile
        try:
            with olefile.OleFileIO(io.BytesIO(out), raise_defects=olefile.DEFECT_INCORRECT) as ole:
                same = ole.openstream(main.name).read() == main.data
        except Exception as exc:
            raise VerifyFailed(f"output does not re-open: {exc}") from exc
        if not same:
            raise VerifyFailed(f"{main.name} differs from the input")
        return
    hits = [(start, size) for name, etype, start, size in found.root
            if name == main.name and etype == cfb.TYPE_STREAM]
    if len(hits) != 1:
        raise VerifyFailed(f"output has {len(hits)} {main.name} streams")
    try:
        same = found.matches(*hits[0], main.data)
    except Blocked as exc:
        raise VerifyFailed(f"{main.name} does not read back: {exc}") from exc
    if not same:
        raise VerifyFailed(f"{main.name} differs from the input")


def classify(root: cfb.Node) -> tuple[str, cfb.Node]:
    """(kind, main stream) from the root streams; anything else is unsupported."""
    found = [(MAIN_STREAMS[k.name.lower()], k) for k in root.children
             if not k.is_storage and k.name.lower() in MAIN_STREAMS]
    kinds = {kind for kind, _ in found}
    if len(kinds) != 1:
        names = ", ".join(repr(k.name) for k in root.children[:8])
        raise Blocked("unsupported_kind",
                      "compound file with several main streams" if kinds
                      else f"compound file that is not Word/Excel/PowerPoint ({names})")
    if len(found) > 1:  # Workbook and Book both present: which one Excel reads is unclear
        raise Blocked("unsupported_kind", "both Workbook and Book streams")
    return found[0]


# -- removal ----------------------------------------------------------------------------

def _forbidden(path: tuple[str, ...], node: cfb.Node) -> str | None:
    """The removed code for ``node`` at ``path``, or None to keep it."""
    low = node.name.lower()
    if low in _FORBIDDEN_NAMES:
        return _FORBIDDEN_NAMES[low]
    if len(path) > 1 and low in _NESTED_ONLY:
        return _NESTED_ONLY[low]
    if node.is_storage:
        for prefix, code in _FORBIDDEN_PREFIXES.items():
            if low.startswith(prefix):
                return code
        if node.clsid in _FORBIDDEN_CLSID_BYTES:
            return "ole2.dangerous_clsid"
    return None


def _strip(node: cfb.Node, path: tuple[str, ...], removed: list[Removed]) -> cfb.Node:
    kids = []
    for kid in node.children:
        kid_path = path + (kid.name,)
        code = _forbidden(kid_path, kid)
        if code:
            detail = "/".join(kid_path)
            if code == "ole2.dangerous_clsid":
                detail += f" {{{cfb.clsid_text(kid.clsid)}}}"
            removed.append(Removed(code, detail))
        elif kid.is_storage:
            kids.append(_strip(kid, kid_path, removed))
        else:
            kids.append(kid)
    if len(kids) == len(node.children) and all(a is b for a, b in zip(kids, node.children)):
        return node  # nothing removed below: the same node
    return dataclasses.replace(node, children=tuple(kids))


def _scrub_summary(root: cfb.Node, removed: list[Removed]) -> cfb.Node:
    si = root.child(SUMMARY_INFO)
    if si is None or si.is_storage:
        return root
    try:
        new, dropped = drop_properties(si.data, (PIDSI_COMMENTS, PIDSI_TEMPLATE))
    except (ValueError, struct.error):
        removed.append(Removed("ole2.summary_information", "unparseable property set dropped"))
        return _replace_child(root, si, None)
    if not dropped:
        return root
    removed.extend(Removed(_SUMMARY_CODES[pid], SUMMARY_INFO[1:]) for pid in dropped)
    return _replace_child(root, si, dataclasses.replace(si, data=new))


def _replace_child(parent: cfb.Node, old: cfb.Node, new: cfb.Node | None) -> cfb.Node:
    """``parent`` with ``old`` replaced by ``new`` (or dropped when ``new`` is None)."""
    kids: list[cfb.Node] = []
    for kid in parent.children:
        if kid is not old:
            kids.append(kid)
        elif new is not None:
            kids.append(new)
    return dataclasses.replace(parent, children=tuple(kids))


def drop_properties(data: bytes, pids: Iterable[int]) -> tuple[bytes, list[int]]:
    """Cut ``pids`` out of the first section of a property set stream (MS-OLEPS).

    A property's bytes run from its offset to the next property's offset (or the end
    of the section), so kept properties are copied verbatim at new offsets.
    Returns (new stream, pids actually removed).  Raises ValueError when malformed.
    """
    order, _version, _sysid, _clsid, nsets = struct.unpack_from("<HHI16sI", data, 0)
    if order != 0xFFFE or nsets < 1 or nsets > 2:
        raise ValueError("not a property set stream")
    fmtid, sec_off = struct.unpack_from("<16sI", data, 28)
    sec_size, count = struct.unpack_from("<II", data, sec_off)
    sec_end = sec_off + sec_size
    if sec_end > len(data) or count > (sec_size - 8) // 8:
        raise ValueError("section out of range")
    pairs = [struct.unpack_from("<II", data, sec_off + 8 + 8 * i) for i in range(count)]
    starts = sorted({off for _, off in pairs} | {sec_size})
    if starts[0] < 8 + 8 * count or starts[-1] > sec_size:
        raise ValueError("property offset out of range")
    drop = set(pids)
    gone = sorted({pid for pid, _ in pairs if pid in drop})
    if not gone:
        return data, []
    if nsets != 1:
        # A second section (user-defined properties) would move too: keep it simple.
        raise ValueError("two sections")
    kept = [(pid, off) for pid, off in pairs if pid not in drop]
    body = bytearray()
    table = bytearray()
    base = 8 + 8 * len(kept)
    for pid, off in kept:
        end = starts[starts.index(off) + 1]
        table += struct.pack("<II", pid, base + len(body))
        body += data[sec_off + off:sec_off + end]
    section = struct.pack("<II", 8 + len(table) + len(body), len(kept)) + table + body
    return data[:sec_off] + section, gone


# -- per-kind judges of the main stream -------------------------------------------------

def _spelled(word: str) -> bytes:
    """``word`` as it appears in 8-bit or UTF-16LE text (a NUL after each letter)."""
    return b"\x00?".join(re.escape(c.encode()) for c in word)


_WS = rb"[\x00 \t\r\n]*"
# A field begin (0x13) followed by an acting field's name, or by a nested field begin
# inside the first word (a name built at run time).  HYPERLINK is a candidate that
# _acting_word_field judges by its target.
_WORD_LINK_FIELD = re.compile(
    rb"\x13" + _WS + rb'(?:"\x00?)?(?:(?:'
    + b"|".join(_spelled(w) for w in sorted(rules.ACTING_FIELDS, key=len, reverse=True))
    + rb")(?!\x00?[A-Za-z])|(?:[A-Za-z]\x00?){0,16}\x13" + _WS + rb"[A-Za-z]\x00?[A-Za-z])",
    re.IGNORECASE)
_INSTRUCTION_BYTES = 2048  # enough of an instruction to judge a HYPERLINK target


def _link_field(main: bytes, pos: int = 0) -> re.Match[bytes] | None:
    """``_WORD_LINK_FIELD.search(main, pos)``, faster: re looks for the field-begin byte
    far more slowly than memchr (bench/NOTES-sanitize.md), so find each
    \\x13 with bytes.find and match there (the leftmost match starts at one of them).
    Past a few dozen \\x13 bytes (text where it is common) re's own search goes on."""
    pos = main.find(b"\x13", pos)
    for _ in range(32):
        if pos < 0:
            return None
        m = _WORD_LINK_FIELD.match(main, pos)
        if m:
            return m
        pos = main.find(b"\x13", pos + 1)
    return None if pos < 0 else _WORD_LINK_FIELD.search(main, pos)


def _acting_word_field(main: bytes) -> str | None:
    """The instruction of the first acting field in Word text, or None."""
    pos = 0
    while (m := _link_field(main, pos)) is not None:
        start = m.start()
        wide = main[start + 1:start + 2] == b"\x00"
        raw = main[start + (2 if wide else 1):start + _INSTRUCTION_BYTES]
        text = raw.decode("utf-16-le" if wide else "cp1252", "replace")
        stop = min((i for i in (text.find("\x14"), text.find("\x15")) if i >= 0),
                   default=len(text))
        instr = text[:stop]
        computed = m.group().count(b"\x13") > 1
        if rules.acting_field(instr, computed, nested="\x13" in instr):
            return instr.replace("\x13", "{").strip()[:80]
        pos = m.end()
    return None


def _judge_doc(root: cfb.Node, main: bytes) -> None:
    if len(main) < 0x20:
        raise Blocked("corrupt", "WordDocument shorter than its FIB")
    ident, nfib = struct.unpack_from("<HH", main, 0)
    flags = struct.unpack_from("<H", main, 0x0A)[0]
    if ident != 0xA5EC:
        raise Blocked("corrupt", f"WordDocument FIB wIdent {ident:#06x}")
    if nfib < 0xC0:
        # Word 6/95 keep WordBasic macros inside the main stream itself.
        raise Blocked("unsupported_kind", f"Word 6/95 or older document (nFib {nfib:#x})")
    if flags & 0x0100 or flags & 0x8000:  # fEncrypted, fObfuscated (XOR)
        raise Blocked("encrypted", "Word FIB fEncrypted")
    instr = _acting_word_field(main)
    if instr is not None:
        raise Blocked("macro_needs_rewrite", f"Word field {instr!r} in the text")


BIFF_BOF, BIFF_EOF, BIFF_FILEPASS, BIFF_OBPROJ = 0x0809, 0x000A, 0x002F, 0x00D3
BIFF_BOUNDSHEET, BIFF_NAME, BIFF_EXTERNNAME, BIFF_SUPBOOK = 0x0085, 0x0018, 0x0023, 0x01AE
_AUTO_NAMES = ("auto_open", "auto_close", "auto_activate", "auto_deactivate")
_AUTO_BUILTINS = frozenset({0x01, 0x02, 0x0A, 0x0B})


def biff_records(stream: bytes) -> Iterable[tuple[int, int, bytes]]:
    """(offset, record type, payload) of a BIFF stream, in order; corrupt -> Blocked."""
    pos, end = 0, len(stream)
    while pos + 4 <= end:
        rtype, size = struct.unpack_from("<HH", stream, pos)
        if pos + 4 + size > end:
            raise Blocked("corrupt", f"BIFF record {rtype:#06x} at {pos} runs past the stream")
        yield pos, rtype, stream[pos + 4:pos + 4 + size]
        pos += 4 + size


# Globals records _judge_xls looks into; others (XF, FONT, SST, ... often thousands) it
# only steps over, without slicing their bodies.
_XLS_JUDGED = frozenset({BIFF_EOF, BIFF_FILEPASS, BIFF_OBPROJ, BIFF_BOUNDSHEET, BIFF_NAME,
                         BIFF_EXTERNNAME, BIFF_SUPBOOK})
_BIFF_HEAD = struct.Struct("<HH")


def _judge_xls(root: cfb.Node, main: bytes) -> None:
    first = next(iter(biff_records(main)), None)
    if first is None or first[1] not in (BIFF_BOF, 0x0409, 0x0209, 0x0009) or len(first[2]) < 4:
        raise Blocked("corrupt", "Workbook stream does not start with BOF")
    biff8 = struct.unpack_from("<H", first[2], 0)[0] == 0x0600
    # biff_records' walk, inlined and copying only judged payloads: the generator's
    # step and slice per record were most of the walk's cost.
    head, judged = _BIFF_HEAD.unpack_from, _XLS_JUDGED
    pos, end = 4 + len(first[2]), len(main)
    while pos + 4 <= end:
        rtype, size = head(main, pos)
        if pos + 4 + size > end:
            raise Blocked("corrupt", f"BIFF record {rtype:#06x} at {pos} runs past the stream")
        if rtype in judged:
            if rtype == BIFF_EOF:
                break  # end of the workbook globals: sheets follow
            if rtype == BIFF_FILEPASS:
                raise Blocked("encrypted", "Excel FILEPASS record")
            why = _biff_active(rtype, main[pos + 4:pos + 4 + size], biff8)
            if why:
                raise Blocked("macro_needs_rewrite", f"Excel {why} (record at {pos})")
        pos += 4 + size
    if biff8 and _may_call_acting(main, pos):
        why = _acting_cell_formula(main, pos)
        if why:
            raise Blocked("macro_needs_rewrite", f"Excel {why}")


def _biff_active(rtype: int, body: bytes, biff8: bool) -> str | None:
    """Why this globals record makes the workbook active, or None."""
    if rtype == BIFF_OBPROJ:
        return "OBPROJ: the workbook has a VBA project"
    if rtype == BIFF_BOUNDSHEET and len(body) >= 6 and body[5] in (0x01, 0x06):
        return "macro sheet" if body[5] == 0x01 else "VBA module sheet"
    if rtype == BIFF_NAME and len(body) >= 15:
        grbit, cch = struct.unpack_from("<H", body, 0)[0], body[3]
        if grbit & 0x000E:  # fFunc, fOB, fProc: the name is a macro
            return "macro name"
        raw = body[15:15 + 2 * cch] if biff8 and body[14] & 1 else body[14 + biff8:14 + biff8 + cch]
        text = raw.decode("utf-16-le" if biff8 and body[14] & 1 else "latin-1", "replace")
        if grbit & 0x0020 and raw[:1] and raw[0] in _AUTO_BUILTINS:
            return "Auto_Open/Auto_Close name"
        if text.lower().startswith(_AUTO_NAMES):
            return f"name {text!r}"
        if _acting_function_name(text):
            return f"name {text!r} (a function that reaches out)"
        if biff8:
            cce = struct.unpack_from("<H", body, 4)[0]
            start = 15 + len(raw)
            called = _formula_acting(body[start:start + cce], rules.ACTING_FUNCTION_NUMBERS)
            if called:
                return f"name {text!r} calls {called}"
    if rtype == BIFF_EXTERNNAME and (len(body) < 2 or struct.unpack_from("<H", body, 0)[0] & 0x001E):
        return "DDE/OLE link"
    if rtype == BIFF_EXTERNNAME and biff8 and len(body) >= 8:
        cch, high = body[6], body[7] & 1
        text = body[8:8 + cch * (1 + high)].decode("utf-16-le" if high else "latin-1", "replace")
        if _acting_function_name(text):
            return f"add-in name {text!r} (a function that reaches out)"
    if rtype == BIFF_SUPBOOK and len(body) >= 4:
        cch = struct.unpack_from("<H", body, 2)[0]
        if cch not in (0x0401, 0x3A01):  # not the self-reference, not add-in functions
            return "external workbook or DDE link"
    return None


# -- Excel formulas that reach out ----------------------------------------------------

# Size of each BIFF8 formula token (MS-XLS 2.5.198.25) by its byte with the class bits
# folded (0x40, 0x60 -> 0x20); ptgStr and ptgAttr are sized by their bodies.  A byte
# not listed (ptgExtended and reserved values) makes the formula unreadable.
_PTG_SIZES = {0x01: 5, 0x02: 5, **{t: 1 for t in range(0x03, 0x17)}, 0x1C: 2, 0x1D: 2,
              0x1E: 3, 0x1F: 9, 0x20: 8, 0x21: 3, 0x22: 4, 0x23: 5, 0x24: 5, 0x25: 9,
              0x26: 7, 0x27: 7, 0x28: 7, 0x29: 3, 0x2A: 5, 0x2B: 9, 0x2C: 5, 0x2D: 9,
              0x39: 7, 0x3A: 7, 0x3B: 11, 0x3C: 7, 0x3D: 11}
PTG_CONCAT, PTG_STR, PTG_ATTR, PTG_FUNC, PTG_FUNCVAR = 0x08, 0x17, 0x19, 0x21, 0x22
_ATTR_SPACE, _ATTR_CHOOSE = 0x40, 0x04
_FUNC_PREFIX = re.compile(r"(?i)^(?:_xl[a-z]*\.)+")
# Cell, shared and array formulas are judged for RTD and HYPERLINK, the functions that
# reach out from a worksheet cell in current Excel; the macro-sheet-only ones (EXEC,
# REGISTER, FOPEN, INITIATE, …) and CALL / REGISTER.ID (kept from worksheets since
# Excel 2003) act from macro sheets (blocked) and defined names (judged with the
# whole list, above).  Both take a variable number of arguments (the ranges Excel
# accepts), so BIFF8 writes their call as ptgFuncVar (any class), argument count,
# function number.
_CELL_ARGS = {"RTD": range(2, 31), "HYPERLINK": range(1, 3)}
_CELL_FUNCTIONS = {int(rules.ACTING_FUNCTIONS[name][0] or 0): name for name in _CELL_ARGS}
# Each number's low byte, found with bytes.find (memchr: far cheaper than walking
# every record, and than a two-byte search), then a look at the bytes around it.
_CELL_CALL_BYTES = tuple((bytes([n & 0xFF]), n >> 8, _CELL_ARGS[name])
                         for n, name in _CELL_FUNCTIONS.items())
_FUNCVAR_BYTES = frozenset({0x22, 0x42, 0x62})
# Sheet records holding a formula -> offset of its cce (the token bytes follow it).
_FORMULA_RECORDS = {0x0006: 20, 0x04BC: 8, 0x0221: 12}  # FORMULA, SHRFMLA, ARRAY


def _acting_function_name(name: str) -> bool:
    """A defined or add-in name that is a function reaching out ("_xlfn.WEBSERVICE")."""
    bare = _FUNC_PREFIX.sub("", name).upper()
    return bare != "HYPERLINK" and bare in rules.ACTING_FUNCTIONS


def _tokens(rgce: bytes) -> list[tuple[int, int]] | None:
    """(token, offset) of each token of a BIFF8 formula, class bits folded; None when
    a token is unknown or runs past the formula."""
    out: list[tuple[int, int]] = []
    pos, end = 0, len(rgce)
    while pos < end:
        ptg = rgce[pos]
        base = ptg if ptg < 0x20 else (ptg & 0x1F) | 0x20
        if base == PTG_STR:
            if pos + 3 > end:
                return None
            size = 3 + rgce[pos + 1] * (2 if rgce[pos + 2] & 1 else 1)
        elif base == PTG_ATTR:
            if pos + 4 > end:
                return None
            size = 4
            if rgce[pos + 1] & _ATTR_CHOOSE:
                size += 2 * (struct.unpack_from("<H", rgce, pos + 2)[0] + 1)
        else:
            size = _PTG_SIZES.get(base, 0)
            if not size:
                return None
        if pos + size > end:
            return None
        out.append((base, pos))
        pos += size
    return out


def _ptg_str(rgce: bytes, pos: int) -> str:
    cch, wide = rgce[pos + 1], rgce[pos + 2] & 1
    raw = rgce[pos + 3:pos + 3 + cch * (2 if wide else 1)]
    return raw.decode("utf-16-le" if wide else "latin-1", "replace")


def _formula_acting(rgce: bytes, functions: dict[int, str]) -> str | None:
    """The acting function a BIFF8 formula calls (of ``functions``), or None; an
    unreadable formula is named as such (fail closed)."""
    toks = _tokens(rgce)
    if toks is None:
        return "a formula the disarm cannot read"
    plain = [(t, p) for t, p in toks if not (t == PTG_ATTR and rgce[p + 1] & _ATTR_SPACE)]
    for i, (ptg, pos) in enumerate(plain):
        if ptg == PTG_FUNC:
            number = struct.unpack_from("<H", rgce, pos + 1)[0]
        elif ptg == PTG_FUNCVAR:
            number = struct.unpack_from("<H", rgce, pos + 2)[0]
            if number & 0x8000:
                continue  # a command equivalent: runs on macro sheets only
        else:
            continue
        name = functions.get(number)
        if name == "HYPERLINK" and _ordinary_hyperlink(rgce, plain, i):
            continue
        if name:
            return name
    return None


def _ordinary_hyperlink(rgce: bytes, plain: list[tuple[int, int]], call: int) -> bool:
    """The whole formula is HYPERLINK("http(s)://…" or "mailto:…" [&…], …), or
    HYPERLINK("#place", …): its first token a literal target, the call its last."""
    if call != len(plain) - 1 or plain[0][0] != PTG_STR:
        return False
    target = _ptg_str(rgce, plain[0][1])
    if target.startswith("#"):
        return plain[1][0] != PTG_CONCAT and not re.search(r"[\[\]\\/]", target)
    return rules.safe_link_target(target)


def _may_call_acting(main: bytes, start: int) -> bool:
    """Whether the sheets (from ``start``) may hold a call of a cell-acting function:
    its number right after a ptgFuncVar and an argument count it accepts."""
    end = len(main) - 1
    for low, high, args in _CELL_CALL_BYTES:
        i = main.find(low, max(start, 2), end)
        while i >= 0:
            if main[i + 1] == high and main[i - 2] in _FUNCVAR_BYTES and main[i - 1] in args:
                return True
            i = main.find(low, i + 1, end)
    return False


def _acting_cell_formula(main: bytes, pos: int) -> str | None:
    """Why a cell, shared or array formula of the sheets (from ``pos``) reaches out."""
    head, end = _BIFF_HEAD.unpack_from, len(main)
    while pos + 4 <= end:
        rtype, size = head(main, pos)
        if pos + 4 + size > end:
            raise Blocked("corrupt", f"BIFF record {rtype:#06x} at {pos} runs past the stream")
        at = _FORMULA_RECORDS.get(rtype)
        if at is not None and size >= at + 2:
            cce = struct.unpack_from("<H", main, pos + 4 + at)[0]
            body_end = pos + 4 + size
            start = pos + 4 + at + 2
            if start + cce > body_end:
                return f"formula record at {pos} runs past its record"
            called = _formula_acting(main[start:start + cce], _CELL_FUNCTIONS)
            if called:
                return f"formula at {pos} calls {called}"
        pos += 4 + size
    return None


PPT_ACTIVE = {0x1011: "embedded OLE storage (ExOleObjStg)", 0x0FCC: "embedded OLE object",
              0x0FCE: "linked OLE object", 0x03FF: "VBA project", 0x0400: "VBA project",
              0x0FEE: "ActiveX control"}
PPT_CRYPT = 0x2F14
PPT_INTERACTIVE_INFO = 0x0FF3
_PPT_BAD_ACTIONS = {1: "macro action", 2: "run-program action", 5: "OLE verb action"}


def _judge_ppt(root: cfb.Node, main: bytes) -> None:
    if root.child("EncryptedSummary") is not None:
        raise Blocked("encrypted", "PowerPoint EncryptedSummary stream")
    pos, end = 0, len(main)
    while pos + 8 <= end:
        ver_inst, rtype, size = struct.unpack_from("<HHI", main, pos)
        container = ver_inst & 0x000F == 0x000F
        if rtype == PPT_CRYPT:
            raise Blocked("encrypted", "PowerPoint CryptSession10Container")
        if rtype in PPT_ACTIVE:
            raise Blocked("active_content", f"PowerPoint {PPT_ACTIVE[rtype]} at {pos}")
        if pos + 8 + size > end:
            raise Blocked("corrupt", f"PowerPoint record {rtype:#06x} at {pos} runs past the stream")
        if rtype == PPT_INTERACTIVE_INFO and size >= 9 and main[pos + 16] in _PPT_BAD_ACTIONS:
            raise Blocked("active_content", f"PowerPoint {_PPT_BAD_ACTIONS[main[pos + 16]]} at {pos}")
        # Containers are transparent: step into them so every nested record is seen.
        pos += 8 if container else 8 + size


_JUDGES = {"doc": _judge_doc, "xls": _judge_xls, "ppt": _judge_ppt}


# -- verify: a separate, simpler re-open of the output ----------------------------------

def _streams_of(data: bytes, ole: olefile.OleFileIO,
                handover: Handover | None = None) -> Iterable[tuple[tuple[str, ...], bytes]]:
    """(path, bytes) of every stream of the output, read back from its bytes by
    ``cfb.scan`` (header, FAT, directory and chains parsed anew; olefile's stream
    reads cost several times more), or by olefile where scan leaves a file to it.
    The scan is the rebuild's of these same bytes when the handover holds it (a scan
    is a parse of the bytes, not of the rebuild's tree; every stream is read anew)."""
    found = handover.scan(data) if handover is not None else cfb.scan(data)
    if found is None:
        return [(tuple(p), ole.openstream(p).read()) for p in ole.listdir()]
    return _scanned_streams(found)


def _scanned_streams(found: cfb.Scan) -> Iterable[tuple[tuple[str, ...], bytes]]:
    chains = found.new_chains()
    todo = [((kid.name,), kid) for kid in found.root_entry.kids]
    while todo:
        path, entry = todo.pop()
        if entry.entry_type == cfb.TYPE_STREAM:
            yield path, chains.read(entry.isectStart, entry.size)
        else:
            todo.extend((path + (kid.name,), kid) for kid in entry.kids)

def verify(data: bytes, kind: str, ctx: Context) -> None:
    try:
        ole = olefile.OleFileIO(io.BytesIO(data), raise_defects=olefile.DEFECT_INCORRECT)
    except Exception as exc:
        raise VerifyFailed(f"output does not parse as a compound file: {exc}") from exc
    with ole:
        if ole.root.clsid in FORBIDDEN_CLSIDS:
            raise VerifyFailed(f"root class {ole.root.clsid}")
        # Every entry of olefile's own tree, parents before their children (so a
        # forbidden storage is met before anything inside it).
        todo: list[tuple[tuple[str, ...], olefile.olefile.OleDirectoryEntry]] = \
            [((kid.name,), kid) for kid in ole.root.kids]
        root_streams: set[str] = set()
        while todo:
            path, entry = todo.pop()
            low = path[-1].lower()
            storage = entry.entry_type == olefile.STGTY_STORAGE
            if not storage and entry.entry_type != olefile.STGTY_STREAM:
                raise VerifyFailed(f"entry {'/'.join(path)!r} of type {entry.entry_type} in output")
            if low in _FORBIDDEN_NAMES or (storage and low.startswith("mbd")) or \
                    (len(path) > 1 and low == "\x01compobj"):
                raise VerifyFailed(f"forbidden entry {'/'.join(path)!r} in output")
            if entry.clsid in FORBIDDEN_CLSIDS:
                raise VerifyFailed(f"forbidden class {entry.clsid} at {'/'.join(path)!r}")
            if storage:
                todo.extend((path + (kid.name,), kid) for kid in entry.kids)
            elif len(path) == 1:
                root_streams.add(low)
        want = {n for n, k in MAIN_STREAMS.items() if k == kind}
        if not root_streams & want:
            raise VerifyFailed(f"output has no {kind} main stream")
        summary: list[bytes] = []

        def streams() -> Iterator[tuple[tuple[str, ...], bytes]]:
            for path, stream in _streams_of(data, ole, ctx.handover):
                if len(path) == 1 and path[0].lower() == _SUMMARY_LOW:
                    summary.append(stream)
                yield path, stream

        ole2_pictures.check(streams(), kind)
        if summary:
            # The property table only, read as the rebuild cut it (olefile's
            # getproperties decodes every value: a tenth of a small .xls's disarm).
            try:
                _, left = drop_properties(summary[0], (PIDSI_COMMENTS, PIDSI_TEMPLATE))
            except (ValueError, struct.error) as exc:
                raise VerifyFailed(f"SummaryInformation does not parse: {exc}") from exc
            if left:
                raise VerifyFailed("SummaryInformation still has template/comments")
