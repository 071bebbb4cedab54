"""The policy package's error hierarchy: a refused request, with a stable code.

``policy`` is pure, so it only says *why* something is refused; ``relay`` translates
the code to an HTTP status once, at its boundary (``relay.errors``).
"""

from __future__ import annotations

from typing import Any


class PolicyError(Exception):
    """A request policy refuses.  ``code`` is the API error code; ``message`` is for
    people (Japanese, then English after " / ")."""

    code = "policy_refused"
    status = 403

    def __init__(self, message: str, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details


class Invalid(PolicyError):
    """A request that can never be accepted as given (status hint 400)."""

    code = "invalid_request"
    status = 400


class InvalidText(Invalid):
    """Text that cannot be stored as given (empty after normalising, or too long)."""


class Forbidden(PolicyError):
    """The caller's kind or zone does not allow this."""

    code = "forbidden"
    status = 403


class ZoneForbidden(Forbidden):
    code = "zone_forbidden"
