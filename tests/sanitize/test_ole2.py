"""Legacy Office disarm (CDR.md "Legacy OLE2 / CFB"): one hostile fixture per line,
judged by our verify and by oletools, which share no code with us."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import olefile
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oletools import mraptor, msodde, oleobj
from oletools.olevba import VBA_Parser

from sanitize import cfb
from sanitize.config import SanitizeConfig
from sanitize.formats import Context, ole2
from sanitize.report import Blocked, VerifyFailed
from tests.sanitize import ole_fixtures as F

CTX = Context(SanitizeConfig())


def rebuild_ok(data: bytes, kind: str) -> tuple[bytes, set[str]]:
    """Rebuild, then our verify; return the output and the removed codes."""
    out = ole2.rebuild(data, kind, CTX)
    ole2.verify(out.data, out.kind, CTX)
    return out.data, {r.code for r in out.removed}


def blocked(data: bytes, kind: str) -> Blocked:
    with pytest.raises(Blocked) as info:
        ole2.rebuild(data, kind, CTX)
    return info.value


def streams(data: bytes) -> dict[str, bytes]:
    with olefile.OleFileIO(io.BytesIO(data), raise_defects=olefile.DEFECT_INCORRECT) as ole:
        return {"/".join(p): ole.openstream(p).read() for p in ole.listdir()}


def has_vba(data: bytes) -> bool:
    parser = VBA_Parser("judged.bin", data=data)
    try:
        return bool(parser.detect_vba_macros())
    finally:
        parser.close()


def vba_suspicious(data: bytes) -> bool:
    parser = VBA_Parser("judged.bin", data=data)
    try:
        if not parser.detect_vba_macros():
            return False
        code = "\n".join(c for (_, _, _, c) in parser.extract_all_macros())
    finally:
        parser.close()
    raptor = mraptor.MacroRaptor(code)
    raptor.scan()
    return raptor.suspicious


def oleobj_finds_package(data: bytes, tmp_path: Path) -> bool:
    tmp_path.mkdir()
    path = tmp_path / "judged.doc"
    path.write_bytes(data)
    _err_stream, _err_dump, did_dump = oleobj.process_file(str(path), data, str(tmp_path / "out"))
    return did_dump


# -- Word --------------------------------------------------------------------------

@pytest.mark.parametrize("storage_name", ["Macros", "_VBA_PROJECT_CUR"])
def test_doc_vba_project_removed_and_judges_agree(storage_name: str) -> None:
    data = F.doc_with_macros(storage_name)
    assert has_vba(data) and vba_suspicious(data)  # the fixture is what olevba calls a macro
    out, codes = rebuild_ok(data, "doc")
    assert codes == {"ole2.macros"}
    assert not has_vba(out) and not vba_suspicious(out)
    assert b"Attribut" not in out and b"AutoOpen" not in out  # nothing left in slack space
    assert streams(out)["WordDocument"] == streams(data)["WordDocument"]


def test_doc_equation_editor_object_pool_removed() -> None:
    data = F.doc_with_equation()
    out, codes = rebuild_ok(data, "doc")
    assert codes == {"ole2.embedded_object"}
    names = streams(out)
    assert not any(n.startswith("ObjectPool") for n in names)
    assert b"Equation" not in out
    with olefile.OleFileIO(io.BytesIO(out)) as ole:
        assert all(ole.getclsid(p) != F.EQUATION_CLSID for p in ole.listdir(storages=True))


def test_doc_ole10native_package_removed(tmp_path: Path) -> None:
    data = F.doc_with_ole10native()
    assert oleobj_finds_package(data, tmp_path / "in")
    out, codes = rebuild_ok(data, "doc")
    assert "ole2.embedded_object" in codes
    assert not oleobj_finds_package(out, tmp_path / "out")
    assert b"fake-exe" not in out


def test_dangerous_clsid_outside_object_pool_removed() -> None:
    out, codes = rebuild_ok(F.doc_with_stray_clsid(), "doc")
    assert codes == {"ole2.dangerous_clsid"}
    assert set(streams(out)) == {"WordDocument", "1Table", "\x01CompObj", "\x05SummaryInformation"}


def test_encrypted_doc_blocked() -> None:
    assert blocked(F.doc(flags=0x0100), "doc").reason == "encrypted"
    assert blocked(F.doc(flags=0x8000 | 0x0100), "doc").reason == "encrypted"


def test_word_95_blocked_because_wordbasic_lives_in_the_main_stream() -> None:
    assert blocked(F.doc(nfib=0x65), "doc").reason == "unsupported_kind"


def test_doc_dde_field_blocked(tmp_path: Path) -> None:
    data = F.doc_with_dde_field()
    path = tmp_path / "dde.doc"
    path.write_bytes(data)
    assert "DDEAUTO" in msodde.process_file(str(path))  # the judge sees the link
    assert blocked(data, "doc").reason == "macro_needs_rewrite"


def test_summary_template_and_comments_cut_other_properties_kept() -> None:
    data = F.doc(summary=F.HOSTILE_SUMMARY)
    out, codes = rebuild_ok(data, "doc")
    assert codes == {"ole2.summary_template", "ole2.summary_comments"}
    with olefile.OleFileIO(io.BytesIO(out)) as ole:
        props = ole.getproperties("\x05SummaryInformation")
        meta = ole.get_metadata()
    assert 6 not in props and 7 not in props
    assert meta.title == b"Quarterly report" and meta.author == b"someone"
    assert b"attacker.example" not in out


def test_unparseable_summary_dropped_and_reported() -> None:
    bad = cfb.stream("\x05SummaryInformation", b"\xfe\xff" + b"\xff" * 60)
    root = cfb.storage("Root Entry", [cfb.stream("WordDocument", F.word_document()), bad])
    out, codes = rebuild_ok(cfb.write_cfb(root), "doc")
    assert codes == {"ole2.summary_information"} and "\x05SummaryInformation" not in streams(out)


def test_clean_doc_streams_and_metadata_kept() -> None:
    data = F.doc()
    out, codes = rebuild_ok(data, "doc")
    assert codes == set()
    assert streams(out) == streams(data)
    with olefile.OleFileIO(io.BytesIO(out)) as ole:
        assert ole.root.clsid == F.WORD_CLSID


# -- Excel ---------------------------------------------------------------------------

def test_xls_vba_project_with_obproj_blocked() -> None:
    """Our rule: OBPROJ cannot be cut without rewriting BIFF offsets, so block."""
    data = F.xls(F.vba_storage("_VBA_PROJECT_CUR"), records=(F.OBPROJ,))
    assert has_vba(data)
    assert blocked(data, "xls").reason == "macro_needs_rewrite"


def test_xls_vba_storage_without_obproj_dropped() -> None:
    data = F.xls(F.vba_storage("_VBA_PROJECT_CUR"))
    out, codes = rebuild_ok(data, "xls")
    assert codes == {"ole2.macros"} and not has_vba(out)
    assert streams(out)["Workbook"] == streams(data)["Workbook"]


@pytest.mark.parametrize("records, sheet_type", [
    ((), 0x01),  # Excel 4.0 macro sheet
    ((), 0x06),  # VBA module sheet
    ((F.name_record(b"", grbit=0x0020, builtin_code=0x01),), 0),  # built-in Auto_Open
    ((F.name_record(b"Auto_Open_x"),), 0),  # user name that Excel still runs
    ((F.name_record(b"calc", grbit=0x0002),), 0),  # macro function name
    ((F.biff(0x01AE, struct.pack("<HH", 0, 5) + b"\x00cmd|x"),), 0),  # DDE SUPBOOK
    ((F.biff(0x0023, struct.pack("<H", 0x0010) + bytes(6)),), 0),  # OLE link EXTERNNAME
])
def test_xls_active_globals_blocked(records: tuple[bytes, ...], sheet_type: int) -> None:
    assert blocked(F.xls(records=records, sheet_type=sheet_type), "xls").reason == "macro_needs_rewrite"


def test_xls_filepass_blocked() -> None:
    assert blocked(F.xls(records=(F.FILEPASS,)), "xls").reason == "encrypted"


def test_xls_embedding_storages_dropped() -> None:
    data = F.xls(cfb.storage("MBD0012AB34", [cfb.stream("\x01Ole10Native", F.ole10native())]),
                 cfb.stream("Ctls", b"ctl" * 10))
    out, codes = rebuild_ok(data, "xls")
    assert codes == {"ole2.embedded_object", "ole2.activex"}
    assert set(streams(out)) == {"Workbook", "\x05SummaryInformation"}


# -- PowerPoint and others -----------------------------------------------------------

def test_ppt_with_vba_blocked() -> None:
    assert blocked(F.ppt_with_vba(), "ppt").reason == "active_content"


def test_ppt_with_ole_object_blocked() -> None:
    assert blocked(F.ppt_with_ole_object(), "ppt").reason == "active_content"


def test_ppt_run_program_action_blocked() -> None:
    action = F.ppt_record(0x0FF3, struct.pack("<IIBBBBI", 0, 0, 2, 0, 0, 0, 0))
    assert blocked(F.ppt(F.ppt_record(0x0FF2, action, container=True)), "ppt").reason == "active_content"


def test_ppt_encrypted_blocked() -> None:
    assert blocked(F.ppt(F.ppt_record(0x2F14, bytes(16), container=True)), "ppt").reason == "encrypted"
    assert blocked(F.ppt(extra=(cfb.stream("EncryptedSummary", b"x"),)), "ppt").reason == "encrypted"


def test_clean_ppt_rebuilt() -> None:
    data = F.ppt()
    out, codes = rebuild_ok(data, "ppt")
    assert codes == set() and streams(out) == streams(data)


def test_msi_like_compound_file_blocked() -> None:
    assert blocked(F.msi_like(), "doc").reason == "unsupported_kind"


def test_not_a_compound_file_blocked() -> None:
    assert blocked(b"/etc/passwd", "doc").reason == "corrupt"  # never taken as a path
    assert blocked(F.doc()[:1000], "doc").reason == "corrupt"


# -- verify is a second, independent judge -------------------------------------------

def test_verify_rejects_forbidden_entries_written_directly() -> None:
    hostile = [F.doc_with_macros(), F.doc_with_equation(), F.doc_with_stray_clsid(),
               F.doc(summary=F.HOSTILE_SUMMARY)]
    for data in hostile:
        with pytest.raises(VerifyFailed):
            ole2.verify(data, "doc", CTX)
    with pytest.raises(VerifyFailed):
        ole2.verify(F.xls(), "doc", CTX)  # wrong main stream for the kind
    with pytest.raises(VerifyFailed):
        ole2.verify(b"not a compound file", "doc", CTX)


# -- fuzzing: mutated files never raise anything but Blocked --------------------------

_SEEDS = [F.doc_with_macros(), F.doc_with_equation(), F.xls(), F.ppt(), F.doc(summary=F.HOSTILE_SUMMARY)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.sampled_from(_SEEDS),
       edits=st.lists(st.tuples(st.integers(0, 20_000), st.binary(min_size=1, max_size=8)), max_size=6),
       cut=st.one_of(st.none(), st.integers(0, 20_000)))
def test_mutated_compound_files_only_block(seed: bytes, edits: list[tuple[int, bytes]],
                                           cut: int | None) -> None:
    data = bytearray(seed)
    for pos, chunk in edits:
        pos %= len(data)
        data[pos:pos + len(chunk)] = chunk
    if cut is not None:
        del data[cut % len(data):]
    try:
        out = ole2.rebuild(bytes(data), "doc", CTX)
    except Blocked:
        return
    ole2.verify(out.data, out.kind, CTX)


# -- the Word field search is re's search, only faster --------------------------------

_FIELD_BITS = st.sampled_from([b"\x13", b" ", b"\x00", b"\r", b"DDE", b"dde", b"AUTO", b"D\x00D\x00E\x00",
                               b"LINK", b"L\x00I\x00N\x00K\x00", b"INCLUDETEXT", b"IMPORT", b"x", b"\x13\x13"])


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(_FIELD_BITS, max_size=120))
def test_link_field_finds_what_re_search_finds(parts: list[bytes]) -> None:
    text = b"".join(parts)
    fast, slow = ole2._link_field(text), ole2._WORD_LINK_FIELD.search(text)
    assert (fast and fast.span()) == (slow and slow.span())


def test_link_field_past_many_field_begins() -> None:
    text = b"\x13 x\x14" * 100 + b"\x13 DDEAUTO c:\\\\x"
    assert ole2._link_field(text).start() == 400
    assert ole2._link_field(b"\x13 x\x14" * 100) is None


def test_doc_over_6_8_mb_with_macros_rebuilt_through_olefile() -> None:
    """Past 109 FAT sectors cfb.scan steps aside: olefile reads the input and re-reads
    the output for the main-stream check; the result is the same as for small files."""
    picture = cfb.stream("Data", bytes(range(256)) * (7_300_000 // 256))
    data = F.doc(picture, F.vba_storage())
    assert cfb.scan(data) is None
    out, codes = rebuild_ok(data, "doc")
    assert codes == {"ole2.macros"} and not has_vba(out)
    assert cfb.scan(out) is None  # the output needs a DIFAT too
    assert streams(out)["Data"] == picture.data
    assert streams(out)["WordDocument"] == streams(data)["WordDocument"]


def test_main_stream_check_reads_the_output_bytes() -> None:
    """The fidelity check reads the output's own bytes, not the writer's bookkeeping:
    one byte changed in the main stream after writing is caught, in the scan route
    and in the olefile route (over 6.8 MB)."""
    for extra in ((), (cfb.stream("Data", bytes(7_300_000)),)):
        data = F.doc(*extra, text="本文".encode("utf-16-le") * 3000)
        with olefile.OleFileIO(io.BytesIO(data)) as ole:
            word = ole.openstream("WordDocument").read()
            entry = ole.root.kids_dict["worddocument"]
        assert entry.size >= 4096  # in regular sectors, at a place we can compute
        node = cfb.stream("WordDocument", word)
        ole2._check_main_stream(data, node)  # the file as written: the same stream
        changed = bytearray(data)
        changed[512 * (entry.isectStart + 1) + entry.size // 2] ^= 0xFF
        with pytest.raises(VerifyFailed):
            ole2._check_main_stream(bytes(changed), node)


# -- the Excel globals walk gives the verdicts biff_records' walk gave ----------------

def judge_xls_by_records(main: bytes) -> None:
    """The walk _judge_xls made before it was inlined: every record through biff_records."""
    records = iter(ole2.biff_records(main))
    first = next(records, None)
    if first is None or first[1] not in (0x0809, 0x0409, 0x0209, 0x0009) or len(first[2]) < 4:
        raise Blocked("corrupt", "Workbook stream does not start with BOF")
    biff8 = struct.unpack_from("<H", first[2], 0)[0] == 0x0600
    for pos, rtype, body in records:
        if rtype == 0x000A:
            break
        if rtype == 0x002F:
            raise Blocked("encrypted", "Excel FILEPASS record")
        why = ole2._biff_active(rtype, body, biff8)
        if why:
            raise Blocked("macro_needs_rewrite", f"Excel {why} (record at {pos})")


_RECORD = st.one_of(
    st.builds(F.biff, st.sampled_from([0x00E0, 0x0031, 0x041E, 0x00FC, 0x003C]), st.binary(max_size=30)),
    st.sampled_from([F.OBPROJ, F.FILEPASS, F.biff(0x000A), F.name_record(b"Auto_Open"),
                     F.name_record(b"total"), F.boundsheet("S", 1), F.boundsheet("S"),
                     F.biff(0x01AE, struct.pack("<HH", 1, 0x0401)),
                     F.biff(0x01AE, struct.pack("<HH", 0, 5) + b"\x00cmd|x"),
                     F.biff(0x0023, struct.pack("<H", 0x0010) + bytes(6)), F.biff(0x0023, b"")]))


@settings(max_examples=300, deadline=None)
@given(bof=st.sampled_from([F._bof(0x0005), F.biff(0x0409, bytes(4)), F.biff(0x0809, b"\x00\x05"), b""]),
       records=st.lists(_RECORD, max_size=40), tail=st.binary(max_size=6))
def test_xls_globals_walk_judges_as_biff_records_did(bof: bytes, records: list[bytes],
                                                     tail: bytes) -> None:
    main = bof + b"".join(records) + tail

    def verdict(judge: object) -> tuple[str, str] | None:
        try:
            judge()  # type: ignore[operator]
        except Blocked as exc:
            return exc.reason, exc.detail
        return None

    assert verdict(lambda: ole2._judge_xls(None, main)) == verdict(lambda: judge_xls_by_records(main))
