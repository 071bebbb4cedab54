"""Our Compound File Binary writer, judged by olefile reading the output back, and
by an independent check of the directory red-black trees (MS-CFB 2.6.4)."""

from __future__ import annotations

import io
import struct
from typing import Callable

import olefile
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sanitize import cfb
from sanitize.report import Blocked

STRICT = olefile.DEFECT_INCORRECT
LIMITS = {"max_entries": 10_000, "max_total_bytes": 1 << 30, "max_stream_bytes": 1 << 30}


def reopen(data: bytes) -> olefile.OleFileIO:
    return olefile.OleFileIO(io.BytesIO(data), raise_defects=STRICT)


def canonical(node: cfb.Node) -> tuple:
    """A tree in comparable form: children as a name-keyed, order-free set."""
    kids = frozenset((cfb.sort_key(k.name), canonical(k)) for k in node.children)
    return (node.is_storage, node.data, node.clsid, node.state_bits, node.ctime, node.mtime, kids)


def mscfb_less(a: str, b: str) -> bool:
    """MS-CFB compare written out separately from the writer: length, then upper case."""
    ua, ub = a.encode("utf-16-le"), b.encode("utf-16-le")
    if len(ua) != len(ub):
        return len(ua) < len(ub)
    return [c.upper() if len(c.upper()) == 1 else c for c in a] < \
           [c.upper() if len(c.upper()) == 1 else c for c in b]


def check_red_black(ole: olefile.OleFileIO) -> int:
    """Assert every storage's sibling tree is an ordered red-black tree; return the
    number of entries reached through the trees."""
    seen = 0

    def subtree(sid: int, lo: str | None, hi: str | None) -> int:
        """Black height of the subtree at ``sid``; checks order and colours."""
        nonlocal seen
        if sid == cfb.NOSTREAM:
            return 1
        e = ole.direntries[sid]
        seen += 1
        assert lo is None or mscfb_less(lo, e.name), (lo, e.name)
        assert hi is None or mscfb_less(e.name, hi), (e.name, hi)
        for kid in (e.sid_left, e.sid_right):
            if e.color == cfb.RED and kid != cfb.NOSTREAM:
                assert ole.direntries[kid].color == cfb.BLACK, "red node with a red child"
        left = subtree(e.sid_left, lo, e.name)
        right = subtree(e.sid_right, e.name, hi)
        assert left == right, "black heights differ"
        if e.sid_child != cfb.NOSTREAM:
            assert ole.direntries[e.sid_child].color == cfb.BLACK, "red tree root"
            subtree(e.sid_child, None, None)
        return left + (e.color == cfb.BLACK)

    root = ole.direntries[0]
    if root.sid_child != cfb.NOSTREAM:
        assert ole.direntries[root.sid_child].color == cfb.BLACK
        subtree(root.sid_child, None, None)
    return seen


# Names from letters with case pairs, Japanese, and the \x01/\x05 prefixes Office uses.
_name = st.text(alphabet="abcABCxyzXYZ_09 \x01\x05日本語ßÄä", min_size=1, max_size=31)
_sizes = st.one_of(st.sampled_from([0, 1, 63, 64, 65, 511, 512, 4095, 4096, 4097, 8192]),
                   st.integers(0, 20_000))


@st.composite
def _stream(draw: st.DrawFn, name: str) -> cfb.Node:
    size = draw(_sizes)
    fill = draw(st.binary(min_size=1, max_size=16))
    return cfb.stream(name, (fill * (size // len(fill) + 1))[:size])


@st.composite
def trees(draw: st.DrawFn, depth: int = 0) -> list[cfb.Node]:
    names = draw(st.lists(_name, max_size=12 if depth == 0 else 5,
                          unique_by=lambda n: cfb.sort_key(n)))
    kids = []
    for name in names:
        if depth < 3 and draw(st.booleans()) and draw(st.booleans()):
            kids.append(cfb.storage(name, draw(trees(depth + 1)),
                                    clsid=draw(st.binary(min_size=16, max_size=16)),
                                    state_bits=draw(st.integers(0, 2**32 - 1)),
                                    ctime=draw(st.integers(0, 2**64 - 1)),
                                    mtime=draw(st.integers(0, 2**64 - 1))))
        else:
            kids.append(draw(_stream(name)))
    return kids


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kids=trees(), root_clsid=st.binary(min_size=16, max_size=16))
def test_random_trees_round_trip_through_olefile(kids: list[cfb.Node], root_clsid: bytes) -> None:
    root = cfb.storage(cfb.ROOT_NAME, kids, clsid=root_clsid, mtime=123456789)
    data = cfb.write_cfb(root)
    with reopen(data) as ole:
        assert not ole.parsing_issues
        back = cfb.read_tree(ole, **LIMITS)
        assert check_red_black(ole) == len(list(root.walk()))
        for path, node in root.walk():
            assert ole.exists("/".join(path))
            assert ole.getclsid(list(path)) == cfb.clsid_text(node.clsid)
            if not node.is_storage:
                assert ole.openstream(list(path)).read() == node.data
    assert canonical(back) == canonical(root)
    assert cfb.write_cfb(back) == data  # deterministic: same tree, same bytes


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7, 8, 15, 16, 100])
def test_sibling_trees_of_every_shape_are_red_black(count: int) -> None:
    names = [f"s{i}" if i % 2 else f"Stream{i}" for i in range(count)]
    root = cfb.storage(cfb.ROOT_NAME, [cfb.storage("Sub", [cfb.stream(n, b"d") for n in names])]
                       + [cfb.stream(n, b"x" * i) for i, n in enumerate(names)])
    with reopen(cfb.write_cfb(root)) as ole:
        assert check_red_black(ole) == 1 + 2 * count
        assert sorted(ole.listdir()) == sorted([["Sub", n] for n in names] + [[n] for n in names])


def test_difat_for_more_than_109_fat_sectors() -> None:
    # 109 FAT sectors describe 109*128 sectors = 6.8 MiB; go past it.
    big = bytes(range(256)) * (7_300_000 // 256)
    root = cfb.storage(cfb.ROOT_NAME, [cfb.stream("Big", big), cfb.stream("small", b"s" * 100)])
    data = cfb.write_cfb(root)
    n_difat = struct.unpack_from("<I", data, 0x48)[0]
    assert n_difat >= 1
    with reopen(data) as ole:
        assert ole.openstream("Big").read() == big
        assert ole.openstream("small").read() == b"s" * 100


def test_order_is_length_first_then_case_insensitive() -> None:
    assert cfb.sort_key("zz") < cfb.sort_key("aaa")
    assert cfb.sort_key("abc") == cfb.sort_key("ABC")
    assert cfb.sort_key("ABD") > cfb.sort_key("abc")


@pytest.mark.parametrize("name", ["", "a/b", "a\\b", "a:b", "a!b", "x" * 32])
def test_writer_refuses_bad_names(name: str) -> None:
    with pytest.raises(ValueError):
        cfb.write_cfb(cfb.storage(cfb.ROOT_NAME, [cfb.stream(name, b"")]))


def test_writer_refuses_case_insensitive_duplicates() -> None:
    with pytest.raises(ValueError):
        cfb.write_cfb(cfb.storage(cfb.ROOT_NAME, [cfb.stream("Data", b""), cfb.stream("DATA", b"")]))


def test_reader_limits() -> None:
    root = cfb.storage(cfb.ROOT_NAME, [cfb.stream(f"s{i}", b"x" * 100) for i in range(50)])
    data = cfb.write_cfb(root)
    with reopen(data) as ole:
        with pytest.raises(Blocked) as info:
            cfb.read_tree(ole, **{**LIMITS, "max_entries": 49})
        assert info.value.reason == "limit_exceeded"
        with pytest.raises(Blocked) as info:
            cfb.read_tree(ole, **{**LIMITS, "max_total_bytes": 4999})
        assert info.value.reason == "limit_exceeded"
        with pytest.raises(Blocked) as info:
            cfb.read_tree(ole, **{**LIMITS, "max_stream_bytes": 99})
        assert info.value.reason == "limit_exceeded"


def test_reader_refuses_deep_nesting() -> None:
    node = cfb.stream("leaf", b"")
    for i in range(cfb.DEFAULT_MAX_DEPTH + 2):
        node = cfb.storage(f"d{i}", [node])
    data = cfb.write_cfb(cfb.storage(cfb.ROOT_NAME, [node]))
    with reopen(data) as ole, pytest.raises(Blocked) as info:
        cfb.read_tree(ole, **LIMITS)
    assert info.value.reason == "limit_exceeded"


def test_open_refuses_non_cfb_and_never_opens_a_path() -> None:
    for data in (b"", b"/etc/passwd", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600)):
        with pytest.raises(Blocked) as info:
            cfb.open_ole(data)
        assert info.value.reason == "corrupt"


def test_truncated_stream_chain_is_corrupt_not_short_data() -> None:
    data = cfb.write_cfb(cfb.storage(cfb.ROOT_NAME, [cfb.stream("Big", b"b" * 20_000)]))
    # Point the FAT entry of Big's second sector at ENDOFCHAIN: the chain is now short.
    n_fat_first = struct.unpack_from("<I", data, 0x4C)[0]
    fat_at = 512 * (n_fat_first + 1)
    broken = bytearray(data)
    broken[fat_at:fat_at + 4] = struct.pack("<I", cfb.ENDOFCHAIN)
    with pytest.raises(Blocked) as info:
        cfb.read_tree(cfb.open_ole(bytes(broken)), **LIMITS)
    assert info.value.reason == "corrupt"


# -- the direct reader (read_tree with data=) and scan ---------------------------------

def olefile_tree(data: bytes) -> cfb.Node:
    with reopen(data) as ole:
        return cfb.read_tree(ole, **LIMITS)


def direct_tree(data: bytes) -> cfb.Node:
    with reopen(data) as ole:
        return cfb.read_tree(ole, **LIMITS, data=data)


def lenient_root_names(data: bytes) -> set[str]:
    """What detect asked olefile before cfb.scan: root names, olefile's defaults."""
    with olefile.OleFileIO(io.BytesIO(data)) as ole:
        return {p[0].lower() for p in ole.listdir(streams=True, storages=True)}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kids=trees())
def test_direct_reader_and_scan_agree_with_olefile_on_written_trees(kids: list[cfb.Node]) -> None:
    root = cfb.storage(cfb.ROOT_NAME, kids)
    data = cfb.write_cfb(root)
    assert direct_tree(data) == olefile_tree(data)
    found = cfb.scan(data)
    assert found is not None
    assert cfb.read_tree(found, **LIMITS) == olefile_tree(data)
    assert {n.lower() for n, *_ in found.root} == lenient_root_names(data) == \
        {k.name.lower() for k in kids}
    for name, etype, start, size in found.root:
        if etype == cfb.TYPE_STREAM:
            assert found.read(start, size) == root.child(name).data


def fat_at(data: bytes | bytearray, sect: int) -> int:
    """Byte offset of FAT entry ``sect`` (files under 6.8 MB: FAT sectors in the header)."""
    fat_sector = struct.unpack_from("<I", data, 0x4C + 4 * (sect // 128))[0]
    return 512 * (fat_sector + 1) + 4 * (sect % 128)


def minifat_at(data: bytes | bytearray, sect: int) -> int:
    first = struct.unpack_from("<I", data, 0x3C)[0]
    assert sect < 128  # one MiniFAT sector is enough here
    return 512 * (first + 1) + 4 * sect


def dir_entry_at(data: bytes | bytearray, name: str) -> int:
    first = struct.unpack_from("<I", data, 0x30)[0]
    raw = name.encode("utf-16-le")
    for at in range(512 * (first + 1), len(data) - 127, 128):  # our writer: one run
        if data[at:at + len(raw)] == raw and data[at + 64] == len(raw) + 2:
            return at
    raise AssertionError(name)


def set_u32(data: bytearray, at: int, value: int) -> None:
    data[at:at + 4] = struct.pack("<I", value)


def corrupt_direct(data: bytes | bytearray) -> Blocked:
    with pytest.raises(Blocked) as info:
        direct_tree(bytes(data))
    assert info.value.reason == "corrupt"
    return info.value


# Big: sectors 0..39; Other: 40..49; then the mini stream: s1 mini sectors 0..4, s2 5..6.
_CHAINS = cfb.write_cfb(cfb.storage(cfb.ROOT_NAME, [
    cfb.stream("Big", bytes(range(256)) * 78 + b"e" * 32),  # 20000 bytes
    cfb.stream("Other", b"o" * 5000),
    cfb.stream("s1", b"1" * 300), cfb.stream("s2", b"2" * 100)]))


def test_chain_fixture_is_laid_out_as_the_tests_assume() -> None:
    assert direct_tree(_CHAINS) == olefile_tree(_CHAINS)
    assert struct.unpack_from("<I", _CHAINS, fat_at(_CHAINS, 39))[0] == cfb.ENDOFCHAIN
    assert struct.unpack_from("<I", _CHAINS, dir_entry_at(_CHAINS, "Other") + 116)[0] == 40
    assert struct.unpack_from("<I", _CHAINS, minifat_at(_CHAINS, 4))[0] == cfb.ENDOFCHAIN


def test_direct_reader_refuses_a_loop_olefile_would_read_twice() -> None:
    broken = bytearray(_CHAINS)
    set_u32(broken, fat_at(broken, 5), 2)  # 0 1 2 3 4 5 2 3 4 5 ...
    assert "loops" in corrupt_direct(broken).detail
    assert olefile_tree(bytes(broken)).child("Big").data != _CHAINS[512:512 + 20000]


def test_direct_reader_refuses_cross_linked_streams() -> None:
    broken = bytearray(_CHAINS)
    set_u32(broken, fat_at(broken, 41), 3)  # Other runs on into Big's sectors
    corrupt_direct(broken)


@pytest.mark.parametrize("value", [cfb.ENDOFCHAIN, cfb.FREESECT, cfb.FATSECT, 0x00100000, 60_000])
def test_direct_reader_refuses_chains_that_end_early_or_leave_the_fat(value: int) -> None:
    broken = bytearray(_CHAINS)
    set_u32(broken, fat_at(broken, 10), value)
    corrupt_direct(broken)
    with pytest.raises(Blocked):  # the olefile route agrees
        olefile_tree(bytes(broken))


def test_direct_reader_refuses_a_stream_start_outside_the_fat() -> None:
    broken = bytearray(_CHAINS)
    set_u32(broken, dir_entry_at(broken, "Other") + 116, 0x7FFFFF00)
    corrupt_direct(broken)


def test_direct_reader_refuses_an_empty_stream_with_a_chain() -> None:
    data = bytearray(cfb.write_cfb(cfb.storage(cfb.ROOT_NAME, [
        cfb.stream("Empty", b""), cfb.stream("Big", b"b" * 5000)])))
    set_u32(data, dir_entry_at(data, "Empty") + 116, 0)
    corrupt_direct(data)


@pytest.mark.parametrize("sect, value", [
    (2, 1),  # s1: 0 1 2 1 ...: a loop in the MiniFAT
    (2, 3_000),  # a mini sector past the mini stream
    (1, cfb.ENDOFCHAIN),  # s1 ends after two of its five mini sectors
    (4, 5),  # s1 runs on into s2 (cross-linked) - needs no sector past 4, so fine
])
def test_direct_reader_on_broken_mini_chains(sect: int, value: int) -> None:
    broken = bytearray(_CHAINS)
    set_u32(broken, minifat_at(broken, sect), value)
    if (sect, value) == (4, 5):
        assert direct_tree(bytes(broken)) == olefile_tree(bytes(broken))
        return
    corrupt_direct(broken)


def test_direct_reader_refuses_mini_streams_sharing_sectors() -> None:
    broken = bytearray(_CHAINS)
    set_u32(broken, dir_entry_at(broken, "s2") + 116, 3)  # s2 starts inside s1
    corrupt_direct(broken)


def test_direct_reader_refuses_a_mini_stream_larger_than_its_minifat() -> None:
    broken = bytearray(_CHAINS)
    root_at = dir_entry_at(broken, cfb.ROOT_NAME)
    set_u32(broken, root_at + 120, 64 * 129)  # 129 mini sectors, one MiniFAT sector
    corrupt_direct(broken)


def test_direct_reader_partial_last_sector_of_the_file() -> None:
    """A stream ending in the file's last, partial sector reads if its bytes are there
    (olefile allows that sector to be short), and is corrupt if they are not."""
    base = bytearray(_CHAINS)
    new_sect = len(base) // 512 - 1  # the sector appended below
    set_u32(base, fat_at(base, 49), new_sect)  # Other: 40..49, then the new one
    set_u32(base, fat_at(base, new_sect), cfb.ENDOFCHAIN)
    size_at = dir_entry_at(base, "Other") + 120
    base += b"t" * 100
    for extra, ok in ((50, True), (100, True), (101, False), (400, False)):
        data = bytearray(base)
        set_u32(data, size_at, 5120 + extra)
        if ok:
            tree = direct_tree(bytes(data))
            assert tree == olefile_tree(bytes(data))
            assert tree.child("Other").data == b"o" * 5000 + bytes(120) + b"t" * extra
        else:
            corrupt_direct(data)
            with pytest.raises(Blocked):
                olefile_tree(bytes(data))


def test_direct_reader_wants_the_buffer_olefile_opened() -> None:
    with reopen(_CHAINS) as ole, pytest.raises(Blocked):
        cfb.read_tree(ole, **LIMITS, data=_CHAINS[:-512])


def test_scan_leaves_what_it_is_unsure_of_to_olefile() -> None:
    assert cfb.scan(b"") is None and cfb.scan(_CHAINS[:511]) is None
    loop = bytearray(_CHAINS)
    dir_sect = struct.unpack_from("<I", loop, 0x30)[0]
    set_u32(loop, fat_at(loop, dir_sect), dir_sect)  # the directory chain loops
    assert cfb.scan(bytes(loop)) is None
    odd = bytearray(_CHAINS)
    odd[0x4C + 4 * 5:0x4C + 4 * 6] = struct.pack("<I", 0)  # a stray FAT sector slot
    assert cfb.scan(bytes(odd)) is None
    twice = bytearray(_CHAINS)
    set_u32(twice, dir_entry_at(twice, "s1") + 68, 1)  # s1's right sibling: entry 1 again
    assert cfb.scan(bytes(twice)) is None
    many = cfb.write_cfb(cfb.storage(cfb.ROOT_NAME, [cfb.stream(f"s{i}", b"x")
                                                     for i in range(cfb.SCAN_MAX_ENTRIES + 1)]))
    assert cfb.scan(many) is None


# Mutations land in the header and in the directory, MiniFAT and FAT (the last
# sectors of our writer's files), where chains and the tree are described.
@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from([_CHAINS, _NESTED])))
    meta = 512 * 4
    for _ in range(draw(st.integers(1, 4))):
        # Mostly whole 32-bit fields (sector numbers, sizes, sibling ids) in the tables.
        pos = draw(st.one_of(st.integers(0x2C, 0x60),
                             st.integers(len(data) - meta, len(data) - 1).map(lambda p: p & ~3),
                             st.integers(len(data) - meta, len(data) - 1).map(lambda p: p & ~3)))
        data[pos:pos + 4] = draw(st.sampled_from([
            struct.pack("<I", draw(st.integers(0, 80))), struct.pack("<I", cfb.ENDOFCHAIN),
            struct.pack("<I", cfb.FREESECT), draw(st.binary(min_size=1, max_size=4))]))
    if draw(st.booleans()):
        del data[draw(st.integers(len(data) - meta, len(data))):]
    return bytes(data)


_NESTED = cfb.write_cfb(cfb.storage(cfb.ROOT_NAME, [
    cfb.storage("Sub", [cfb.stream("inner", b"i" * 70), cfb.stream("Deep", b"d" * 4200)]),
    cfb.stream("WordDocument", b"w" * 9000), cfb.stream("x", b"x" * 10)]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_mutated())
def test_mutated_chains_direct_reader_is_olefile_or_stricter(data: bytes) -> None:
    try:
        ole = olefile.OleFileIO(io.BytesIO(data), raise_defects=STRICT)
    except Exception:
        return  # open_ole blocks it before any reader runs
    with ole:
        try:
            direct = cfb.read_tree(ole, **LIMITS, data=data)
        except Blocked:
            return
        # What the direct reader accepts, olefile reads the same.
        assert cfb.read_tree(ole, **LIMITS) == direct


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_mutated())
def test_mutated_files_scan_answers_as_olefile_or_not_at_all(data: bytes) -> None:
    found = cfb.scan(data)  # never raises
    if found is None:
        return
    assert {n.lower() for n, *_ in found.root} == lenient_root_names(data)
    try:
        ole = olefile.OleFileIO(io.BytesIO(data), raise_defects=STRICT)
    except Exception:
        return
    with ole:
        for name, etype, start, size in found.root:
            if etype != cfb.TYPE_STREAM:
                continue
            try:
                ours = found.read(start, size)
            except Blocked:
                continue
            assert ole._open(start, size).read() == ours


def outcome(read: Callable[[], cfb.Node]) -> cfb.Node | str:
    try:
        return read()
    except Blocked as exc:
        return exc.reason


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_mutated())
def test_mutated_files_scanned_tree_is_what_strict_olefile_reads(data: bytes) -> None:
    """Where scan answers, the rebuild's tree (or its refusal) is the one it gets
    through a strict olefile open, so using scan changes no verdict."""
    found = cfb.scan(data)
    if found is None:
        return

    def through_olefile() -> cfb.Node:
        ole = cfb.open_ole(data)
        with ole:
            return cfb.read_tree(ole, **LIMITS, data=data)

    assert outcome(lambda: cfb.read_tree(found, **LIMITS)) == outcome(through_olefile)


@pytest.mark.parametrize("edit", ["header clsid", "stream start twice", "mini start twice",
                                  "stream with children", "names equal in lower case",
                                  "entry of type 0", "name length 66"])
def test_scan_leaves_olefile_defects_to_olefile(edit: str) -> None:
    data = bytearray(_NESTED)
    entry = dir_entry_at
    if edit == "header clsid":
        data[8] = 1
    elif edit == "stream start twice":
        set_u32(data, entry(data, "Deep") + 116, struct.unpack_from("<I", data, entry(data, "WordDocument") + 116)[0])
    elif edit == "mini start twice":
        set_u32(data, entry(data, "x") + 116, struct.unpack_from("<I", data, entry(data, "inner") + 116)[0])
    elif edit == "stream with children":
        sub = struct.unpack_from("<I", data, entry(data, "Sub") + 76)[0]
        set_u32(data, entry(data, "x") + 76, sub)
    elif edit == "names equal in lower case":
        data = bytearray(cfb.write_cfb(cfb.storage(cfb.ROOT_NAME, [
            cfb.stream("x", b"1"), cfb.stream("y", b"2")])))
        at = entry(data, "y")
        data[at:at + 2] = "X".encode("utf-16-le")
        with pytest.raises(Blocked):
            cfb.open_ole(bytes(data))  # strict olefile refuses it too
    elif edit == "entry of type 0":
        data[entry(data, "x") + 66] = 0
    elif edit == "name length 66":
        data[entry(data, "x") + 64] = 66
    assert cfb.scan(bytes(data)) is None


def test_one_scan_reads_the_same_tree_twice() -> None:
    """detect and the rebuild read one scan: the second read must not meet the first
    one's marks (a shared reader would call every sector 'read twice')."""
    data = bytes(_CHAINS)
    found = cfb.scan(data)
    assert found is not None
    assert cfb.read_tree(found, **LIMITS) == cfb.read_tree(found, **LIMITS) \
        == olefile_tree(data)


def version4_file() -> bytes:
    """A version 4 file (4096-byte sectors), laid out by hand: our writer makes only
    version 3.  Sectors: 0 FAT, 1 directory, 2 MiniFAT, 3 mini stream, 4-5 'Big'."""
    ss, eoc, free = 4096, cfb.ENDOFCHAIN, cfb.FREESECT
    header = struct.pack("<8s16sHHHHH6sIIIIIIIII", cfb.MAGIC, bytes(16), 0x3E, 4, 0xFFFE, 12, 6,
                         bytes(6), 1, 1, 1, 0, 4096, 2, 1, eoc, 0)
    header += struct.pack("<I", 0) + struct.pack("<I", free) * 108
    fat = struct.pack("<6I", cfb.FATSECT, eoc, eoc, eoc, 5, eoc) + struct.pack("<I", free) * 1018

    def entry(name: str, etype: int, child: int, right: int, start: int, size: int) -> bytes:
        raw = name.encode("utf-16-le")
        return struct.pack("<64sHBBIII16sIQQIQ", raw, len(raw) + 2, etype, 1, cfb.NOSTREAM,
                           right, child, bytes(16), 0, 0, 0, start, size)

    directory = (entry("Root Entry", 5, 1, cfb.NOSTREAM, 3, 128)
                 + entry("Big", 2, cfb.NOSTREAM, 2, 4, 5000)
                 + entry("s", 2, cfb.NOSTREAM, cfb.NOSTREAM, 0, 100))
    directory += struct.pack("<64sHBBIII16sIQQIQ", b"", 0, 0, 0, cfb.NOSTREAM, cfb.NOSTREAM,
                             cfb.NOSTREAM, bytes(16), 0, 0, 0, 0, 0) * 29
    minifat = struct.pack("<2I", 1, eoc) + struct.pack("<I", free) * 1022
    big = bytes(range(250)) * 20
    sectors = [fat, directory, minifat, (b"s" * 100).ljust(ss, b"\0"), big[:ss], big[ss:].ljust(ss, b"\0")]
    return header.ljust(ss, b"\0") + b"".join(sectors)


def test_version_4_files_read_alike_by_every_route() -> None:
    data = version4_file()
    with reopen(data) as ole:
        assert not ole.parsing_issues and ole.sectorsize == 4096
    found = cfb.scan(data)
    assert found is not None
    tree = cfb.read_tree(found, **LIMITS)
    assert tree == olefile_tree(data) == direct_tree(data)
    assert tree.child("Big").data == bytes(range(250)) * 20 and tree.child("s").data == b"s" * 100


def test_files_over_6_8_mb_go_through_olefile_and_rebuild() -> None:
    """A DIFAT (more than 109 FAT sectors): scan leaves it to olefile, which reads it."""
    big = bytes(range(256)) * (7_300_000 // 256)
    data = cfb.write_cfb(cfb.storage(cfb.ROOT_NAME, [cfb.stream("Big", big), cfb.stream("s", b"s")]))
    assert cfb.scan(data) is None
    assert direct_tree(data) == olefile_tree(data)
