"""What the steps of one disarm job hand each other: parses worth making only once.

Detect reads a compound file's directory (``cfb.scan``) or a zip's central directory
(``safezip.open_zip``) to tell the kind, and the rebuild needs the very same reading;
the .doc/.xls/.ppt rebuild reads its output back with ``cfb.scan`` to check its main
stream, and verify, given those bytes, reads their streams through that scan; the
PDF rebuild reads its output whole from an in-memory file, which verify can map
instead of copying the output into another; the OOXML rebuild copies the deflate
stream of every part it leaves unchanged into its output, and verify, meeting that
same stream there, takes the bytes the rebuild inflated it to instead of inflating
it again (inflating is a function of the stream's bytes alone, and they are compared
whole, so verify's answer is the one it would have worked out).  The engine makes one
``Handover`` per file, gives it to detect and, in the ``Context``, to rebuild and
verify, and drops it with the job: nothing parsed from one hostile file outlives its
job or reaches another.

Each parse is kept beside the bytes object it was made from and handed out only for
that same object.  The engine gives the rebuild the bytes detect saw and verify the
bytes the rebuild returned, so the check never decides anything in a job that runs as
it should; it keeps a step that is asked about other bytes (a decrypted package, a
test sharing one Context between files) from being answered about the wrong ones.
Only ``bytes`` are kept: a mutable buffer may change under a kept parse.
"""

from __future__ import annotations

import zipfile
from typing import TYPE_CHECKING, BinaryIO

from sanitize import cfb, safezip

if TYPE_CHECKING:
    from sanitize.cfb import Scan


class Handover:
    """One job's parses, from the step that made them to the step that needs them."""

    __slots__ = ("_scan", "_zip", "_output", "_inflated")

    def __init__(self) -> None:
        self._scan: tuple[bytes, Scan | None] | None = None
        self._zip: tuple[bytes, zipfile.ZipFile] | None = None
        self._output: tuple[bytes, BinaryIO] | None = None
        # (CRC, stream length) -> (deflate stream, what it inflates to)
        self._inflated: dict[tuple[int, int], tuple[bytes, bytes]] = {}

    def scan(self, data: bytes) -> Scan | None:
        """``cfb.scan(data)``; asked again for the same bytes, the same answer.

        Readers made from a Scan share nothing that reading changes, so detect and the
        rebuild may both read the one scan."""
        kept = self._scan
        if kept is not None and kept[0] is data:
            return kept[1]
        found = cfb.scan(data)
        if type(data) is bytes:
            self._scan = (data, found)
        return found

    def open_zip(self, data: bytes) -> zipfile.ZipFile:
        """``safezip.open_zip(data)``; asked again for the same bytes, the same reading.
        Raises what zipfile raises (nothing is kept then)."""
        kept = self._zip
        if kept is not None and kept[0] is data:
            return kept[1]
        zf = safezip.open_zip(data)
        if type(data) is bytes:
            self._zip = (data, zf)
        return zf

    def hold_output(self, data: bytes, f: BinaryIO) -> BinaryIO | None:
        """Keep ``f``, from which the rebuild's output ``data`` was just read whole,
        for ``take_output(data)``.  Returns the file held until now, if any (its
        owner may reuse it)."""
        old = self._output
        self._output = (data, f)
        return old[1] if old is not None else None

    def holds(self, f: BinaryIO) -> bool:
        """Whether ``f`` is held (its owner must not reuse it yet)."""
        return self._output is not None and self._output[1] is f

    def take_output(self, data: bytes) -> BinaryIO | None:
        """The held file if it holds exactly ``data`` (then no longer held), else None."""
        kept = self._output
        if kept is None or kept[0] is not data:
            return None
        self._output = None
        return kept[1]

    def keep_inflated(self, crc: int, stream: bytes, body: bytes) -> None:
        """Note that the raw deflate ``stream`` (of ``crc``) inflated, whole and
        checked, to ``body``: the rebuild copies it into its output as it is."""
        self._inflated[(crc, len(stream))] = (stream, body)

    def inflated(self, crc: int, stream: bytes) -> bytes | None:
        """What ``stream`` inflates to if a kept stream has exactly its bytes, else
        None.  Keyed by the CRC the reader's directory gives and the length, so the
        look-up compares bytes (one memcmp) rather than hashing a whole stream."""
        kept = self._inflated.get((crc, len(stream)))
        if kept is None or kept[0] != stream:
            return None
        return kept[1]
