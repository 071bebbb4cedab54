"""What a file may do at the boundary, and which variant each zone receives.

Pure decisions (no I/O): relay asks, store records, sanitize rebuilds.  The one rule
the whole design hangs on lives here and nowhere else: an LGWAN session never
receives bytes from the internet zone that have not been through the disarm engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Mapping

from policy.config import PolicyConfig

Zone = Literal["lgwan", "internet"]
Action = Literal["allow", "sanitize"]
Variant = Literal["original", "sanitized"]


@dataclass(frozen=True, slots=True)
class Denied:
    """The viewer may not have any variant: ``code`` is the API error code."""

    code: str  # "file_pending" | "file_blocked" | "policy_blocked"
    status: int  # HTTP status hint
    reason: str | None = None  # a key of HOLD_REASONS when a check holds the file


# Why a file from LGWAN is held from internet members (report.reason; API.md).
HOLD_REASONS: dict[str, tuple[str, str]] = {
    "my_number_in_file": (
        "個人番号（マイナンバー）と思われる番号が含まれるため、庁外の参加者には届けません。",
        "The file seems to contain a My Number and is not delivered to members outside LGWAN."),
    "file_not_checked": (
        "ファイルの内容を確認できなかったため、庁外の参加者には届けません。",
        "The file's text could not be checked, so it is not delivered to members outside LGWAN."),
}
# The same findings under my_number_outbound = "warn" (or "allow"): the file goes out.
WARN_REASONS: dict[str, tuple[str, str]] = {
    "my_number_in_file": (
        "個人番号（マイナンバー）と思われる番号が含まれています（設定により庁外の参加者にも届けます）。",
        "The file seems to contain a My Number (policy lets it reach members outside LGWAN)."),
    "file_not_checked": (
        "ファイルの内容を確認できませんでした（設定により庁外の参加者にも届けます）。",
        "The file's text could not be checked (policy lets it reach members outside LGWAN)."),
}


def outbound_record(outcome: str, count: int, cfg: PolicyConfig) -> dict[str, Any]:
    """``report.outbound`` of an LGWAN file whose text was checked: ``outcome`` is
    ``clear``, ``found`` (``count`` numbers) or ``unreadable``.  What it means for
    internet members is decided at each request (``variant_for``: a hit, and a file
    that could not be read, are held under ``block``); ``verdict`` and the messages say
    what the policy of the moment made of it, for the sender."""
    if outcome == "clear":
        return {"outcome": "clear", "verdict": "allow"}
    reason = "my_number_in_file" if outcome == "found" else "file_not_checked"
    return {"outcome": outcome, "reason": reason, "count": count,
            **outbound_notice(reason, cfg)}


def outbound_notice(reason: str, cfg: PolicyConfig) -> dict[str, str]:
    """``verdict`` and the sender's message for a finding, under today's policy."""
    verdict = cfg.my_number_outbound
    ja, en = (HOLD_REASONS if verdict == "block" else WARN_REASONS)[reason]
    return {"verdict": verdict, "message_ja": ja, "message_en": en}


def upload_action(origin_zone: Zone) -> Action:
    """Files from the internet are always disarmed; files from LGWAN are stored as
    they are (they reach internet members only if ``outbound_allowed``)."""
    return "sanitize" if origin_zone == "internet" else "allow"


def outbound_allowed(kind: str, cfg: PolicyConfig) -> bool:
    """May a file of this detected kind go from LGWAN to internet members?"""
    return kind in cfg.outbound_kinds


def variant_for(viewer_zone: Zone, origin_zone: Zone, status: str, kind: str,
                cfg: PolicyConfig, *, outbound: Mapping[str, Any] | None,
                approval: str | None = None) -> Variant | Denied:
    """Which bytes a viewer in ``viewer_zone`` receives of an attachment.

    ``status`` is the attachment's disarm status (pending / ready / blocked);
    ``outbound`` the 個人番号 check of an LGWAN file's text (``report.outbound``; None
    while it has not been checked).  Decided per viewer at each request, so a member
    added later is held from a file exactly like the members there when it was posted.
    ``approval`` is the 上長承認 of an LGWAN file (None: it needs none): internet members
    get nothing until it is ``approved``, and never once it is ``refused``.
    """
    if origin_zone == "internet":
        if viewer_zone == "internet" and cfg.internet_receives == "original":
            return "original"
        if status == "pending":
            return Denied("file_pending", 409)
        if status != "ready":
            return Denied("file_blocked", 403)
        return "sanitized"
    # From LGWAN: LGWAN members get it as posted; internet members only allowed kinds.
    if viewer_zone == "lgwan":
        return "original"
    if approval == "refused":
        return Denied("approval_refused", 403)
    if approval is not None and approval != "approved":
        return Denied("approval_pending", 409)
    if status == "pending":
        return Denied("file_pending", 409)
    if not outbound_allowed(kind, cfg):
        return Denied("policy_blocked", 403)
    if cfg.my_number_outbound != "allow":
        if outbound is None:  # not read yet: the check runs before anyone outside has it
            return Denied("file_pending", 409)
        reason = outbound.get("reason")
        if cfg.my_number_outbound == "block" and (reason is not None
                                                   or outbound.get("outcome") != "clear"):
            return Denied("file_blocked", 403,
                          reason if reason in HOLD_REASONS else "file_not_checked")
    return "original"
