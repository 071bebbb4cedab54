"""What a file may do at the boundary, and which variant each zone receives.

Pure decisions (no I/O): relay asks, store records, sanitize rebuilds.  The one rule
the whole design hangs on lives here and nowhere else: an LGWAN session never
receives bytes from the internet zone that have not been through the disarm engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from policy.config import PolicyConfig

Zone = Literal["lgwan", "internet"]
Action = Literal["allow", "sanitize"]
Variant = Literal["original", "sanitized"]


@dataclass(frozen=True, slots=True)
class Denied:
    """The viewer may not have any variant: ``code`` is the API error code."""

    code: str  # "file_pending" | "file_blocked" | "policy_blocked"
    status: int  # HTTP status hint


def upload_action(origin_zone: Zone) -> Action:
    """Files from the internet are always disarmed; files from LGWAN are stored as
    they are (they reach internet members only if ``outbound_allowed``)."""
    return "sanitize" if origin_zone == "internet" else "allow"


def outbound_allowed(kind: str, cfg: PolicyConfig) -> bool:
    """May a file of this detected kind go from LGWAN to internet members?"""
    return kind in cfg.outbound_kinds


def variant_for(viewer_zone: Zone, origin_zone: Zone, status: str, kind: str,
                cfg: PolicyConfig) -> Variant | Denied:
    """Which bytes a viewer in ``viewer_zone`` receives of an attachment.

    ``status`` is the attachment's disarm status (pending / ready / blocked).
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
    if status == "pending":
        return Denied("file_pending", 409)
    if not outbound_allowed(kind, cfg):
        return Denied("policy_blocked", 403)
    return "original"
