"""The `[policy]` section: what may cross the boundary, and in which form."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    # Text limit for a message body, in characters after normalisation.
    max_message_chars: int = field(default=10_000, metadata={"min": 1, "max": 1_000_000})
    # What an lgwan -> internet message containing a valid 12-digit My Number does.
    my_number_outbound: Literal["allow", "warn", "block"] = "block"
    # External accounts may create rooms (with members they already share a room with).
    external_can_create_rooms: bool = False
    # Which variant internet-zone members receive of a file posted from the internet.
    internet_receives: Literal["original", "sanitized"] = "original"
    # How long an admin's approval releases a quarantined original to its requester.
    original_release_hours: float = field(default=24.0, metadata={"min": 0.01, "max": 24 * 90})
    # File kinds (detected) that may go from LGWAN to internet recipients.
    outbound_kinds: tuple[str, ...] = (
        "pdf", "jpeg", "png", "gif", "webp", "bmp", "tiff",
        "docx", "xlsx", "pptx", "text", "csv", "zip",
    )
