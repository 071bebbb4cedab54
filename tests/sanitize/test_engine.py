"""The in-process pipeline: always-blocked kinds, limits, fail-closed on every kind of
failure in a format module, verify on the output, names and messages."""

from __future__ import annotations

import io
import types
from typing import Callable

import pytest
from PIL import Image

from sanitize import engine
from sanitize.config import SanitizeConfig
from sanitize.engine import disarm_bytes, output_name
from sanitize.formats import Context
from sanitize.report import REASONS, Blocked, Rebuilt, Removed, Result, Verdict, VerifyFailed
from tests.sanitize.test_detect import compound, retyped

CFG = SanitizeConfig()
ELF = b"\x7fELF\x02\x01\x01" + bytes(57)
PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\n%%EOF\n"


def assert_blocked(result: Result, reason: str) -> None:
    assert result.verdict is Verdict.BLOCKED
    assert result.reason == reason
    assert result.output is None and result.output_name is None
    assert (result.message_ja, result.message_en) == REASONS[reason]


@pytest.mark.parametrize(("data", "name", "kind", "reason"), [
    (ELF, "report.pdf", "executable", "executable"),
    (b"#!/bin/sh\necho hi\n", "a.sh", "executable", "executable"),
    (b"WScript.Echo 1\r\n", "invoice.vbs", "script", "executable"),
    (bytes.fromhex("4c0000000114020000000000c000000000000046") + bytes(60), "a.lnk", "lnk",
     "executable"),
    (bytes(range(256)) * 4, "blob.dat", "unknown", "unknown_kind"),
    (compound("EncryptionInfo", "EncryptedPackage"), "a.docx", "ooxml_encrypted", "encrypted"),
    (compound("foo"), "a.msi", "cfb", "unsupported_kind"),
    (b"Rar!\x1a\x07\x01\x00" + bytes(40), "a.rar", "archive_other", "unsupported_kind"),
])
def test_always_blocked_kinds(data: bytes, name: str, kind: str, reason: str) -> None:
    result = disarm_bytes(data, name, CFG)
    assert result.kind == kind
    assert_blocked(result, reason)


def test_default_password_ooxml_is_opened_and_rebuilt_others_blocked() -> None:
    # CDR.md: encrypted containers are blocked, except Office's default password.
    from msoffcrypto.format.ooxml import OOXMLFile

    from tests.sanitize import ooxml_fixtures as F

    def encrypt(data: bytes, password: str) -> bytes:
        out = io.BytesIO()
        OOXMLFile(io.BytesIO(data)).encrypt(password, out)
        return out.getvalue()

    velvet = disarm_bytes(encrypt(F.docm_with_vba(), "VelvetSweatshop"), "議事録.docx", CFG)
    assert velvet.verdict is Verdict.SANITIZED, velvet.detail
    assert velvet.kind == "ooxml_encrypted" and velvet.output_kind == "docx"
    assert {"ooxml.default_password", "ooxml.vba"} <= {r.code for r in velvet.removed}
    assert velvet.output is not None and b"vbaProject" not in velvet.output
    secret = disarm_bytes(encrypt(F.docx_bytes(), "himitsu"), "議事録.docx", CFG)
    assert_blocked(secret, "encrypted")


def test_addin_is_blocked_as_active_content() -> None:
    assert_blocked(disarm_bytes(retyped("xlam"), "tool.xlam", CFG), "active_content")


def test_size_cap() -> None:
    result = disarm_bytes(PDF, "a.pdf", SanitizeConfig(max_input_bytes=10))
    assert_blocked(result, "too_large")


def test_depth_cap() -> None:
    result = disarm_bytes(PDF, "a.pdf", CFG, depth=CFG.max_archive_depth + 1)
    assert_blocked(result, "archive_too_deep")


def test_mismatch_is_reported_on_blocked_results() -> None:
    assert disarm_bytes(ELF, "report.pdf", CFG).name_mismatch is True


# --------------------------------------------------------------------------- a stand-in
# A format module that misbehaves on demand: the real ones cannot be made to raise an
# arbitrary exception, and the engine's promise is about what it does when they do.


def stand_in(rebuild: Callable[[bytes, str, Context], Rebuilt],
             verify: Callable[[bytes, str, Context], None] | None = None) -> types.ModuleType:
    mod = types.ModuleType("sanitize.formats.stand_in")
    mod.KINDS = frozenset({"pdf"})  # type: ignore[attr-defined]
    mod.rebuild = rebuild  # type: ignore[attr-defined]
    mod.verify = verify or (lambda data, kind, ctx: None)  # type: ignore[attr-defined]
    return mod


@pytest.fixture
def use(monkeypatch: pytest.MonkeyPatch) -> Callable[[types.ModuleType], None]:
    def install(mod: types.ModuleType) -> None:
        monkeypatch.setattr(engine, "module_for", lambda kind: mod if kind in mod.KINDS else None)
    return install


def raising(exc: BaseException) -> Callable[[bytes, str, Context], Rebuilt]:
    def rebuild(data: bytes, kind: str, ctx: Context) -> Rebuilt:
        raise exc
    return rebuild


@pytest.mark.parametrize(("exc", "reason"), [
    (ValueError("bad xref"), "corrupt"),
    (KeyError("/Root"), "corrupt"),
    (MemoryError(), "limit_exceeded"),
    (RecursionError(), "limit_exceeded"),
    (TypeError("our bug"), "internal_error"),
    (AttributeError("our bug"), "internal_error"),
    (Blocked("encrypted", "user password"), "encrypted"),
])
def test_failures_in_rebuild_fail_closed(use: Callable[[types.ModuleType], None],
                                         exc: BaseException, reason: str) -> None:
    use(stand_in(raising(exc)))
    result = disarm_bytes(PDF, "a.pdf", CFG)
    assert result.kind == "pdf"
    assert_blocked(result, reason)


def test_verify_sees_the_output_and_can_refuse(use: Callable[[types.ModuleType], None]) -> None:
    seen: list[tuple[bytes, str]] = []

    def verify(data: bytes, kind: str, ctx: Context) -> None:
        seen.append((data, kind))
        raise VerifyFailed("/JS still present")

    use(stand_in(lambda d, k, c: Rebuilt(b"%PDF-rebuilt", "pdf", (Removed("pdf.js"),)), verify))
    result = disarm_bytes(PDF, "a.pdf", CFG)
    assert seen == [(b"%PDF-rebuilt", "pdf")]  # the output, not the input
    assert_blocked(result, "verify_failed")


def test_verify_crashing_on_the_output_blocks(use: Callable[[types.ModuleType], None]) -> None:
    def verify(data: bytes, kind: str, ctx: Context) -> None:
        raise ValueError("cannot parse")

    use(stand_in(lambda d, k, c: Rebuilt(b"x", "pdf"), verify))
    assert_blocked(disarm_bytes(PDF, "a.pdf", CFG), "verify_failed")


@pytest.mark.parametrize("bad", [
    Rebuilt(b"x", "docm"),  # a macro kind is never an output kind
    Rebuilt(b"x", "executable"),
    Rebuilt(b"x", "no-such-kind"),
    "not a Rebuilt",
])
def test_malformed_module_output_is_an_internal_error(
        use: Callable[[types.ModuleType], None], bad: object) -> None:
    use(stand_in(lambda d, k, c: bad))  # type: ignore[arg-type, return-value]
    assert_blocked(disarm_bytes(PDF, "a.pdf", CFG), "internal_error")


def test_sanitized_and_clean_verdicts(use: Callable[[types.ModuleType], None]) -> None:
    use(stand_in(lambda d, k, c: Rebuilt(b"%PDF-new", "pdf", (Removed("pdf.js", "obj 3"),))))
    result = disarm_bytes(PDF, "予算.pdf", CFG)
    assert (result.verdict, result.output, result.output_name) == (
        Verdict.SANITIZED, b"%PDF-new", "予算.pdf")
    assert result.removed == (Removed("pdf.js", "obj 3"),)
    assert "1" in result.message_ja and "1" in result.message_en

    use(stand_in(lambda d, k, c: Rebuilt(b"%PDF-new", "pdf")))
    result = disarm_bytes(PDF, "予算.pdf", CFG)
    assert result.verdict is Verdict.CLEAN and result.reason is None


def test_nested_content_goes_through_the_whole_pipeline(
        use: Callable[[types.ModuleType], None]) -> None:
    inner: list[Result] = []

    def rebuild(data: bytes, kind: str, ctx: Context) -> Rebuilt:
        assert ctx.disarm_nested is not None
        inner.append(ctx.disarm_nested(ELF, "member.exe", ctx.depth + 1))
        return Rebuilt(b"%PDF-new", "pdf", (Removed("zip.member", "member.exe"),))

    use(stand_in(rebuild))
    disarm_bytes(PDF, "a.pdf", CFG)
    assert inner[0].verdict is Verdict.BLOCKED and inner[0].reason == "executable"


# --------------------------------------------------------------------------- real module


def test_real_image_module_through_the_engine() -> None:
    pytest.importorskip("sanitize.formats.images")
    exif = Image.Exif()
    exif[0x8825] = {2: (35.0, 41.0, 0.0)}  # GPS latitude: where the photo was taken
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (10, 120, 200)).save(buf, "JPEG", exif=exif)
    result = disarm_bytes(buf.getvalue(), "現場写真.JPEG", CFG)
    assert result.verdict is Verdict.SANITIZED and result.kind == "jpeg"
    assert result.output_name == "現場写真.JPEG"
    assert result.output is not None
    with Image.open(io.BytesIO(result.output)) as im:
        assert im.size == (32, 24)
        assert not im.getexif()


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(("name", "kind", "expected"), [
    ("報告書.docm", "docx", "報告書.docx"),
    ("集計.xlsm", "xlsx", "集計.xlsx"),
    ("photo.JPEG", "jpeg", "photo.JPEG"),
    ("photo.png", "jpeg", "photo.jpg"),  # content decides
    ("scan", "pdf", "scan.pdf"),
    ("data.v2", "pdf", "data.v2.pdf"),  # unknown extension kept as part of the stem
    ("C:\\Users\\x\\..\\memo.txt", "text", "memo.txt"),
    ("../../etc/passwd", "text", "passwd.txt"),
    ("invoice\u202efdp.exe", "pdf", "invoicefdp.pdf"),  # bidi override dropped
    (".htaccess", "text", "htaccess.txt"),
    ("", "pdf", "file.pdf"),
])
def test_output_names(name: str, kind: str, expected: str) -> None:
    assert output_name(name, kind) == expected
