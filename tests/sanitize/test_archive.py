"""ZIP archives through the real engine: members disarmed one by one, executables
dropped, names mapped, nesting limited, and the output re-opened by plain zipfile."""

from __future__ import annotations

import io
import time
import zipfile

import pytest
from oletools.olevba import VBA_Parser

from sanitize.config import SanitizeConfig
from sanitize.engine import disarm_bytes
from sanitize.formats import Context, archive
from sanitize.report import Blocked, Rebuilt, Verdict, VerifyFailed
from tests.sanitize import ooxml_fixtures as F
from tests.sanitize.test_safezip import Raw, raw_zip, zeros_deflated

CFG = SanitizeConfig()
PE = b"MZ" + b"\x90" * 58 + b"\x80\x00\x00\x00" + b"\x00" * 64 + b"PE\x00\x00" + b"\x00" * 200


def ctx(depth: int = 0, cfg: SanitizeConfig = CFG) -> Context:
    return Context(cfg, depth, lambda data, name, d: disarm_bytes(data, name, cfg, d))


def make_zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, body in members.items():
            zf.writestr(name, body)
    return buf.getvalue()


def run(data: bytes, c: Context | None = None) -> Rebuilt:
    c = c or ctx()
    out = archive.rebuild(data, "zip", c)
    archive.verify(out.data, "zip", c)
    return out


def contents(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def test_members_are_disarmed_renamed_or_dropped() -> None:
    data = make_zip({
        "書類/": b"",
        "書類/報告書.docm": F.docm_with_vba(),
        "書類/memo.txt": "会議は10時から\r\n".encode(),
        "setup.exe": PE,
        "invoice.pdf.exe": PE,
    })
    out = run(data)
    files = contents(out.data)
    assert sorted(files) == ["書類/", "書類/memo.txt", "書類/報告書.docx"]
    assert not VBA_Parser("x.docx", data=files["書類/報告書.docx"]).detect_vba_macros()
    assert "会議は10時から" in files["書類/memo.txt"].decode()
    removed = {(r.code, r.detail) for r in out.removed}
    assert ("archive.member_blocked", "setup.exe: executable") in removed
    assert ("archive.member_blocked", "invoice.pdf.exe: executable") in removed
    assert any(c == "ooxml.vba" and d.startswith("書類/報告書.docm: ") for c, d in removed)


def test_mapped_names_do_not_collide() -> None:
    out = run(make_zip({"a.docx": F.docx_bytes(), "a.docm": F.docm_with_vba()}))
    assert sorted(contents(out.data)) == ["a (2).docx", "a.docx"]


def test_cp932_member_names_come_out_utf8() -> None:
    name = "住民票ソ.txt"
    data = raw_zip([Raw(name.encode("cp932"), "本文\n".encode())])
    out = run(data)
    info = zipfile.ZipFile(io.BytesIO(out.data)).infolist()[0]
    assert info.filename == name and info.flag_bits & 0x800


def _nest(levels: int) -> bytes:
    data = make_zip({"deep.txt": b"bottom\n"})
    for i in range(levels - 1):
        data = make_zip({f"level{levels - 1 - i}.zip": data})
    return data


def test_nesting_up_to_the_limit_is_rebuilt() -> None:
    out = run(_nest(3))  # zips at depth 0, 1, 2: within the default of 3
    inner = contents(contents(contents(out.data)["level1.zip"])["level2.zip"])
    assert inner == {"deep.txt": b"bottom\n"}
    assert out.removed == ()


def test_nesting_beyond_the_limit_drops_the_deepest_zip() -> None:
    out = run(_nest(4))
    level2 = contents(contents(out.data)["level1.zip"])["level2.zip"]
    assert contents(level2) == {}  # level3.zip, at depth 3, was refused
    assert any(r.code == "archive.member_blocked" and r.detail.endswith("archive_too_deep")
               for r in out.removed)
    with pytest.raises(Blocked) as exc:
        archive.rebuild(make_zip({"a.txt": b"x"}), "zip", ctx(depth=3))
    assert exc.value.reason == "archive_too_deep"
    with pytest.raises(Blocked):
        archive.rebuild(make_zip({"a.txt": b"x"}), "zip", ctx(cfg=SanitizeConfig(max_archive_depth=0)))


def test_a_bomb_inside_is_dropped_the_rest_delivered() -> None:
    bomb = raw_zip([Raw(b"zeros.bin", zeros_deflated(64 * 1024 * 1024), method=8, plain=b"",
                        crc=0, usize=64 * 1024 * 1024)])
    out = run(make_zip({"bomb.zip": bomb, "ok.txt": b"fine\n"}))
    assert sorted(contents(out.data)) == ["ok.txt"]
    assert ("archive.member_blocked", "bomb.zip: archive_bomb") in {
        (r.code, r.detail) for r in out.removed}


@pytest.mark.parametrize("entries,reason", [
    ([Raw(b"../evil.txt")], "archive_unsafe_name"),
    ([Raw(b"a.txt", flags=1)], "encrypted"),
    ([Raw(b"A.txt"), Raw(b"a.TXT")], "archive_unsafe_name"),
])
def test_hostile_archives_are_blocked_whole(entries: list[Raw], reason: str) -> None:
    with pytest.raises(Blocked) as exc:
        archive.rebuild(raw_zip(entries), "zip", ctx())
    assert exc.value.reason == reason


@pytest.mark.parametrize("entries", [
    [Raw(b"../evil.txt")], [Raw(b"a.txt", flags=1)], [Raw(b"A.txt"), Raw(b"a.TXT")],
    [Raw("日本.txt".encode("cp932"))], [Raw(b"l", external_attr=0o120777 << 16)],
    [Raw(b"x.txt", crc=1)],
])
def test_verify_rejects_what_rebuild_never_writes(entries: list[Raw]) -> None:
    with pytest.raises(VerifyFailed):
        archive.verify(raw_zip(entries), "zip", ctx())


def test_engine_end_to_end() -> None:
    result = disarm_bytes(make_zip({"a.docm": F.docm_with_vba(), "b.exe": PE}), "files.zip", CFG)
    assert result.verdict is Verdict.SANITIZED, result.detail
    assert result.output_kind == "zip" and result.output is not None
    assert sorted(contents(result.output)) == ["a.docx"]


def test_an_archive_too_costly_to_disarm_fails_at_once_with_a_clear_verdict() -> None:
    # 9,999 small CSVs: each would be opened and defused; refused before any is.
    data = make_zip({f"data/{i:04}.csv": f"id,name\n{i},名前{i}\n".encode() for i in range(9999)})
    started = time.perf_counter()
    result = disarm_bytes(data, "bulk.zip", CFG)
    assert result.verdict is Verdict.BLOCKED and result.reason == "limit_exceeded"
    assert time.perf_counter() - started < 5  # the estimate, not the work (~20 s)
    assert "archive work" in result.detail


def test_an_archive_over_its_work_budget_while_disarmed_is_refused() -> None:
    # Within the estimate, but the members take longer than the budget: the deadline.
    tight = SanitizeConfig(archive_work_s=0.05)
    data = make_zip({f"{i}.docm": F.docm_with_vba() for i in range(20)})
    assert 20 * archive.MEMBER_COST_S < 0.05  # the estimate alone lets it in
    with pytest.raises(Blocked) as refused:
        run(data, ctx(cfg=tight))
    assert refused.value.reason == "limit_exceeded" and "over" in str(refused.value)
