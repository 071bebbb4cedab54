"""A ZIP reader that refuses hostile archives, and a deterministic ZIP writer.

Used by the OOXML module (every docx/xlsx/pptx is a ZIP) and by the ZIP archive
module.  The standard library's ``zipfile`` parses the central directory and inflates;
this module adds what it does not check (CDR.md "ZIP archives"):

* limits on entry count, per-entry and total expanded size, and expansion ratio,
  counted on the bytes actually produced while inflating (header sizes lie);
* overlapping entries (the quoted-overlap bomb, which Python 3.11.7's zipfile accepts):
  every entry's local header + data must lie in its own byte range, before the
  central directory;
* encrypted entries, compression methods other than stored/deflate;
* unsafe names: absolute, ``..``, drive letters and ``:``, backslashes, NUL and
  control characters, bidi overrides, symlinks and other special files, and names
  that collide after NFC + case folding (or that are both a file and a directory).

Names without the UTF-8 flag are decoded as cp932 (Japanese Windows' encoding); the
writer always stores UTF-8 (zipfile sets the flag for every non-ASCII name).

Any parse error is turned into ``Blocked``: nothing else escapes ``SafeZip``.
"""

from __future__ import annotations

import io
import re
import stat
import struct
import unicodedata
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sanitize.config import SanitizeConfig
from sanitize.report import Blocked

if TYPE_CHECKING:
    from sanitize.handover import Handover

# Entries smaller than this are never judged by their expansion ratio: a 100-byte
# XML part of repeated attributes may legitimately deflate 300:1.
RATIO_GRACE_BYTES = 1024 * 1024
# Inflate in chunks of this size so a bomb is caught after at most one chunk.
READ_CHUNK = 256 * 1024
# Output compression: zlib level 6 is zipfile's and Office's default.
COMPRESS_LEVEL = 6
# Members already compressed gain nothing from deflate: store them (saves CPU).
_STORED_SUFFIXES = (
    ".png", ".jpg", ".jpeg", ".gif", ".webp", ".zip", ".gz", ".mp3", ".mp4", ".m4a",
    ".docx", ".xlsx", ".pptx", ".docm", ".xlsm", ".pptm", ".jfif",
)
# The DOS epoch: used when a member has no time of its own (deterministic output).
EPOCH = (1980, 1, 1, 0, 0, 0)

_ENCRYPTION_FLAGS = 0x0001 | 0x0040 | 0x2000  # traditional, strong, central directory
_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")
_CD_SIGNATURE = b"PK\x01\x02"
_EOCD = struct.Struct("<4s4H2LH")
# C0/C1 controls, DEL, and bidi / invisible formatting characters (a name like
# "report\u202efdp.exe" displays as "reportexe.pdf").
_BAD_CHARS = re.compile(
    "[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff:\\\\]"
)
_ZIP_ERRORS = (
    zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, NotImplementedError,
    ValueError, struct.error, OSError, KeyError, IndexError, OverflowError, RuntimeError,
)


@dataclass(frozen=True, slots=True)
class Compressed:
    """An entry's stream exactly as inflated and checked by ``SafeZip.read``: the
    writer may copy it instead of deflating the same bytes again."""

    method: int
    crc: int
    stream: bytes


@dataclass(frozen=True, slots=True)
class Member:
    """One member to write (or as read): a directory when the name ends in ``/``.
    ``raw`` is the checked stream of ``data``; drop it (None) when ``data`` changes."""

    name: str
    data: bytes = b""
    date_time: tuple[int, int, int, int, int, int] = EPOCH
    raw: Compressed | None = None

    @property
    def is_dir(self) -> bool:
        return self.name.endswith("/")


@dataclass(frozen=True, slots=True)
class Entry:
    """A validated central-directory entry (nothing read yet)."""

    name: str
    compressed_size: int
    declared_size: int
    date_time: tuple[int, int, int, int, int, int]
    data_start: int  # offset of the entry's data (after its local header)
    info: zipfile.ZipInfo

    @property
    def is_dir(self) -> bool:
        return self.name.endswith("/")


def name_key(name: str) -> str:
    """The key under which two names are "the same file" on Windows/macOS disks."""
    if name.isascii():  # NFC leaves ASCII alone, and casefold() is lower() on it
        return name.lower()
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())


# Names made only of these ASCII characters, each component ending in one of them (so
# never empty, ".", ".." or ending in a dot or space), pass every test of check_name:
# the common case is decided by one match.  Anything else takes the long way.
_PLAIN_CHAR = r"[A-Za-z0-9_\-\[\]()+,;=@~!#$%&'{}^`]"
_PLAIN_COMPONENT = rf"{_PLAIN_CHAR}(?:[. ]*{_PLAIN_CHAR})*"  # disjoint classes: linear
_PLAIN_NAME = re.compile(rf"(?:{_PLAIN_COMPONENT}/)*{_PLAIN_COMPONENT}/?")


def check_name(name: str) -> None:
    """Raise Blocked("archive_unsafe_name") unless ``name`` is a plain relative path."""
    if _PLAIN_NAME.fullmatch(name):
        return

    def bad(why: str) -> Blocked:
        return Blocked("archive_unsafe_name", f"{why}: {name!r}")

    if not name or name.startswith("/"):
        raise bad("absolute or empty name")
    m = _BAD_CHARS.search(name)
    if m:
        raise bad(f"forbidden character U+{ord(m.group()):04X}")
    parts = name[:-1].split("/") if name.endswith("/") else name.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise bad("empty, '.' or '..' path component")
        if part != part.rstrip(" ."):
            # Windows strips trailing dots and spaces: "a.exe." becomes "a.exe".
            raise bad("trailing dot or space")


def _eocd_entry_bound(data: bytes) -> int | None:
    """An upper bound on the number of central-directory entries, found without
    building them (zipfile materialises every entry before we could count)."""
    pos = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))
    if pos < 0 or pos + _EOCD.size > len(data):
        return None
    _, _, _, _, total, size_cd, _, _ = _EOCD.unpack_from(data, pos)
    if total == 0xFFFF or size_cd == 0xFFFFFFFF:
        return data.count(_CD_SIGNATURE, 0, pos)  # zip64: count every signature
    return max(total, data.count(_CD_SIGNATURE, max(0, pos - size_cd), pos))


def open_zip(data: bytes) -> zipfile.ZipFile:
    """zipfile's reading of ``data`` (names without the UTF-8 flag as cp932).  Raises
    what zipfile raises.

    The central directory becomes a Python object per entry, a cost worth paying once
    per job: detect and the rebuild share one reading through the job's Handover."""
    return zipfile.ZipFile(io.BytesIO(data), metadata_encoding="cp932")


class SafeZip:
    """Validated view of a ZIP held in memory; ``read`` inflates under the limits.
    With the job's ``handover``, the central directory detect read is read no more."""

    def __init__(self, data: bytes, cfg: SanitizeConfig,
                 handover: Handover | None = None) -> None:
        self._data = data
        self._cfg = cfg
        self._total = 0
        bound = _eocd_entry_bound(data)
        if bound is not None and bound > cfg.max_archive_entries:
            raise Blocked("limit_exceeded", f"{bound} entries > {cfg.max_archive_entries}")
        try:
            zf = open_zip(data) if handover is None else handover.open_zip(data)
            infos = zf.infolist()
            start_dir: int = zf.start_dir
        except UnicodeDecodeError as exc:
            raise Blocked("archive_unsafe_name", f"undecodable entry name: {exc}") from exc
        except _ZIP_ERRORS as exc:
            raise Blocked("corrupt", f"zip: {exc}") from exc
        if len(infos) > cfg.max_archive_entries:
            raise Blocked("limit_exceeded", f"{len(infos)} entries > {cfg.max_archive_entries}")
        starts = self._check_overlap(infos, start_dir)
        self.entries = tuple(self._check(info, start) for info, start in zip(infos, starts))
        self._check_collisions()

    # -- structure -------------------------------------------------------------

    def _check(self, info: zipfile.ZipInfo, data_start: int) -> Entry:
        if info.flag_bits & _ENCRYPTION_FLAGS or info.compress_type == 99:
            raise Blocked("encrypted", f"entry {info.orig_filename!r} is encrypted")
        name = info.orig_filename  # zipfile's .filename silently cuts at NUL
        check_name(name)
        mode = info.external_attr >> 16
        if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise Blocked("archive_unsafe_name", f"symlink or special file: {name!r}")
        if info.compress_type not in _METHODS:
            raise Blocked("corrupt", f"compression method {info.compress_type} in {name!r}")
        cfg = self._cfg
        if info.file_size > cfg.max_entry_bytes:
            raise Blocked("archive_bomb", f"{name!r} declares {info.file_size} bytes")
        return Entry(name, info.compress_size, info.file_size, info.date_time, data_start, info)

    def _check_collisions(self) -> None:
        files: set[str] = set()
        dirs: set[str] = set()
        for e in self.entries:
            is_dir = e.name.endswith("/")
            key = name_key(e.name[:-1] if is_dir else e.name)
            if key in files or (not is_dir and key in dirs):
                raise Blocked("archive_unsafe_name", f"name collision: {e.name!r}")
            (dirs if is_dir else files).add(key)
        for key in files:  # "a" a file and "a/b" inside it
            i = key.find("/")
            while i >= 0:
                if key[:i] in files:
                    raise Blocked("archive_unsafe_name", f"file used as directory: {key!r}")
                i = key.find("/", i + 1)

    def _check_overlap(self, infos: list[zipfile.ZipInfo], start_dir: int) -> list[int]:
        """Each entry's local header and data must own their bytes (quoted-overlap bomb).
        Returns where each entry's data starts."""
        spans = []
        starts = []
        for info in infos:
            off = info.header_offset
            if off < 0 or off + _LOCAL_HEADER.size > len(self._data):
                raise Blocked("corrupt", f"local header of {info.orig_filename!r} out of range")
            fields = _LOCAL_HEADER.unpack_from(self._data, off)
            if fields[0] != b"PK\x03\x04":
                raise Blocked("corrupt", f"no local header for {info.orig_filename!r}")
            start = off + _LOCAL_HEADER.size + fields[9] + fields[10]
            starts.append(start)
            end = start + info.compress_size
            spans.append((off, end, info.orig_filename))
        spans.sort()
        prev_end = 0
        for start, end, name in spans:
            if start < prev_end:
                raise Blocked("archive_bomb", f"overlapping entries at {name!r}")
            prev_end = end
        if prev_end > start_dir:
            raise Blocked("archive_bomb", "entry data overlaps the central directory")
        return starts

    # -- content ----------------------------------------------------------------

    def read(self, entry: Entry) -> bytes:
        """Inflate one entry, counting real output against every limit."""
        return self.read_raw(entry)[0]

    def read_raw(self, entry: Entry) -> tuple[bytes, Compressed]:
        """The entry's bytes and its checked compressed stream.

        We inflate ourselves rather than through zipfile: the output is counted as it
        is produced, the stream must end exactly where the directory says (no data
        hidden after it), and size and CRC must both match the directory."""
        info = entry.info
        stream = self._data[entry.data_start:entry.data_start + info.compress_size]
        if len(stream) != info.compress_size:
            raise Blocked("corrupt", f"{entry.name!r}: data truncated")
        if info.compress_type == zipfile.ZIP_STORED:
            self._count(entry, len(stream), len(stream))
            out = stream
        else:
            out = self._inflate(entry, stream)
        if len(out) != info.file_size or zlib.crc32(out) != info.CRC:
            raise Blocked("corrupt", f"{entry.name!r}: size or CRC differs from the directory")
        cfg = self._cfg
        if (self._total > RATIO_GRACE_BYTES and
                self._total > cfg.max_expansion_ratio * len(self._data)):
            raise Blocked("archive_bomb", f"archive expansion ratio over {cfg.max_expansion_ratio}")
        return out, Compressed(info.compress_type, info.CRC, stream)

    def _inflate(self, entry: Entry, stream: bytes) -> bytes:
        d = zlib.decompressobj(-zlib.MAX_WBITS)
        if len(stream) <= READ_CHUNK:
            # Most entries: the first round of the loop below is the whole stream.
            try:
                piece = d.decompress(stream, READ_CHUNK)
            except zlib.error as exc:
                raise Blocked("corrupt", f"{entry.name!r}: {exc}") from exc
            if d.eof:
                self._count(entry, len(piece), len(piece))
                if d.unused_data:
                    raise Blocked("corrupt", f"{entry.name!r}: data after the deflate stream")
                return piece
            d = zlib.decompressobj(-zlib.MAX_WBITS)  # not done: start over, chunk by chunk
        out = bytearray()
        view = memoryview(stream)
        try:
            for pos in range(0, len(stream), READ_CHUNK):
                buf: bytes | memoryview = view[pos:pos + READ_CHUNK]
                while buf and not d.eof:
                    piece = d.decompress(buf, READ_CHUNK)
                    buf = d.unconsumed_tail
                    out += piece
                    self._count(entry, len(out), len(piece))
                if d.eof:
                    if d.unused_data or pos + READ_CHUNK < len(stream):
                        raise Blocked("corrupt", f"{entry.name!r}: data after the deflate stream")
                    break
        except zlib.error as exc:
            raise Blocked("corrupt", f"{entry.name!r}: {exc}") from exc
        if not d.eof:
            raise Blocked("corrupt", f"{entry.name!r}: deflate stream truncated")
        return bytes(out)

    def _count(self, entry: Entry, size: int, new: int) -> None:
        cfg = self._cfg
        self._total += new
        if size > cfg.max_entry_bytes:
            raise Blocked("archive_bomb", f"{entry.name!r} expands beyond {cfg.max_entry_bytes} bytes")
        if self._total > cfg.max_expanded_bytes:
            raise Blocked("archive_bomb", f"archive expands beyond {cfg.max_expanded_bytes} bytes")
        if size > RATIO_GRACE_BYTES and size > cfg.max_expansion_ratio * max(entry.compressed_size, 1):
            raise Blocked("archive_bomb", f"{entry.name!r} expansion ratio over "
                          f"{cfg.max_expansion_ratio}")

    def members(self) -> Iterator[Member]:
        """Every entry, read in central-directory order, with its checked stream."""
        for e in self.entries:
            if e.is_dir:
                yield Member(e.name, b"", e.date_time)
            else:
                data, raw = self.read_raw(e)
                yield Member(e.name, data, e.date_time, raw)


def read_members(data: bytes, cfg: SanitizeConfig,
                 handover: Handover | None = None) -> list[Member]:
    """All members of the ZIP ``data``, validated and inflated under ``cfg``'s limits."""
    return list(SafeZip(data, cfg, handover).members())


_LOCAL = struct.Struct("<4s5H3L2H")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_END = struct.Struct("<4s4H2LH")
_ZIP32_MAX = 0xFFFF_FFFF


def _dos_time(dt: tuple[int, int, int, int, int, int]) -> tuple[int, int]:
    y, mo, d, h, mi, sec = dt
    return (h << 11) | (mi << 5) | (sec // 2), ((y - 1980) << 9) | (mo << 5) | d


def _encoded(m: Member) -> tuple[int, int, bytes]:
    """(method, crc, stream) for a member: its checked stream when it has one."""
    if m.raw is not None:
        return m.raw.method, m.raw.crc, m.raw.stream
    if m.is_dir or m.name.lower().endswith(_STORED_SUFFIXES):
        return zipfile.ZIP_STORED, zlib.crc32(m.data), m.data
    c = zlib.compressobj(COMPRESS_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    return zipfile.ZIP_DEFLATED, zlib.crc32(m.data), c.compress(m.data) + c.flush()


def write_zip(members: Iterable[Member]) -> bytes:
    """A new ZIP of ``members`` in the given order: UTF-8 names (flag set for every
    non-ASCII name), no extra fields or comments, fixed attributes, so the same
    members always give the same bytes.

    zipfile cannot copy an already-deflated stream, and deflating unchanged OOXML
    parts again is most of a rebuild's cost, so the container is written here (it is
    the plain, non-zip64 layout); archives too big for it go through zipfile."""
    members = list(members)
    out = bytearray()
    central = bytearray()
    for m in members:
        method, crc, stream = _encoded(m)
        name = m.name.encode("utf-8")
        flags = 0 if m.name.isascii() else 0x800
        mtime, mdate = _dos_time(m.date_time)
        offset = len(out)
        if max(offset, len(stream), len(m.data)) >= _ZIP32_MAX or len(members) >= 0xFFFF:
            return _write_zip64(members)
        attr = ((stat.S_IFDIR | 0o755) << 16 | 0x10) if m.is_dir else (stat.S_IFREG | 0o644) << 16
        out += _LOCAL.pack(b"PK\x03\x04", 20, flags, method, mtime, mdate, crc, len(stream),
                           len(m.data), len(name), 0) + name
        out += stream
        central += _CENTRAL.pack(b"PK\x01\x02", 0x0314, 20, flags, method, mtime, mdate, crc,
                                 len(stream), len(m.data), len(name), 0, 0, 0, 0, attr,
                                 offset) + name
    if len(out) + len(central) >= _ZIP32_MAX:
        return _write_zip64(members)
    end = _END.pack(b"PK\x05\x06", 0, 0, len(members), len(members), len(central), len(out), 0)
    return bytes(out + central + end)


def _write_zip64(members: list[Member]) -> bytes:
    """The same archive through zipfile, which writes zip64 records when needed."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", allowZip64=True) as zf:
        for m in members:
            info = zipfile.ZipInfo(m.name, date_time=m.date_time)
            info.create_system = 3
            if m.is_dir:
                info.external_attr = (stat.S_IFDIR | 0o755) << 16 | 0x10
                zf.writestr(info, b"")
                continue
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            stored = m.name.lower().endswith(_STORED_SUFFIXES)
            info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            zf.writestr(info, m.data, compresslevel=COMPRESS_LEVEL)
    return buf.getvalue()
