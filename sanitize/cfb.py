"""Compound File Binary (OLE2 / MS-CFB) reading into a tree, and our own writer.

olefile reads compound files but cannot add or delete entries, so the disarm of
.doc/.xls/.ppt reads the file into an in-memory tree of ``Node`` (``read_tree``),
drops what is unsafe, and writes a brand-new file from the tree (``write_cfb``).
Writing anew also means nothing of the original survives in free sectors, orphan
directory entries or slack space.

Reading has three routes to one tree.  ``scan`` parses a plain file (under 6.8 MB,
no defect olefile would complain of) without olefile, and ``read_tree`` slices its
streams out of the input along the FAT/MiniFAT (``_Chains``); whatever ``scan`` is
unsure of is opened by olefile (``open_ole``) and read the same way along the tables
olefile parsed (``read_tree(ole, data=...)``).  olefile's own stream reader, sector
by sector in Python, is the third route (``read_tree(ole)``): several times slower,
kept as the reference the others are tested against.

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

import codecs
import functools
import io
import struct
import sys
import uuid
from array import array
from dataclasses import dataclass
from typing import Callable, Iterable

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

# (first sector, size) -> the stream's bytes; raises on a broken chain.
_StreamReader = Callable[[int, int], bytes]


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


# Memos of pure functions of a name, not state about a file: the answer is the same
# whichever file the name came from, and a file with many names only evicts others.
@functools.lru_cache(maxsize=4096)  # the same few dozen names come in every file
def sort_key(name: str) -> tuple[int, tuple[int, ...]]:
    """MS-CFB 2.6.4 order: shorter name first, then upper-cased code units."""
    raw = name.encode("utf-16-le", "surrogatepass")
    units = struct.unpack(f"<{len(raw) // 2}H", raw)
    return len(units), tuple(_upper_unit(u) for u in units)


@functools.lru_cache(maxsize=4096)  # as sort_key: the same names again and again
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


# 1, 2, 3, ...: the FAT entries of a contiguous chain, sliced rather than built from a
# range entry by entry (bench/NOTES-sanitize.md).  Not state about any file: only its
# length depends on the input, and it holds the same numbers whoever grew it.
_successors = array("I", range(1, 4097))


def _next_sectors(start: int, stop: int) -> array:
    """array('I', range(start + 1, stop + 1)): a contiguous chain's FAT entries."""
    global _successors
    if stop > len(_successors):
        _successors = array("I", range(1, max(stop, 2 * len(_successors)) + 1))
    return _successors[start:stop]


def _chain(fat: array, start: int, count: int) -> None:
    """Mark ``count`` contiguous sectors from ``start`` as one chain."""
    if count:
        fat[start:start + count - 1] = _next_sectors(start, start + count - 1)
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


def read_tree(source: olefile.OleFileIO | Scan, *, max_entries: int, max_total_bytes: int,
              max_stream_bytes: int, max_depth: int = DEFAULT_MAX_DEPTH,
              data: bytes | None = None) -> Node:
    """The whole tree of ``source`` with every stream read, within the given limits.

    ``source`` is a file olefile opened or one ``scan`` parsed (the same tree, without
    olefile's cost).  With an olefile file and ``data`` (the very bytes it was opened
    from) streams are sliced out of ``data`` by ``_Chains``, following the FAT and
    MiniFAT olefile parsed; without it they are read through olefile's own stream
    reader (sector by sector, several times slower on an office-sized .doc).  A
    scanned file is always read by ``_Chains``.  All routes give the same tree, or
    block (``_Chains`` also blocks loops and cross-linked chains olefile reads).

    Raises ``Blocked("limit_exceeded")`` past a limit and ``Blocked("corrupt")`` for
    entries the writer could not reproduce faithfully (illegal or duplicate names)
    or broken sector chains.
    """
    budget = [max_entries, max_total_bytes]
    try:
        if isinstance(source, Scan):
            root, filesize, reader = source.root_entry, source.filesize, source.new_chains().read
        else:
            root, filesize = source.root, source._filesize
            if data is None:
                reader = _olefile_reader(source)
            else:
                if len(data) != filesize:
                    raise ValueError("data is not the buffer the compound file was opened from")
                reader = _Chains.of(source, data).read
        # a stream can never be longer than its file
        return _read_entry(root, [], budget, max_stream_bytes, max_depth, filesize, reader)
    except Blocked:
        raise
    except Exception as exc:
        raise Blocked("corrupt", f"compound file entry does not read: {exc}") from exc


def _olefile_reader(ole: olefile.OleFileIO) -> _StreamReader:
    def read(start: int, size: int) -> bytes:
        # By the entry, not by name: olefile looks names up with str.lower(), which
        # differs from the MS-CFB comparison for a few characters (K vs KELVIN SIGN).
        return ole._open(start, size).read()
    return read


class _Chains:
    """Streams sliced out of a compound file's bytes along its FAT and MiniFAT.

    olefile's OleStream seeks and reads every 512-byte sector in Python and joins
    them; here a run of consecutive sectors is one slice, and a chain that is one
    run (what Office and our writer usually write) is checked with one C-level
    comparison of the FAT against the expected successors.  Every check OleStream
    makes is kept, and one is added:

    * an empty stream must start at ENDOFCHAIN; a stream needs no more sectors than
      the FAT has; every sector number must be inside the FAT (ENDOFCHAIN, FREESECT
      and the other markers are not), so a chain that ends early is corrupt;
    * each sector must lie wholly in the file (only the bytes of the stream's last
      sector that the stream uses must be present): a stream longer than its file;
    * streams under the mini stream cutoff are read from the mini stream (the root
      entry's chain) along the MiniFAT, itself read as olefile does (its declared
      sectors, cut to the sectors the mini stream holds: a mini sector number past
      the mini stream is out of range);
    * added: no sector may be read twice, within a chain (a loop, which olefile's
      fixed-length loop only bounds) or across chains (two streams cross-linked):
      either is corrupt.  The walk is bounded by the sector count in any case.
    """

    __slots__ = ("data", "ss", "fat", "used", "cutoff", "mss", "minifat_start",
                 "n_minifat", "root_start", "root_size", "mini", "minifat", "mini_used")

    def __init__(self, data: bytes, ss: int, fat: array, *, minifat_start: int, n_minifat: int,
                 root_start: int, root_size: int, cutoff: int = MINI_CUTOFF,
                 mss: int = MINI_SECTOR) -> None:
        self.data = data if type(data) is bytes else bytes(data)  # slices must be bytes
        self.ss, self.fat, self.cutoff, self.mss = ss, fat, cutoff, mss
        self.used = bytearray(len(fat))
        self.minifat_start, self.n_minifat = minifat_start, n_minifat
        self.root_start, self.root_size = root_start, root_size
        self.mini: bytes | None = None
        self.minifat: array = array("I")
        self.mini_used = bytearray()

    @classmethod
    def of(cls, ole: olefile.OleFileIO, data: bytes) -> _Chains:
        """Along the tables olefile parsed from ``data``."""
        return cls(data, ole.sectorsize, ole.fat, minifat_start=ole.minifatsect,
                   n_minifat=ole.num_mini_fat_sectors, root_start=ole.root.isectStart,
                   root_size=ole.root.size, cutoff=ole.minisectorcutoff, mss=ole.minisectorsize)

    def pieces(self, start: int, size: int) -> tuple[bytes, list[tuple[int, int]]]:
        """The buffer a stream lies in (file or mini stream) and its (offset, length)
        pieces there, in order; Blocked("corrupt") if the chain is broken."""
        if size >= self.cutoff:
            return self.data, _chain_pieces(len(self.data), self.ss, self.ss, self.fat,
                                            self.used, start, size)
        if self.mini is None:
            self.mini = self._load_mini()
        return self.mini, _chain_pieces(len(self.mini), 0, self.mss, self.minifat,
                                        self.mini_used, start, size)

    def read(self, start: int, size: int) -> bytes:
        buf, pieces = self.pieces(start, size)
        if len(pieces) == 1:
            off, take = pieces[0]
            return buf[off:off + take]
        view = memoryview(buf)
        return b"".join([view[off:off + take] for off, take in pieces])

    def matches(self, start: int, size: int, expected: bytes) -> bool:
        """Whether the stream is ``expected``, compared in place (no copy)."""
        if len(expected) != size:
            return False
        buf, pieces = self.pieces(start, size)
        want, pos = memoryview(expected), 0
        for off, take in pieces:
            if not buf.startswith(want[pos:pos + take], off):
                return False
            pos += take
        return True

    def _load_mini(self) -> bytes:
        # As olefile.loadminifat and OleFileIO._open: the MiniFAT's declared sectors,
        # then the mini stream (the root entry's FAT chain), then the MiniFAT cut to
        # the mini sectors the mini stream holds.
        ss = self.ss
        nb_mini = -(-self.root_size // self.mss)
        stream_size = self.n_minifat * ss
        if nb_mini * 4 > stream_size:
            raise Blocked("corrupt", "mini stream larger than its MiniFAT")
        minifat = array("I", self._fat_chain(self.minifat_start, stream_size))
        if sys.byteorder == "big":
            minifat.byteswap()
        self.minifat = minifat[:nb_mini]
        self.mini_used = bytearray(len(self.minifat))
        return self._fat_chain(self.root_start, self.root_size)

    def _fat_chain(self, start: int, size: int) -> bytes:
        pieces = _chain_pieces(len(self.data), self.ss, self.ss, self.fat, self.used, start, size)
        view = memoryview(self.data)
        return b"".join([view[off:off + take] for off, take in pieces])


def _chain_pieces(buf_len: int, base: int, ss: int, fat: array, used: bytearray,
                  start: int, size: int) -> list[tuple[int, int]]:
    """(offset, length) of the pieces of ``size`` bytes along the chain from ``start``,
    where sector ``s`` starts at ``base + s*ss`` of a buffer of ``buf_len`` bytes
    (``used`` marks sectors already read); Blocked("corrupt") if the chain is broken."""
    if size == 0:
        if start != ENDOFCHAIN:
            raise Blocked("corrupt", "empty stream with a sector chain")
        return []
    n = -(-size // ss)
    nfat = len(fat)
    if n > nfat:
        raise Blocked("corrupt", "stream longer than the sector table")
    # The usual case: one run of consecutive sectors, checked in C.
    if start + n <= nfat and used.find(1, start, start + n) < 0 and \
            fat[start:start + n - 1] == _next_sectors(start, start + n - 1):
        used[start:start + n] = b"\x01" * n
        runs = [(start, n)]
    else:
        runs = []
        sect, run_start, run_len = start, start, 0
        for _ in range(n):
            if sect >= nfat:  # ENDOFCHAIN, FREESECT & co. are all >= 0xFFFFFFFA
                raise Blocked("corrupt", "sector chain ends early or leaves the sector table")
            if used[sect]:
                raise Blocked("corrupt", "sector chain loops or is shared by two streams")
            used[sect] = 1
            if sect == run_start + run_len:
                run_len += 1
            else:
                runs.append((run_start, run_len))
                run_start, run_len = sect, 1
            sect = fat[sect]
        runs.append((run_start, run_len))
    left = size
    pieces = []
    for first, count in runs:
        off = base + first * ss
        take = min(count * ss, left)
        if off + take > buf_len:
            raise Blocked("corrupt", "stream runs past the end of the file")
        pieces.append((off, take))
        left -= take
    return pieces


def _read_entry(entry: olefile.olefile.OleDirectoryEntry | _Dirent,
                path: list[str], budget: list[int], max_stream: int, max_depth: int,
                filesize: int, reader: _StreamReader) -> Node:
    if isinstance(entry, _Dirent):
        clsid = entry.raw_clsid
    else:
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
            kids.append(_read_entry(kid, path + [kid.name], budget, max_stream, max_depth,
                                    filesize, reader))
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
    data = reader(entry.isectStart, entry.size)
    if len(data) != entry.size:
        raise Blocked("corrupt", f"stream {'/'.join(path)!r} is shorter than declared")
    return Node(entry.name, False, data, (), clsid, entry.dwUserFlags,
                entry.createTime, entry.modifyTime)


# -- a quick look without olefile --------------------------------------------------------

_FREE_SLOTS = struct.pack("<I", FREESECT) * HEADER_DIFAT

# Past this many entries ``scan`` leaves the file to olefile (whose recursive tree walk
# may then fail on a degenerate tree: the answer must be the one olefile would give).
SCAN_MAX_ENTRIES = 200


class _Dirent:
    """A directory entry as ``scan`` reads it, with the attribute names of olefile's
    OleDirectoryEntry that ``_read_entry`` uses (``raw_clsid``: the on-disk bytes)."""

    __slots__ = ("name", "entry_type", "kids", "raw_clsid", "dwUserFlags", "createTime",
                 "modifyTime", "isectStart", "size", "sid_child")

    def __init__(self, fields: tuple, major: int) -> None:
        (raw, name_len, self.entry_type, _color, _left, _right, self.sid_child,
         self.raw_clsid, self.dwUserFlags, self.createTime, self.modifyTime,
         self.isectStart, size) = fields
        # codecs' C function: bytes.decode goes through a Python wrapper for UTF-16
        self.name = codecs.utf_16_le_decode(raw[:name_len - 2], "replace", True)[0]
        # olefile ignores the high half of the size with 512-byte sectors
        self.size = size & 0xFFFFFFFF if major == 3 else size
        self.kids: list[_Dirent] = []


@dataclass(frozen=True, slots=True)
class Scan:
    """What ``scan`` found: the root entry with its tree, and a reader of streams by
    (first sector, size) along the file's FAT and MiniFAT."""

    root_entry: _Dirent
    new_chains: Callable[[], _Chains]  # a reader with no sector read yet
    filesize: int

    @property
    def root(self) -> tuple[tuple[str, int, int, int], ...]:
        """The root's children as (name, type, first sector, size), by name."""
        return tuple((k.name, k.entry_type, k.isectStart, k.size) for k in self.root_entry.kids)

    def read(self, start: int, size: int) -> bytes:
        """One stream (a chain that crosses another stream's is only caught when both
        are read by one reader, as ``read_tree`` does)."""
        return self.new_chains().read(start, size)

    def matches(self, start: int, size: int, expected: bytes) -> bool:
        """Whether one stream is ``expected``, compared in place."""
        return self.new_chains().matches(start, size, expected)


def scan(data: bytes) -> Scan | None:
    """A strict, olefile-free parse of a plain compound file, or None when the file is
    not plain enough for it (then ask olefile).

    Readers made from the result share nothing that reading changes, so one scan may
    serve detect and then the rebuild (``sanitize.handover.Handover.scan``).

    An olefile open (a Python object per directory entry, a log call and a read per
    sector) costs more than the rest of a look at a .doc or .xls, and detect, the
    rebuild and the rebuild's re-read of its output each need one.  This reads the
    header, the FAT (no DIFAT: files under 6.8 MB), the directory chain and the
    directory tree, and answers only when olefile, even with DEFECT_INCORRECT, would
    open the file and build the very same tree:

    * the header fields olefile checks (signature, null CLSID, version and sector
      sizes, byte order, reserved fields, mini stream cutoff);
    * FAT sector numbers inside the file and the unused header slots FREESECT
      (olefile reads FAT sectors up to the first FREESECT, not ``num_fat``);
    * a directory chain of whole sectors that ends in ENDOFCHAIN without a loop;
    * every entry reached once, inside the directory, of type storage or stream
      (root only at 0), a name length of 2..64 (even), no two siblings whose names
      are equal in lower case, no stream with children, and no two streams starting
      at the same sector (nor at the directory's or MiniFAT's): olefile's checks;
    * at most SCAN_MAX_ENTRIES entries.

    Anything else -> None.  Stream chains are checked when a stream is read.
    """
    n = len(data)
    if n < SECTOR or data[:8] != MAGIC:
        return None
    (_magic, hdr_clsid, _minor, major, order, shift, mshift, reserved, n_dir, n_fat, dir_start,
     _sig, cutoff, minifat_start, n_minifat, _difat_start, n_difat) = _HEADER.unpack_from(data)
    if (major, shift) not in ((3, 9), (4, 12)) or order != 0xFFFE or mshift != 6 \
            or cutoff != MINI_CUTOFF or reserved != bytes(6) or hdr_clsid != NULL_CLSID \
            or n_difat or (major == 3 and n_dir) or not 0 < n_fat <= HEADER_DIFAT:
        return None
    ss = 1 << shift
    nb_sect = -(-n // ss) - 1
    slots = array("I", data[_HEADER.size:SECTOR])
    if sys.byteorder == "big":
        slots.byteswap()
    fat_ids = slots[:n_fat]
    last = max(fat_ids)
    if data[_HEADER.size + 4 * n_fat:SECTOR] != _FREE_SLOTS[4 * n_fat:] or last >= nb_sect \
            or (last + 2) * ss > n:
        return None
    view = memoryview(data)
    fat = array("I", b"".join([view[(i + 1) * ss:(i + 2) * ss] for i in fat_ids]))
    if sys.byteorder == "big":
        fat.byteswap()
    del fat[nb_sect:]
    # The directory: a chain of unknown length, to ENDOFCHAIN.
    nfat, sect, dir_ids = len(fat), dir_start, []
    seen = bytearray(nfat)
    while sect != ENDOFCHAIN:
        if sect >= nfat or seen[sect] or (sect + 2) * ss > n:
            return None
        seen[sect] = 1
        dir_ids.append(sect)
        sect = fat[sect]
    directory = b"".join([view[(i + 1) * ss:(i + 2) * ss] for i in dir_ids])
    n_entries = len(directory) // DIR_ENTRY
    if not n_entries:
        return None
    fields = _DIRENTRY.unpack_from(directory, 0)
    if fields[2] != TYPE_ROOT or not 2 <= fields[1] <= 64 or fields[1] % 2:
        return None
    root = _Dirent(fields, major)
    # First sectors of the streams in the FAT and in the MiniFAT, as olefile's
    # _check_duplicate_stream (which lets the FAT's special values repeat).
    fat_starts: set[int] = set()
    mini_starts: set[int] = set()

    def fresh(starts: set[int], sect: int) -> bool:
        if starts is fat_starts and sect >= DIFSECT:
            return True
        if sect in starts:
            return False
        starts.add(sect)
        return True

    if not fresh(fat_starts, dir_start) or (n_minifat and not fresh(fat_starts, minifat_start)) \
            or (root.size and not fresh(fat_starts, root.isectStart)):
        return None
    reached = {0}
    storages = [(root, fields[6])]
    while storages:
        parent, child = storages.pop()
        names: set[str] = set()
        todo = [child]
        while todo:
            sid = todo.pop()
            if sid == NOSTREAM:
                continue
            if sid >= n_entries or sid in reached or len(reached) >= SCAN_MAX_ENTRIES:
                return None
            reached.add(sid)
            fields = _DIRENTRY.unpack_from(directory, sid * DIR_ENTRY)
            etype, name_len = fields[2], fields[1]
            if etype not in (TYPE_STORAGE, TYPE_STREAM) or not 2 <= name_len <= 64 \
                    or name_len % 2:
                return None
            e = _Dirent(fields, major)
            low = e.name.lower()
            if low in names:
                return None
            names.add(low)
            if etype == TYPE_STREAM and e.size and \
                    not fresh(mini_starts if e.size < MINI_CUTOFF else fat_starts, e.isectStart):
                return None
            parent.kids.append(e)
            todo.append(fields[5])
            todo.append(fields[4])
            if e.sid_child != NOSTREAM:
                if etype != TYPE_STORAGE:
                    return None  # olefile would give a stream children
                storages.append((e, e.sid_child))
        parent.kids.sort(key=lambda k: k.name)  # olefile's order
    return Scan(root, functools.partial(_Chains, data, ss, fat, minifat_start=minifat_start,
                                        n_minifat=n_minifat, root_start=root.isectStart,
                                        root_size=root.size), n)
