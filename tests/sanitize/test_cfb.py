"""Our Compound File Binary writer, judged by olefile reading the output back, and
by an independent check of the directory red-black trees (MS-CFB 2.6.4)."""

from __future__ import annotations

import io
import struct

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
