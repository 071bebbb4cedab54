"""ZIP archives: every member disarmed on its own, then a new archive written.

The archive is read with ``safezip`` (bombs, overlaps, encryption and unsafe names
block the whole archive: CDR.md "ZIP archives").  Each member goes through the whole
engine again (``ctx.disarm_nested``, one level deeper), so a docm inside a zip is
disarmed exactly like an uploaded docm, and an executable inside is blocked like an
uploaded one.  Blocked members are dropped and reported; rebuilt members replace the
originals under their mapped name (``a/報告書.docm`` -> ``a/報告書.docx``), and what
was removed inside them is reported with the member's name in front.

Work: besides bytes and counts, an archive's total work is bounded
(``cfg.archive_work_s``): estimated from its members before any is opened (a fixed
cost per member plus one per byte), then enforced as a deadline while they are
disarmed, so ten thousand small files fail in milliseconds with ``limit_exceeded``
instead of holding a worker until it is killed (which would block the file anyway,
after taking a core from everyone else for the whole timeout).

Nesting: a zip at depth ``cfg.max_archive_depth`` or deeper is refused
(``archive_too_deep``); with the default of 3 an upload may hold zips three levels
deep.  The output always has UTF-8 names, directories kept, in the input's order.
"""

from __future__ import annotations

import io
import posixpath
import time
import zipfile

from sanitize import safezip
from sanitize.formats import Context
from sanitize.report import Blocked, Rebuilt, Removed, Verdict, VerifyFailed

KINDS = frozenset({"zip"})

# What disarming one member costs a worker at least (open, detect, rebuild or refuse,
# verify: a small CSV), and what each byte adds; bench/NOTES-sanitize.md has the
# measurements.  Estimates on the cautious side: a legitimate archive is rarely a
# thousand files, a hostile one often ten thousand.
MEMBER_COST_S = 0.002
BYTE_COST_S = 1e-8


def rebuild(data: bytes, kind: str, ctx: Context) -> Rebuilt:
    cfg = ctx.cfg
    if ctx.depth >= cfg.max_archive_depth:
        raise Blocked("archive_too_deep", f"zip at depth {ctx.depth}")
    if ctx.disarm_nested is None:
        raise Blocked("internal_error", "archive rebuild needs ctx.disarm_nested")
    archive = safezip.SafeZip(data, cfg, ctx.handover)
    files = [e for e in archive.entries if not e.is_dir]
    estimate = len(files) * MEMBER_COST_S + sum(e.declared_size for e in files) * BYTE_COST_S
    if estimate > cfg.archive_work_s:
        raise Blocked("limit_exceeded", f"archive work: {len(files)} members, about "
                      f"{estimate:.0f} s > {cfg.archive_work_s:g} s")
    deadline = time.monotonic() + cfg.archive_work_s
    members: list[safezip.Member] = []
    removed: list[Removed] = []
    taken: set[str] = set()
    for entry in archive.entries:
        if entry.is_dir:
            members.append(safezip.Member(entry.name, b"", entry.date_time))
            taken.add(safezip.name_key(entry.name.rstrip("/")))
            continue
        if time.monotonic() > deadline:
            raise Blocked("limit_exceeded", f"archive work over {cfg.archive_work_s:g} s "
                          f"at {entry.name!r}")
        result = ctx.disarm_nested(archive.read(entry), entry.name, ctx.depth + 1)
        if result.verdict is Verdict.BLOCKED or result.output is None:
            removed.append(Removed("archive.member_blocked", f"{entry.name}: {result.reason}"))
            continue
        removed.extend(Removed(r.code, f"{entry.name}: {r.detail}") for r in result.removed)
        name = _unique(_output_name(entry.name, result.output_name), taken)
        members.append(safezip.Member(name, result.output, entry.date_time))
    return Rebuilt(safezip.write_zip(members), "zip", tuple(removed))


def _output_name(name: str, suggested: str | None) -> str:
    """The member's path with the engine's suggested base name (mapped extension)."""
    if not suggested:
        return name
    folder = posixpath.dirname(name)
    candidate = posixpath.join(folder, suggested) if folder else suggested
    try:
        safezip.check_name(candidate)
    except Blocked:
        return name
    return candidate


def _unique(name: str, taken: set[str]) -> str:
    """``name``, or ``stem (2).ext`` when it now collides (a.docm and a.docx both
    become a.docx)."""
    stem, ext = posixpath.splitext(name)
    candidate, n = name, 1
    while safezip.name_key(candidate) in taken:
        n += 1
        candidate = f"{stem} ({n}){ext}"
    taken.add(safezip.name_key(candidate))
    return candidate


def verify(data: bytes, kind: str, ctx: Context) -> None:
    """Re-open with plain zipfile: UTF-8 names, nothing encrypted, no unsafe or
    colliding names, no links, CRCs right.  Members were verified by their own
    modules when the engine disarmed them."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise VerifyFailed(f"output is not a readable zip: {exc}") from exc
    if len(infos) > ctx.cfg.max_archive_entries:
        raise VerifyFailed("too many entries")
    seen: set[str] = set()
    for info in infos:
        name = info.orig_filename
        if info.flag_bits & 0x1 or info.compress_type not in (0, 8):
            raise VerifyFailed(f"{name!r}: encrypted or unusual method")
        if not (info.flag_bits & 0x800 or name.isascii()):
            raise VerifyFailed(f"{name!r}: name not stored as UTF-8")
        segments = name.rstrip("/").split("/")
        if (name.startswith("/") or any(c in name for c in "\\:\x00")
                or any(s in ("", ".", "..") for s in segments)):
            raise VerifyFailed(f"unsafe name {name!r}")
        if (info.external_attr >> 16) & 0o170000 not in (0, 0o100000, 0o040000):
            raise VerifyFailed(f"{name!r}: link or special file")
        key = name.rstrip("/").casefold()
        if key in seen:
            raise VerifyFailed(f"duplicate name {name!r}")
        seen.add(key)
    try:
        bad_crc = zf.testzip()  # inflates our own output: its size is what we wrote
    except (zipfile.BadZipFile, ValueError, OSError, RuntimeError, NotImplementedError) as exc:
        raise VerifyFailed(f"output does not inflate: {exc}") from exc
    if bad_crc is not None:
        raise VerifyFailed(f"CRC error in {bad_crc!r}")
