"""The two zones, defined once: every package names a zone with this type.

A connection's zone is the listener that accepted it (LGWAN or the internet), never
anything the client sends.  ``store`` imports this module for the type alone (it is
data, not policy), so it stays a leaf: it imports nothing.
"""

from __future__ import annotations

from typing import Literal

Zone = Literal["lgwan", "internet"]
ZONES: tuple[Zone, ...] = ("lgwan", "internet")
