"""What a file looks like from each side: stored names, download headers, the
attachment view and event each zone gets, and the audit record of a crossing.

Pure functions (no I/O): the routes, the disarm jobs and the originals share them.
"""

from __future__ import annotations

import urllib.parse
from collections import Counter
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable

from policy import files as file_policy
from policy import text
from policy.config import PolicyConfig
from policy.errors import Invalid
from policy.zones import Zone
from sanitize.kinds import ALWAYS_BLOCKED, KINDS
from sanitize.report import REASONS, Result
from store.records import Attachment

from relay.web import Response

MAX_NAME_CHARS = 255  # a file name, after normalising (what file systems take)
MAX_REASON_CHARS = 1000  # a request's reason, an admin's note
OCTET_STREAM = "application/octet-stream"
# Kinds a browser would run if it ever displayed them: an original of these is served
# as plain bytes (the disarmed variants of html/svg are rebuilt and typed as such).
_ACTIVE_IN_BROWSER = frozenset({"html", "svg", "xml"})


def file_name(raw: str) -> str:
    """The stored form of a declared file name: normalised like text (no controls, no
    bidi overrides), without any directory part, 1..MAX_NAME_CHARS characters."""
    name = text.normalise(raw).replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name or name in (".", ".."):
        raise Invalid("ファイル名が必要です / a file name is required (?name=)",
                      code="invalid_file_name")
    if len(name) > MAX_NAME_CHARS:
        raise Invalid(f"ファイル名が長すぎます（最大 {MAX_NAME_CHARS} 文字） / file name too "
                      f"long (max {MAX_NAME_CHARS} characters)", code="invalid_file_name",
                      limit=MAX_NAME_CHARS)
    return name


def reason_text(raw: str, what_ja: str, what_en: str, too_long: str,
                empty: str | None = None) -> str:
    """A request's reason or a decision's note: normalised, at most MAX_REASON_CHARS;
    refused with ``empty`` when it is required and there is none."""
    out = text.normalise(raw)
    if empty is not None and not out:
        raise Invalid(f"{what_ja}を入力してください / a {what_en} is required", code=empty)
    if len(out) > MAX_REASON_CHARS:
        raise Invalid(f"{what_ja}が長すぎます（最大 {MAX_REASON_CHARS} 文字） / {what_en} too "
                      f"long (max {MAX_REASON_CHARS} characters)", code=too_long)
    return out


def content_disposition(name: str) -> str:
    """``attachment`` with an ASCII fallback and the exact name as RFC 5987
    ``filename*`` (Japanese names survive; quotes and controls cannot break out)."""
    fallback = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\%;' else "_" for c in name)
    quoted = urllib.parse.quote(name, safe="")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quoted}"


def content_type(kind: str | None, disarmed: bool) -> str:
    """The MIME type to serve: the kind's own for known kinds, plain bytes for kinds
    never delivered and for originals a browser would execute."""
    k = KINDS.get(kind or "")
    if k is None or k.name in ALWAYS_BLOCKED or (not disarmed and k.name in _ACTIVE_IN_BROWSER):
        return OCTET_STREAM
    return k.mime


def download_headers(name: str, ctype: str, size: int) -> tuple[tuple[str, str], ...]:
    return (("content-type", ctype), ("content-length", str(size)),
            ("content-disposition", content_disposition(name)),
            ("x-content-type-options", "nosniff"), ("cache-control", "no-store"),
            # Should a browser show it after all, it runs nothing and loads nothing.
            ("content-security-policy", "default-src 'none'; sandbox"))


def _policy_blocked_report() -> dict[str, Any]:
    ja, en = REASONS["policy_blocked"]
    return {"removed": [], "reason": "policy_blocked", "message_ja": ja, "message_en": en}


def approval_refused_report() -> dict[str, Any]:
    """What internet members see of a file its approver refused (not the reason)."""
    return {"removed": [], "reason": "approval_refused",
            "message_ja": "承認されなかったため、庁外の参加者には届けません。",
            "message_en": "The file was not approved for members outside LGWAN."}


def hold_report(reason: str) -> dict[str, Any]:
    """The report internet members see of an LGWAN file a check holds from them."""
    ja, en = file_policy.HOLD_REASONS[reason]
    return {"removed": [], "reason": reason, "message_ja": ja, "message_en": en}


def outbound_check(att: Attachment) -> dict[str, Any] | None:
    """The 個人番号 check of an LGWAN file's text (None: not checked)."""
    found = att.report.get("outbound") if att.origin_zone == "lgwan" else None
    return found if isinstance(found, dict) else None


def attachment_view(att: Attachment, zone: Zone, cfg: PolicyConfig) -> dict[str, Any]:
    """An attachment as a viewer in ``zone`` sees it: API.md's shape, plus ``content``
    (what a download gives this zone: variant, name, size) or None when refused.

    A file from LGWAN whose kind may not leave shows as ``blocked`` (policy_blocked)
    to the internet side, one whose text holds a 個人番号 (or could not be read) as
    ``blocked`` with that reason, one not checked yet as ``pending``; the stored status
    is the disarm status, which LGWAN sees, with ``report.outbound`` saying what the
    check found and what that means outside, in today's policy's words."""
    view = att.public()
    view["message_id"] = att.message_id
    view["room_id"] = att.room_id
    checked = outbound_check(att)
    if zone == "lgwan" and checked is not None and checked.get("reason") in file_policy.HOLD_REASONS:
        view["report"] = {**att.report, "outbound": {
            **checked, **file_policy.outbound_notice(checked["reason"], cfg)}}
    elif zone == "internet" and checked is not None:
        view["report"] = {k: v for k, v in att.report.items() if k != "outbound"}
    variant = file_policy.variant_for(zone, att.origin_zone, att.status, att.kind, cfg,
                                      outbound=checked, approval=att.approval)
    if zone == "lgwan" and att.approval == "refused":
        view["approval_reason"] = att.approval_reason  # the refusal's reason stays inside
    if isinstance(variant, file_policy.Denied):
        if variant.code == "approval_refused":
            view["status"] = "blocked"
            view["report"] = approval_refused_report()
        elif variant.code == "approval_pending":
            view["status"] = "pending"
        elif variant.code == "policy_blocked":
            view["status"] = "blocked"
            view["report"] = _policy_blocked_report()
        elif variant.reason is not None:
            view["status"] = "blocked"
            view["report"] = hold_report(variant.reason)
        elif variant.code == "file_pending":
            view["status"] = "pending"
        view["content"] = None
    elif variant == "sanitized":
        view["content"] = {"variant": "sanitized", "name": att.sanitized_name or att.name,
                           "size": att.sanitized_size}
    else:
        view["content"] = {"variant": "original", "name": att.name, "size": att.size}
    return view


def file_event(att: Attachment, cfg: PolicyConfig) -> Callable[[Zone], dict[str, Any]]:
    """``file.ready`` / ``file.blocked`` in each zone's form (for ``Hub.publish``)."""
    def form(zone: Zone) -> dict[str, Any]:
        view = attachment_view(att, zone, cfg)
        kind = "file.ready" if view["status"] == "ready" else "file.blocked"
        return {"type": kind, "file": view, "message_id": att.message_id,
                "room_id": att.room_id}
    return form


def crossing_record(att: Attachment, result: Result, variant_sha: str | None,
                    variant_size: int | None) -> dict[str, Any]:
    """The audit data of one file crossing from the internet into LGWAN."""
    return {"file_id": att.id, "room_id": att.room_id, "name": att.name,
            "sha256": att.sha256, "size": att.size,
            "sanitized_sha256": variant_sha, "sanitized_size": variant_size,
            "kind": result.kind, "output_kind": result.output_kind,
            "verdict": result.verdict.value, "reason": result.reason,
            "removed": dict(Counter(r.code for r in result.removed)),
            "name_mismatch": result.name_mismatch}


@dataclass(frozen=True, slots=True)
class Download:
    name: str
    content_type: str
    size: int
    chunks: AsyncIterator[bytes]

    def response(self) -> Response:
        return Response(200, download_headers(self.name, self.content_type, self.size),
                        stream=self.chunks)
