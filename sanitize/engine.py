"""The disarm pipeline for one file, in-process: detect, rebuild, verify, report.

``disarm_bytes`` is what a worker process runs for each job (``sanitize.worker``);
the daemon never calls it itself, because it parses hostile bytes.  It never raises
and never lets the original through: every failure becomes a ``blocked`` Result
(fail closed, CDR.md), and the only bytes in a Result are those a format module wrote
and a separate verify step accepted.  What one step parses and the next reuses (a
compound file's directory from detect to the rebuild, say) goes in the file's own
``Handover``, made here and dropped with the job.
"""

from __future__ import annotations

import time
import traceback
import unicodedata
from typing import Callable

from sanitize.config import SanitizeConfig
from sanitize.detect import Detection, declared_kind, detect, split_extension
from sanitize.formats import Context, module_for
from sanitize.handover import Handover
from sanitize.kinds import ALWAYS_BLOCKED, KINDS, output_kind
from sanitize.report import Blocked, Rebuilt, Removed, Result, Verdict, messages_for

# Why an always-blocked kind is refused, in the words the user sees.
_ALWAYS_BLOCKED_REASON = {
    "executable": "executable", "script": "executable", "lnk": "executable",
    "unknown": "unknown_kind",
    # Add-ins exist to carry code; there is nothing left once it is removed.
    "xlam": "active_content", "ppam": "active_content",
}
# Exceptions that mean our own code is wrong rather than the file being malformed.
_OUR_BUGS = (AssertionError, NameError, AttributeError, TypeError, ImportError,
             SyntaxError, NotImplementedError)
_DETAIL_MAX = 500


def disarm_bytes(data: bytes, name: str, cfg: SanitizeConfig, depth: int = 0,
                 on_detect: Callable[[Detection], None] | None = None) -> Result:
    """Disarm one file.  ``on_detect`` hears the detected kind before the rebuild
    starts (the worker forwards it, so a timeout can still name the kind)."""
    start = time.perf_counter()
    kind, mismatch = "unknown", False
    try:
        if len(data) > cfg.max_input_bytes:
            raise Blocked("too_large", f"{len(data)} bytes > {cfg.max_input_bytes}")
        if depth > cfg.max_archive_depth:
            raise Blocked("archive_too_deep", f"depth {depth}")
        handover = Handover()
        found = detect(data, name, handover)
        kind, mismatch = found.kind, found.name_mismatch
        if on_detect is not None:
            on_detect(found)
        ctx = Context(cfg=cfg, depth=depth, disarm_nested=_nested(cfg), handover=handover)
        rebuilt = _rebuild_verified(data, kind, ctx)
    except Exception as exc:  # every failure is a verdict (MemoryError included)
        reason, detail = reason_for(exc)
        return blocked(kind, reason, detail, name_mismatch=mismatch,
                       seconds=time.perf_counter() - start)
    verdict = Verdict.SANITIZED if rebuilt.removed else Verdict.CLEAN
    ja, en = messages_for(verdict, None, len(rebuilt.removed))
    return Result(verdict=verdict, kind=kind, output=rebuilt.data,
                  output_kind=rebuilt.kind, output_name=output_name(name, rebuilt.kind),
                  removed=tuple(rebuilt.removed), name_mismatch=mismatch,
                  seconds=time.perf_counter() - start, message_ja=ja, message_en=en)


def _rebuild_verified(data: bytes, kind: str, ctx: Context) -> Rebuilt:
    if kind in ALWAYS_BLOCKED:
        raise Blocked(_ALWAYS_BLOCKED_REASON.get(kind, "unsupported_kind"), kind)
    mod = module_for(kind)
    if mod is None:
        raise Blocked("unsupported_kind", f"no rebuilder for {kind}")
    rebuilt = mod.rebuild(data, kind, ctx)
    if not isinstance(rebuilt, Rebuilt) or not isinstance(rebuilt.data, bytes):
        raise TypeError(f"{mod.__name__}.rebuild returned {type(rebuilt).__name__}")
    if rebuilt.kind not in KINDS or rebuilt.kind in ALWAYS_BLOCKED \
            or rebuilt.kind != output_kind(rebuilt.kind):
        raise TypeError(f"{mod.__name__}.rebuild produced kind {rebuilt.kind!r}")
    if any(not isinstance(r, Removed) for r in rebuilt.removed):
        raise TypeError(f"{mod.__name__}.rebuild listed a non-Removed item")
    try:
        mod.verify(rebuilt.data, rebuilt.kind, ctx)
    except Blocked:
        raise
    except Exception as exc:  # an output that does not even re-open is not accepted
        raise Blocked("verify_failed", _describe(exc)) from exc
    return rebuilt


def _nested(cfg: SanitizeConfig) -> Callable[[bytes, str, int], Result]:
    def disarm_nested(data: bytes, name: str, depth: int) -> Result:
        return disarm_bytes(data, name, cfg, depth)
    return disarm_nested


def reason_for(exc: BaseException) -> tuple[str, str]:
    """The block reason and operator detail for an exception raised while disarming."""
    if isinstance(exc, Blocked):
        return exc.reason, exc.detail
    if isinstance(exc, (MemoryError, RecursionError)):
        return "limit_exceeded", _describe(exc)
    if isinstance(exc, _OUR_BUGS):
        # The last frame tells the operator where; the user only sees "internal error".
        where = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
        loc = f" at {where[0].filename}:{where[0].lineno}" if where else ""
        return "internal_error", _describe(exc) + loc
    return "corrupt", _describe(exc)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:_DETAIL_MAX]


def blocked(kind: str, reason: str, detail: str = "", *, name_mismatch: bool = False,
            seconds: float = 0.0) -> Result:
    """A blocked Result: no output, the user message for ``reason``."""
    ja, en = messages_for(Verdict.BLOCKED, reason, 0)
    return Result(verdict=Verdict.BLOCKED, kind=kind, output=None, output_kind=None,
                  output_name=None, reason=reason, detail=detail[:_DETAIL_MAX],
                  name_mismatch=name_mismatch, seconds=seconds, message_ja=ja,
                  message_en=en)


# --------------------------------------------------------------------------- names

# Control, format (bidi overrides such as U+202E) and separator characters are
# dropped from suggested names: "invoice\u202efdp.exe" must not display as "…exe.pdf".
_DROP_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
_ASCII_CONTROLS = dict.fromkeys([*range(0x20), 0x7F])  # the ASCII part of those
_NAME_MAX = 200


def output_name(name: str, kind: str) -> str:
    """The name to deliver a rebuilt file under: the declared name's stem with the
    extension of ``kind``; the declared extension is kept when it already means that
    kind (``photo.JPEG`` stays, ``報告書.docm`` becomes ``報告書.docx``)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    if base.isascii():  # the usual case: only C0 controls and DEL to drop
        base = base.translate(_ASCII_CONTROLS)
    else:
        base = unicodedata.normalize("NFC", base)
        base = "".join(ch for ch in base if unicodedata.category(ch) not in _DROP_CATEGORIES)
    base = base.strip().lstrip(".").replace(":", "_") or "file"
    stem, suffix = split_extension(base)
    declared = declared_kind(base)
    if suffix and declared == kind:
        ext = suffix
    else:
        stem = stem if declared is not None else base
        ext = KINDS[kind].extension
    stem = (stem.strip() or "file")[: _NAME_MAX - len(ext)]
    return stem + ext
