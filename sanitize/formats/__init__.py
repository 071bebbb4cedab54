"""Format modules: one per family, each rebuilding a file from its safe parts.

The contract every module in this package keeps (the engine relies on nothing else):

``KINDS: frozenset[str]``
    the canonical kinds (``sanitize.kinds``) the module rebuilds.

``rebuild(data: bytes, kind: str, ctx: Context) -> Rebuilt``
    parse ``data`` under the limits in ``ctx.cfg``, write a new file from the parts
    judged safe, and list what was removed.  Raise ``Blocked(reason, detail)`` to
    refuse; any other exception is turned into ``blocked`` / ``corrupt`` by the engine.

``verify(data: bytes, kind: str, ctx: Context) -> None``
    a separate, simpler re-open of the *output*: raise ``VerifyFailed(detail)`` if any
    construct the module removes is still present, or if the output does not parse.
    It must not share the rebuild's walking code, so a bug in one is caught by the other.

Modules never import trio, store or relay, do no network or file-system I/O of their
own, and keep all limits in ``ctx.cfg`` (``sanitize.config.SanitizeConfig``).  What
one step parsed and the next may reuse travels in ``ctx.handover``
(``sanitize.handover``), never in module-level state.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType
from typing import Callable

from sanitize.config import SanitizeConfig
from sanitize.handover import Handover
from sanitize.report import Result


@dataclass(frozen=True, slots=True)
class Context:
    cfg: SanitizeConfig
    # Nesting depth (0 for the uploaded file; zip members are depth + 1).
    depth: int = 0
    # The engine's in-process entry for nested content (zip members):
    # disarm_nested(data, name, depth) -> Result.
    disarm_nested: Callable[[bytes, str, int], Result] | None = None
    # This file's parses, from detect to rebuild to verify (the engine makes one per
    # file; a Context made without one gets its own).
    handover: Handover = field(default_factory=Handover, compare=False, repr=False)


# kind -> module (relative to this package) that rebuilds it.
_MODULES = {
    "pdf": "pdf",
    "images": "images",
    "ooxml": "ooxml",
    "ole2": "ole2",
    "rtf": "rtf",
    "archive": "archive",
    "text": "text",
}


def module_for(kind: str) -> ModuleType | None:
    """The format module that rebuilds ``kind``, or None (then the file is blocked)."""
    for name in _MODULES.values():
        try:
            mod = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{name}":
                continue  # that family is not built yet: its kinds stay blocked
            raise
        if kind in mod.KINDS:
            return mod
    return None
