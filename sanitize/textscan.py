"""What a worker answers to a "scan" job (the 個人番号 check of a file leaving LGWAN),
and how the pool re-validates that answer.

The worker extracts a file's text and reads it with ``policy.mynumber``; only the
masked numbers cross back (``********1234``), never the text.  Pure: no parsing of
files here, so relayd can import it without the format libraries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

Outcome = Literal["clear", "found", "unreadable", "skipped"]
OUTCOMES: frozenset[str] = frozenset({"clear", "found", "unreadable", "skipped"})
MAX_FOUND = 1000  # masked numbers kept per file: enough for an audit entry
_MASKED = re.compile(r"\*{8}[0-9]{4}")
_DETAIL_MAX = 500


@dataclass(frozen=True, slots=True)
class Scan:
    """One file's check.  ``clear``: its text was read and holds no 個人番号;
    ``found``: ``found`` lists them masked; ``unreadable``: its text could not be read
    within the limits (``detail`` says why, for operators); ``skipped``: its kind was
    not asked for (it may not leave anyway), nothing was read."""

    kind: str
    outcome: Outcome
    found: tuple[str, ...] = ()
    detail: str = ""
    chars: int = 0  # characters of text read (for the bench and operators)

    def header(self) -> dict[str, Any]:
        return {"op": "scanned", "kind": self.kind, "outcome": self.outcome,
                "found": list(self.found), "detail": self.detail, "chars": self.chars}


def from_header(h: dict[str, Any], known_kind: str) -> Scan:
    """A worker's "scanned" reply, trusting nothing unchecked: ValueError if malformed.
    ``known_kind`` is the reply's kind already checked against the kinds we know."""
    if h.get("op") != "scanned" or h.get("outcome") not in OUTCOMES:
        raise ValueError("not a scan reply")
    found = h.get("found") or []
    if not isinstance(found, list) or len(found) > MAX_FOUND or \
            not all(isinstance(m, str) and _MASKED.fullmatch(m) for m in found):
        raise ValueError("malformed masked numbers")
    outcome = h["outcome"]
    if (outcome == "found") != bool(found):
        raise ValueError("outcome and numbers disagree")
    chars = h.get("chars") or 0
    return Scan(known_kind, outcome, tuple(found), str(h.get("detail") or "")[:_DETAIL_MAX],
                chars if isinstance(chars, int) and chars >= 0 else 0)


def unreadable(kind: str, detail: str) -> Scan:
    return Scan(kind, "unreadable", (), detail[:_DETAIL_MAX])
