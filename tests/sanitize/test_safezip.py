"""safezip: hostile archives built byte by byte (lying headers, overlapping entries,
encryption flags, cp932 names), the writer's guarantees, and a fuzz property: any
bytes give either members or ``Blocked``, nothing else."""

from __future__ import annotations

import io
import stat
import struct
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sanitize.config import SanitizeConfig
from sanitize.report import Blocked
from sanitize.safezip import SafeZip, read_members, write_zip

CFG = SanitizeConfig()
MiB = 1024 * 1024


@dataclass
class Raw:
    """One entry of a hand-built zip; ``None`` sizes/crc are computed honestly."""

    name: bytes
    data: bytes = b"hello"
    method: int = 0  # 0 stored, 8 deflate (then ``data`` is the raw deflate stream)
    flags: int = 0
    usize: int | None = None
    crc: int | None = None
    external_attr: int = 0
    offset: int | None = None  # central directory's idea of the local header offset
    plain: bytes | None = None  # uncompressed bytes, for the CRC of deflated entries


def raw_zip(entries: list[Raw], *, extra_cd: list[Raw] = ()) -> bytes:
    """Local headers + data, then a central directory (with ``extra_cd`` entries that
    have no local header of their own), then the end record."""
    out = bytearray()
    offsets = []
    for e in entries:
        plain = e.plain if e.plain is not None else e.data
        crc = e.crc if e.crc is not None else zlib.crc32(plain)
        usize = e.usize if e.usize is not None else len(plain)
        offsets.append(len(out))
        out += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, e.flags, e.method, 0, 0x21,
                           crc, len(e.data), usize, len(e.name), 0) + e.name + e.data
    cd = bytearray()
    for e, off in [*zip(entries, offsets), *((x, x.offset) for x in extra_cd)]:
        plain = e.plain if e.plain is not None else e.data
        crc = e.crc if e.crc is not None else zlib.crc32(plain)
        usize = e.usize if e.usize is not None else len(plain)
        where = e.offset if e.offset is not None else off
        cd += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 0x031E, 20, e.flags, e.method, 0,
                          0x21, crc, len(e.data), usize, len(e.name), 0, 0, 0, 0,
                          e.external_attr, where) + e.name
    n = len(entries) + len(extra_cd)
    return bytes(out + cd + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, n, n, len(cd),
                                        len(out), 0))


def deflated(plain: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(plain) + c.flush()


def zeros_deflated(total: int) -> bytes:
    """Raw deflate of ``total`` zero bytes, produced in 1 MiB steps (never in memory)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(MiB)
    out = bytearray()
    for _ in range(total // MiB):
        out += c.compress(chunk)
    return bytes(out + c.flush())


def blocked(data: bytes, cfg: SanitizeConfig = CFG) -> str:
    with pytest.raises(Blocked) as exc:
        read_members(data, cfg)
    return exc.value.reason


# -- the honest path -----------------------------------------------------------------


def test_reads_what_zipfile_wrote_and_writes_deterministic_utf8() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("docs/", b"")
        zf.writestr("docs/報告書.txt", "本文".encode() * 100)
        zf.writestr("a.png", b"\x89PNG....")
    members = read_members(buf.getvalue(), CFG)
    assert [(m.name, m.data[:6]) for m in members] == [
        ("docs/", b""), ("docs/報告書.txt", "本文".encode()), ("a.png", b"\x89PNG..")]
    out = write_zip(members)
    assert out == write_zip(members)
    infos = zipfile.ZipFile(io.BytesIO(out)).infolist()
    assert infos[1].flag_bits & 0x800 and infos[1].filename == "docs/報告書.txt"
    assert [i.extra for i in infos] == [b"", b"", b""]
    assert read_members(out, CFG) == members


def test_cp932_names_without_utf8_flag_become_utf8() -> None:
    name = "令和6年度/申請書ソ表.txt"  # ソ and 表 have 0x5C ("\\") as their second byte
    data = raw_zip([Raw(name.encode("cp932"), b"x")])
    members = read_members(data, CFG)
    assert members[0].name == name
    info = zipfile.ZipFile(io.BytesIO(write_zip(members))).infolist()[0]
    assert info.flag_bits & 0x800 and info.filename == name


def test_utf8_flagged_names_stay_utf8() -> None:
    data = raw_zip([Raw("日本語.txt".encode(), flags=0x800)])
    assert read_members(data, CFG)[0].name == "日本語.txt"


# -- bombs ---------------------------------------------------------------------------------


def test_zip_bomb_stops_while_inflating() -> None:
    stream = zeros_deflated(200 * MiB)  # ~200 KB on disk, honest header sizes
    data = raw_zip([Raw(b"zeros.bin", stream, method=8, plain=b"", crc=0,
                        usize=200 * MiB)])
    assert len(data) < 1 * MiB
    assert blocked(data) == "archive_bomb"


def test_lying_header_sizes_are_not_trusted() -> None:
    stream = zeros_deflated(20 * MiB)
    small = raw_zip([Raw(b"z.bin", stream, method=8, plain=b"", crc=0, usize=100)])
    assert blocked(small) in ("archive_bomb", "corrupt")
    huge = raw_zip([Raw(b"z.bin", deflated(b"abc"), method=8, plain=b"abc",
                        usize=0xFFFFFFF0)])
    assert blocked(huge) == "archive_bomb"


def test_per_entry_and_total_limits_count_real_bytes() -> None:
    noise = bytes((i * 7919 + i // 251) % 256 for i in range(300_000))
    one = raw_zip([Raw(b"a.bin", deflated(noise), method=8, plain=noise, usize=10)])
    assert blocked(one, SanitizeConfig(max_entry_bytes=200_000)) in ("archive_bomb", "corrupt")
    many = raw_zip([Raw(f"{i}.bin".encode(), noise) for i in range(4)])
    assert blocked(many, SanitizeConfig(max_expanded_bytes=1_000_000)) == "archive_bomb"


def test_expansion_ratio() -> None:
    stream = zeros_deflated(4 * MiB)
    data = raw_zip([Raw(b"z.bin", stream, method=8, plain=bytes(4 * MiB))])
    assert blocked(data, SanitizeConfig(max_expansion_ratio=100)) == "archive_bomb"
    assert len(read_members(data, SanitizeConfig(max_expansion_ratio=10_000))[0].data) == 4 * MiB


def test_entry_count_limit_before_parsing() -> None:
    data = raw_zip([Raw(f"{i}.txt".encode(), b"") for i in range(50)])
    assert blocked(data, SanitizeConfig(max_archive_entries=10)) == "limit_exceeded"


def test_two_directory_entries_sharing_one_local_header() -> None:
    data = raw_zip([Raw(b"a.txt", b"x" * 100)], extra_cd=[Raw(b"a.txt", b"x" * 100, offset=0)])
    assert blocked(data) in ("archive_bomb", "archive_unsafe_name")
    data = raw_zip([Raw(b"a.txt", b"x" * 100)], extra_cd=[Raw(b"b.txt", b"x" * 100, offset=0)])
    assert blocked(data) == "archive_bomb"


def test_quoted_overlap_bomb() -> None:
    """Entry A's data quotes entry B's local header and data (Fifield's construction):
    each entry is valid on its own, together they overlap."""
    kernel = zeros_deflated(4 * MiB)
    b_local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0x21,
                          zlib.crc32(bytes(4 * MiB)), len(kernel), 4 * MiB, 5, 0) + b"b.bin"
    quoted = b_local + kernel
    a = Raw(b"a.bin", quoted)  # stored: A's data *is* B's header + data
    data = raw_zip([a], extra_cd=[
        Raw(b"b.bin", kernel, method=8, plain=bytes(4 * MiB), offset=30 + 5)])
    assert blocked(data) == "archive_bomb"


def test_streams_are_copied_only_when_they_end_where_the_directory_says() -> None:
    body = b"text " * 1000
    ok = raw_zip([Raw(b"a.txt", deflated(body), method=8, plain=body)])
    members = read_members(ok, CFG)
    out = write_zip(members)
    assert deflated(body) in out  # the checked stream itself, not a second deflate
    junk = raw_zip([Raw(b"a.txt", deflated(body) + b"HIDDEN", method=8, plain=body)])
    assert blocked(junk) == "corrupt"
    short = raw_zip([Raw(b"a.txt", deflated(body)[:-20], method=8, plain=body)])
    assert blocked(short) == "corrupt"
    bigger = raw_zip([Raw(b"a.txt", deflated(body), method=8, plain=body, usize=len(body) + 1)])
    assert blocked(bigger) == "corrupt"


def test_entry_running_into_the_central_directory() -> None:
    data = bytearray(raw_zip([Raw(b"a.txt", b"x" * 50)]))
    struct.pack_into("<L", data, 18, 500)  # local compressed size
    cd = data.index(b"PK\x01\x02")
    struct.pack_into("<L", data, cd + 20, 500)  # central compressed size
    assert blocked(bytes(data)) in ("archive_bomb", "corrupt")


# -- encryption and names ------------------------------------------------------------


@pytest.mark.parametrize("flags", [0x1, 0x41, 0x2000])
def test_encrypted_entries(flags: int) -> None:
    assert blocked(raw_zip([Raw(b"a.txt", b"\x00" * 12 + b"secret", flags=flags)])) == "encrypted"


@pytest.mark.parametrize("name", [
    b"../evil.txt", b"a/../../evil.txt", b"/etc/passwd", b"C:\\Windows\\evil.exe",
    b"c:evil.txt", b"a\\b.txt", b"a\x00.txt.exe", b"a/./b.txt", b"a//b.txt",
    "invoice\u202efdp.exe".encode(), b"con.txt.", b"line\nbreak.txt"])
def test_unsafe_names(name: bytes) -> None:
    flags = 0 if name.isascii() else 0x800
    assert blocked(raw_zip([Raw(name, flags=flags)])) == "archive_unsafe_name"


def test_symlink_entries() -> None:
    link = Raw(b"link", b"/etc/passwd", external_attr=(stat.S_IFLNK | 0o777) << 16)
    assert blocked(raw_zip([link])) == "archive_unsafe_name"


@pytest.mark.parametrize("a,b", [
    ("README.txt", "readme.TXT"),
    (unicodedata.normalize("NFC", "が.txt"), unicodedata.normalize("NFD", "が.txt")),
    ("Straße.txt", "STRASSE.txt"),
    ("a", "a/b.txt"),
    ("dir", "DIR/"),
])
def test_names_colliding_after_case_folding_and_nfc(a: str, b: str) -> None:
    data = raw_zip([Raw(a.encode(), flags=0x800), Raw(b.encode(), flags=0x800)])
    assert blocked(data) == "archive_unsafe_name"


def test_other_compression_methods_refused() -> None:
    import bz2

    body = bz2.compress(bytes(1000))
    assert blocked(raw_zip([Raw(b"a.bin", body, method=12, plain=bytes(1000))])) == "corrupt"


# -- fuzz --------------------------------------------------------------------------------

_SEED = raw_zip([Raw(b"a.txt", b"hello world" * 20),
                 Raw(b"b.bin", deflated(b"abc" * 500), method=8, plain=b"abc" * 500),
                 Raw("日本.txt".encode(), b"x", flags=0x800)])
_FUZZ_CFG = SanitizeConfig(max_expanded_bytes=4 * MiB, max_entry_bytes=2 * MiB)


def _walk(data: bytes) -> None:
    try:
        z = SafeZip(data, _FUZZ_CFG)
        for e in z.entries:
            z.read(e)
    except Blocked:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(_SEED) - 1), st.integers(0, 255)),
                min_size=1, max_size=8))
def test_mutated_zips_only_ever_raise_blocked(edits: list[tuple[int, int]]) -> None:
    data = bytearray(_SEED)
    for pos, value in edits:
        data[pos] = value
    _walk(bytes(data))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600), st.binary(max_size=600))
def test_random_bytes_around_zip_records_only_ever_raise_blocked(head: bytes, tail: bytes) -> None:
    _walk(head + _SEED[len(head) % len(_SEED):] + tail)
    _walk(head + b"PK\x05\x06" + tail)
