"""Compound File Binary (OLE2 / MS-CFB) reading into a tree, and our own writer.

olefile reads compound files but cannot add or delete entries, so the disarm of
.doc/.xls/.ppt reads the file into an in-memory tree of ``Node`` (``read_tree``),
drops what is unsafe, and writes a brand-new file from the tree (``write_cfb``).
Writing anew also means nothing of the original survives in free sectors, orphan
directory entries or slack space.

The writer produces version 3 files (512-byte sectors):

* header, then the data of streams >= 4096 bytes in regular sectors, the mini stream
  (streams < 4096 bytes in 64-byte mini sectors), the directory, the MiniFAT, the FAT
  and, when more than 109 FAT sectors are needed, the DIFAT sectors;
* every chain is contiguous, so a sector's FAT entry is simply its successor;
* the siblings of each storage form a red-black tree in the MS-CFB order (shorter
  name first, then code-unit-wise comparison of the upper-cased UTF-16 names).  We
  build it perfectly balanced by median split: every level but the deepest is full,
  and the nodes of the deepest level are coloured red when that level is partial,
  all others black.  So every path from a node to a leaf has the same number of black
  nodes and no red node has a red child: a valid red-black tree, not merely an
  "all black" one that readers are asked to tolerate.
* CLSIDs, state bits and both timestamps of every entry are kept as read.
"""

from __future__ import annotations

import io
import struct
import uuid
from array import array
from dataclasses import dataclass
from typing import Iterable

import olefile

from sanitize.report import Blocked

SECTOR = 512
MINI_SECTOR = 64
MINI_CUTOFF = 4096
ENTRIES_PER_FAT_SECTOR = SECTOR // 4
DIR_ENTRY = 128
HEADER_DIFAT = 109

FREESECT = 0xFFFFFFFF
ENDOFCHAIN = 0xFFFFFFFE
FATSECT = 0xFFFFFFFD
DIFSECT = 0xFFFFFFFC
NOSTREAM = 0xFFFFFFFF

TYPE_STORAGE = 1
TYPE_STREAM = 2
TYPE_ROOT = 5
RED, BLACK = 0, 1

NULL_CLSID = bytes(16)
MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ROOT_NAME = "Root Entry"
_ILLEGAL_NAME_CHARS = frozenset("/\\:!")
MAX_NAME_UNITS = 31  # UTF-16 code units, plus the terminating NUL = 64 bytes

# Structural limit of the reader: storages nested deeper than this are refused.
DEFAULT_MAX_DEPTH = 32

_DIRENTRY = struct.Struct("<64sHBBIII16sIQQIQ")
_HEADER = struct.Struct("<8s16sHHHHH6sIIIIIIIII")
assert _DIRENTRY.size == DIR_ENTRY and _HEADER.size + HEADER_DIFAT * 4 == SECTOR


@dataclass(frozen=True, slots=True)
class Node:
    """One directory entry: a storage (``children``) or a stream (``data``).

    The root is a storage named ``Root Entry``.  ``ctime``/``mtime`` are raw FILETIME
    integers, ``clsid`` the 16 raw bytes as stored on disk.
    """

    name: str
    is_storage: bool
    data: bytes = b""
    children: tuple[Node, ...] = ()
    clsid: bytes = NULL_CLSID
    state_bits: int = 0
    ctime: int = 0
    mtime: int = 0

    def child(self, name: str) -> Node | None:
        """The child named ``name`` (compared as MS-CFB does: case-insensitive)."""
        want = sort_key(name)
        for kid in self.children:
            if sort_key(kid.name) == want:
                return kid
        return None

    def walk(self, prefix: tuple[str, ...] = ()) -> Iterable[tuple[tuple[str, ...], Node]]:
        """(path, node) for every descendant, depth first."""
        for kid in self.children:
            path = prefix + (kid.name,)
            yield path, kid
            if kid.is_storage:
                yield from kid.walk(path)


def storage(name: str, children: Iterable[Node] = (), clsid: bytes = NULL_CLSID,
            state_bits: int = 0, ctime: int = 0, mtime: int = 0) -> Node:
    return Node(name, True, b"", tuple(children), clsid, state_bits, ctime, mtime)


def stream(name: str, data: bytes) -> Node:
    return Node(name, False, data=data)


def clsid_bytes(text: str) -> bytes:
    """The 16 on-disk bytes of a CLSID written ``0002CE02-0000-0000-C000-000000000046``."""
    return uuid.UUID(text).bytes_le


def clsid_text(raw: bytes) -> str:
    """Upper-case text form of on-disk CLSID bytes ('' for the null CLSID, as olefile)."""
    return "" if raw == NULL_CLSID else str(uuid.UUID(bytes_le=raw)).upper()


# -- the MS-CFB name order -------------------------------------------------------------

def _upper_unit(unit: int) -> int:
    # Simple (1:1) upper-casing per UTF-16 code unit; surrogates and characters whose
    # upper case is not one unit (ß -> SS) compare as themselves.
    if 0xD800 <= unit < 0xE000:
        return unit
    up = chr(unit).upper()
    return ord(up) if len(up) == 1 and ord(up) < 0x10000 else unit


def sort_key(name: str) -> tuple[int, tuple[int, ...]]:
    """MS-CFB 2.6.4 order: shorter name first, then upper-cased code units."""
    raw = name.encode("utf-16-le", "surrogatepass")
    units = struct.unpack(f"<{len(raw) // 2}H", raw)
    return len(units), tuple(_upper_unit(u) for u in units)


def check_name(name: str) -> str | None:
    """Why ``name`` may not be written as an entry name, or None if it may."""
    if not name:
        return "empty name"
    if len(name.encode("utf-16-le", "surrogatepass")) // 2 > MAX_NAME_UNITS:
        return "name longer than 31 UTF-16 units"
    if any(ch in _ILLEGAL_NAME_CHARS for ch in name) or "\0" in name:
        return "name contains / \\ : ! or NUL"
    return None


# -- writer ----------------------------------------------------------------------------

class _Entry:
    """Mutable working record of the writer (one per directory entry)."""

    __slots__ = ("node", "etype", "left", "right", "child", "color", "start", "size")

    def __init__(self, node: Node, etype: int) -> None:
        self.node = node
        self.etype = etype
        self.left = self.right = self.child = NOSTREAM
        self.color = BLACK
        self.start = ENDOFCHAIN if etype != TYPE_STORAGE else 0
        self.size = 0


def _balanced(ids: list[int], entries: list[_Entry], depth: int, red_depth: int) -> int:
    """Link ``ids`` (already in MS-CFB order) as a median-split tree; return its root."""
    if not ids:
        return NOSTREAM
    mid = len(ids) // 2
    me = entries[ids[mid]]
    me.color = RED if depth == red_depth else BLACK
    me.left = _balanced(ids[:mid], entries, depth + 1, red_depth)
    me.right = _balanced(ids[mid + 1:], entries, depth + 1, red_depth)
    return ids[mid]


def _flatten(root: Node) -> list[_Entry]:
    entries = [_Entry(root, TYPE_ROOT)]
    todo = [0]
    while todo:
        parent = entries[todo.pop()]
        kids = sorted(parent.node.children, key=lambda n: sort_key(n.name))
        ids: list[int] = []
        for i, kid in enumerate(kids):
            why = check_name(kid.name)
            if why:
                raise ValueError(f"cannot write entry {kid.name!r}: {why}")
            if i and sort_key(kids[i - 1].name) == sort_key(kid.name):
                raise ValueError(f"two siblings named {kid.name!r} (names are case-insensitive)")
            if not kid.is_storage and kid.children:
                raise ValueError(f"stream {kid.name!r} has children")
            ids.append(len(entries))
            entries.append(_Entry(kid, TYPE_STORAGE if kid.is_storage else TYPE_STREAM))
            if kid.is_storage:
                todo.append(ids[-1])
        n = len(ids)
        # Levels 0 .. full-1 are complete; the deepest level is partial unless n = 2^k-1.
        full = (n + 1).bit_length() - 1
        red_depth = full if (1 << full) - 1 != n else -1
        parent.child = _balanced(ids, entries, 0, red_depth)
    return entries


def _chain(fat: array, start: int, count: int) -> None:
    """Mark ``count`` contiguous sectors from ``start`` as one chain."""
    if count:
        fat[start:start + count - 1] = array("I", range(start + 1, start + count))
        fat[start + count - 1] = ENDOFCHAIN


def _sectors(nbytes: int, size: int = SECTOR) -> int:
    return -(-nbytes // size)


def write_cfb(root: Node) -> bytes:
    """A new version-3 compound file holding exactly the tree under ``root``.

    Raises ValueError for a tree that cannot be written (bad or duplicate names):
    that is the caller's misuse, since ``read_tree`` refuses such input first.
    """
    if not root.is_storage:
        raise ValueError("the root must be a storage")
    entries = _flatten(root)

    # Place stream data: big streams in regular sectors, small ones in the mini stream.
    big: list[_Entry] = []
    mini_parts: list[bytes] = []
    mini_sectors = 0
    minifat = array("I")
    for e in entries:
        if e.etype != TYPE_STREAM:
            continue
        size = len(e.node.data)
        e.size = size
        if size >= MINI_CUTOFF:
            big.append(e)
        elif size:
            n = _sectors(size, MINI_SECTOR)
            e.start = mini_sectors
            minifat.extend(range(mini_sectors + 1, mini_sectors + n))
            minifat.append(ENDOFCHAIN)
            mini_sectors += n
            mini_parts.append(e.node.data)
            mini_parts.append(bytes(n * MINI_SECTOR - size))

    next_sector = 0
    for e in big:
        e.start = next_sector
        next_sector += _sectors(e.size)
    ministream_bytes = mini_sectors * MINI_SECTOR
    ministream_start, n_ministream = next_sector, _sectors(ministream_bytes)
    next_sector += n_ministream
    if ministream_bytes:
        entries[0].start, entries[0].size = ministream_start, ministream_bytes
    dir_start, n_dir = next_sector, _sectors(len(entries) * DIR_ENTRY)
    next_sector += n_dir
    minifat_start, n_minifat = next_sector, _sectors(len(minifat) * 4)
    next_sector += n_minifat

    # The FAT must also describe its own sectors and the DIFAT's: grow until it fits.
    n_fat, n_difat = 1, 0
    while n_fat * ENTRIES_PER_FAT_SECTOR < next_sector + n_fat + n_difat:
        n_fat += 1
        n_difat = _sectors(max(0, n_fat - HEADER_DIFAT) * 4, SECTOR - 4)
    fat_start = next_sector
    difat_start = fat_start + n_fat
    total = difat_start + n_difat

    fat = array("I", [FREESECT]) * (n_fat * ENTRIES_PER_FAT_SECTOR)
    for e in big:
        _chain(fat, e.start, _sectors(e.size))
    _chain(fat, ministream_start, n_ministream)
    _chain(fat, dir_start, n_dir)
    _chain(fat, minifat_start, n_minifat)
    fat[fat_start:difat_start] = array("I", [FATSECT]) * n_fat
    fat[difat_start:total] = array("I", [DIFSECT]) * n_difat

    # Header with the first 109 FAT sector numbers; the rest go to DIFAT sectors.
    fat_ids = list(range(fat_start, difat_start))
    header_difat = array("I", fat_ids[:HEADER_DIFAT])
    header_difat.extend([FREESECT] * (HEADER_DIFAT - len(header_difat)))
    header = _HEADER.pack(
        MAGIC, NULL_CLSID, 0x003E, 0x0003, 0xFFFE, 9, 6, bytes(6),
        0, n_fat, dir_start, 0, MINI_CUTOFF,
        minifat_start if n_minifat else ENDOFCHAIN, n_minifat,
        difat_start if n_difat else ENDOFCHAIN, n_difat,
    ) + header_difat.tobytes()

    parts: list[bytes] = [header]
    for e in big:
        parts.append(e.node.data)
        pad = -e.size % SECTOR
        if pad:
            parts.append(bytes(pad))
    parts.extend(mini_parts)
    parts.append(bytes(n_ministream * SECTOR - ministream_bytes))
    parts.append(_directory(entries, n_dir))
    minifat.extend([FREESECT] * (n_minifat * ENTRIES_PER_FAT_SECTOR - len(minifat)))
    parts.append(minifat.tobytes())
    parts.append(fat.tobytes())
    rest = fat_ids[HEADER_DIFAT:]
    per = SECTOR // 4 - 1
    for i in range(n_difat):
        chunk = array("I", rest[i * per:(i + 1) * per])
        chunk.extend([FREESECT] * (per - len(chunk)))
        chunk.append(difat_start + i + 1 if i + 1 < n_difat else ENDOFCHAIN)
        parts.append(chunk.tobytes())
    out = b"".join(parts)
    assert len(out) == SECTOR * (total + 1)
    return out


def _directory(entries: list[_Entry], n_dir: int) -> bytes:
    out = bytearray()
    for e in entries:
        node = e.node
        name = ROOT_NAME if e.etype == TYPE_ROOT else node.name
        raw = name.encode("utf-16-le", "surrogatepass")
        out += _DIRENTRY.pack(
            raw, len(raw) + 2, e.etype, e.color, e.left, e.right, e.child,
            node.clsid, node.state_bits & 0xFFFFFFFF,
            node.ctime & 0xFFFFFFFFFFFFFFFF, node.mtime & 0xFFFFFFFFFFFFFFFF,
            e.start, e.size,
        )
    unused = _DIRENTRY.pack(b"", 0, 0, 0, NOSTREAM, NOSTREAM, NOSTREAM, NULL_CLSID, 0, 0, 0, 0, 0)
    out += unused * (n_dir * (SECTOR // DIR_ENTRY) - len(entries))
    return bytes(out)


# -- reader ----------------------------------------------------------------------------

def open_ole(data: bytes) -> olefile.OleFileIO:
    """Parse ``data`` with olefile, strictly; any defect means ``Blocked("corrupt")``.

    Always through a BytesIO: olefile takes short ``bytes`` for a *file name*.
    DEFECT_INCORRECT makes olefile raise on broken chains instead of quietly
    returning truncated streams.
    """
    if data[:8] != MAGIC:
        raise Blocked("corrupt", "not a compound file")
    try:
        return olefile.OleFileIO(io.BytesIO(data), raise_defects=olefile.DEFECT_INCORRECT)
    except Exception as exc:  # olefile raises OSError, struct.error, IndexError, ...
        raise Blocked("corrupt", f"compound file does not parse: {exc}") from exc


def read_tree(ole: olefile.OleFileIO, *, max_entries: int, max_total_bytes: int,
              max_stream_bytes: int, max_depth: int = DEFAULT_MAX_DEPTH) -> Node:
    """The whole tree of ``ole`` with every stream read, within the given limits.

    Raises ``Blocked("limit_exceeded")`` past a limit and ``Blocked("corrupt")`` for
    entries the writer could not reproduce faithfully (illegal or duplicate names).
    """
    budget = [max_entries, max_total_bytes]
    filesize = ole._filesize  # a stream can never be longer than its file
    try:
        return _read_entry(ole, ole.root, [], budget, max_stream_bytes, max_depth, filesize)
    except Blocked:
        raise
    except Exception as exc:
        raise Blocked("corrupt", f"compound file entry does not read: {exc}") from exc


def _read_entry(ole: olefile.OleFileIO, entry: olefile.olefile.OleDirectoryEntry,
                path: list[str], budget: list[int], max_stream: int, max_depth: int,
                filesize: int) -> Node:
    clsid = clsid_bytes(entry.clsid) if entry.clsid else NULL_CLSID
    if entry.entry_type in (olefile.STGTY_STORAGE, olefile.STGTY_ROOT):
        if len(path) > max_depth:
            raise Blocked("limit_exceeded", f"storages nested deeper than {max_depth}")
        kids = []
        seen: set[tuple[int, tuple[int, ...]]] = set()
        for kid in entry.kids:
            why = check_name(kid.name)
            key = sort_key(kid.name)
            if why or key in seen:
                raise Blocked("corrupt", f"entry {'/'.join(path + [kid.name])!r}: {why or 'duplicate name'}")
            seen.add(key)
            budget[0] -= 1
            if budget[0] < 0:
                raise Blocked("limit_exceeded", "too many compound file entries")
            kids.append(_read_entry(ole, kid, path + [kid.name], budget, max_stream, max_depth, filesize))
        name = ROOT_NAME if entry.entry_type == olefile.STGTY_ROOT else entry.name
        return Node(name, True, b"", tuple(kids), clsid, entry.dwUserFlags,
                    entry.createTime, entry.modifyTime)
    if entry.entry_type != olefile.STGTY_STREAM:
        raise Blocked("corrupt", f"entry {'/'.join(path)!r} has type {entry.entry_type}")
    if entry.size > max_stream or entry.size > filesize:
        raise Blocked("limit_exceeded" if entry.size <= filesize else "corrupt",
                      f"stream {'/'.join(path)!r} declares {entry.size} bytes")
    budget[1] -= entry.size
    if budget[1] < 0:
        raise Blocked("limit_exceeded", "streams add up to more than the expansion limit")
    # By the entry, not by name: olefile looks names up with str.lower(), which
    # differs from the MS-CFB comparison for a few characters (K vs KELVIN SIGN).
    data = ole._open(entry.isectStart, entry.size).read()
    if len(data) != entry.size:
        raise Blocked("corrupt", f"stream {'/'.join(path)!r} is shorter than declared")
    return Node(entry.name, False, data, (), clsid, entry.dwUserFlags,
                entry.createTime, entry.modifyTime)
