"""The file in memory that the pool shares with one worker: a job goes in, its output
comes back, and neither passes through the pipe.

Layout: the first ``KIND_LEN`` bytes hold the kind the worker detected for the
current job (NUL-padded; the pool reads it only if the worker dies or times out); the
payload, first the file and then the rebuilt output, starts at ``PAYLOAD_AT``.

Both processes copy through a shared mapping of the file.  That is a memcpy, where
pwrite/pread also paid the page cache's bookkeeping for every 4 KiB page, four times
a job (bench/NOTES-sanitize.md).

The parent may map it only because the file cannot shrink.  A worker that truncated
the file under the parent's mapping would kill relayd with SIGBUS, so the parent seals
it (``F_SEAL_SHRINK``, then ``F_SEAL_SEAL`` so a worker cannot add a seal of its own
such as ``F_SEAL_GROW``).  Memory a huge job leaves behind is given back by punching
a hole (``trim``), which the seal allows; the file's size never goes down.  Without
seals (no memfd on this system) both sides use pread/pwrite and ``trim`` truncates.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import tempfile

KIND_LEN = 64
PAYLOAD_AT = KIND_LEN
# A file holding more memory than this after a job is trimmed before the next one, so
# one huge file does not keep its pages for the life of the worker.
KEEP_BYTES = 16 * 1024 * 1024


class JobFile:
    """One shared job file, by descriptor.  ``map_max`` caps how much of it this
    process maps (a worker's mapping counts against its RLIMIT_AS); bytes past it are
    copied with pread/pwrite."""

    def __init__(self, fd: int, *, map_max: int | None = None) -> None:
        self.fd = fd
        self._map_max = map_max
        self._map: mmap.mmap | None = None
        try:
            self._mappable = bool(fcntl.fcntl(fd, fcntl.F_GET_SEALS) & fcntl.F_SEAL_SHRINK)
        except (AttributeError, OSError):
            self._mappable = False

    @classmethod
    def create(cls) -> JobFile:
        """A new sealed memfd (an unlinked temporary file where there is none)."""
        try:
            fd = os.memfd_create("kakehashi-job", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        except (AttributeError, OSError):
            with tempfile.TemporaryFile() as f:
                return cls(os.dup(f.fileno()))
        try:
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_SEAL)
        except (AttributeError, OSError):
            pass  # an unsealed file is only ever copied with pread/pwrite
        return cls(fd)

    def write(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        end = offset + len(data)
        m = self._mapping(end, grow=True)
        if m is not None:
            m[offset:end] = data
            return
        view = memoryview(data)
        while view:
            view = view[os.pwrite(self.fd, view, end - len(view)):]

    def read(self, offset: int, n: int) -> bytes:
        """``n`` bytes at ``offset``; ValueError if the file is shorter."""
        m = self._mapping(offset + n, grow=False)
        data = m[offset:offset + n] if m is not None else os.pread(self.fd, n, offset)
        if len(data) != n:
            raise ValueError(f"the job file holds less than the {n} bytes announced")
        return data

    def trim(self, keep: int) -> None:
        """Give back the memory past ``keep`` bytes if the file holds over KEEP_BYTES."""
        st = os.fstat(self.fd)
        if st.st_blocks * 512 <= max(KEEP_BYTES, keep):
            return
        if not self._mappable:
            os.ftruncate(self.fd, keep)
            return
        start = -(-keep // mmap.PAGESIZE) * mmap.PAGESIZE
        m = self._mapping(st.st_size, grow=False)
        if m is not None and start < len(m):
            m.madvise(mmap.MADV_REMOVE, start, len(m) - start)

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def _mapping(self, end: int, *, grow: bool) -> mmap.mmap | None:
        """A mapping that covers ``[0, end)``, growing the file if ``grow``; None where
        the file is not to be mapped (unsealed, or ``end`` past ``map_max``)."""
        if not self._mappable or not end or self._map_max is not None and end > self._map_max:
            return None
        m = self._map
        if m is not None and len(m) >= end:
            return m
        size = os.fstat(self.fd).st_size
        if size < end:
            if not grow:
                return None  # read() reports the short file
            # Doubling: a file written in chunks is not remapped for every chunk.
            size = max(end, 2 * size)
            if self._map_max is not None:
                size = min(size, self._map_max)
            os.ftruncate(self.fd, size)
        elif self._map_max is not None:
            size = min(size, self._map_max)
        if m is not None:
            m.close()
        self._map = None
        self._map = mmap.mmap(self.fd, size)
        return self._map
