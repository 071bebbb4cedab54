"""Landlock for the disarm workers: the file system becomes read-only, and only where
the workers' code lives.

A worker (and the fork server it comes from, ``sanitize.forkserver``) calls
``Ruleset.build(paths)`` once its libraries are imported, then ``restrict()``: from
then on the process can read files only beneath ``paths`` (the Python library, the
site-packages, the ``sanitize`` package, the shared libraries it has mapped,
libmagic's database) and can write, create, rename, remove, truncate or execute no
file anywhere.  Files it already holds open keep working: the job file comes and goes
through a descriptor.  Where the kernel knows them it also takes away TCP bind and
connect (ABI 4) and signals to processes outside its own domain (ABI 6): every
worker restricts itself once more after the fork, so each has a domain of its own and
cannot signal its siblings or the fork server.

Plain ctypes calls to ``syscall(2)``: a kept Python binding is not in the dependency
set (PyPI has a pre-release ``landlock`` and a few young ones), and this is three
system calls.  Best effort, documented: on a kernel without Landlock (before 5.13,
or built or booted without it) ``Ruleset.build`` reports why and the worker keeps its
rlimits and the seccomp filter (``sanitize.seccomp``), which refuses opening for
writing, renames and removals on its own, but not reading.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import stat
import tempfile
from collections.abc import Iterable

# <asm/unistd.h>: the same numbers on x86_64 and aarch64 (asm-generic).
_NR = {"x86_64": (444, 445, 446), "aarch64": (444, 445, 446)}
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1

# <linux/landlock.h> LANDLOCK_ACCESS_FS_*: bit 0 EXECUTE ... 12 MAKE_SYM (ABI 1),
# 13 REFER (ABI 2), 14 TRUNCATE (ABI 3), 15 IOCTL_DEV (ABI 5).
_FS_READ_FILE = 1 << 2
_FS_READ_DIR = 1 << 3
_FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1,
              5: (1 << 16) - 1}
# LANDLOCK_ACCESS_NET_BIND_TCP | CONNECT_TCP (ABI 4); LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
# | LANDLOCK_SCOPE_SIGNAL (ABI 6).
_NET_ALL = 0b11
_SCOPE_ALL = 0b11
_PR_SET_NO_NEW_PRIVS = 38


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64),
                ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1  # __attribute__((packed)) in the kernel header: 12 bytes
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _call(nr: int, *args: object) -> int:
    ret = _libc.syscall(ctypes.c_long(nr), *args)
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return int(ret)


def abi() -> int:
    """The kernel's Landlock ABI version; OSError saying why there is none."""
    nrs = _NR.get(platform.machine())
    if nrs is None:
        raise OSError(errno.ENOSYS, f"no syscall table for {platform.machine()}")
    return _call(nrs[0], None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))


class Ruleset:
    """A Landlock ruleset that allows reading beneath some paths and nothing else.

    Built once (before the process loses the right to open those paths); ``restrict``
    may be called again by a forked child to enter a domain of its own."""

    def __init__(self, fd: int, version: int, paths: tuple[str, ...]) -> None:
        self.fd, self.version, self.paths = fd, version, paths

    @classmethod
    def build(cls, paths: Iterable[str]) -> Ruleset | str:
        """The ruleset, or why Landlock is unavailable here (a string)."""
        try:
            version = abi()
        except OSError as exc:
            return f"unavailable: {exc.strerror} (kernel {platform.release()})"
        fs = _FS_BY_ABI.get(version, _FS_BY_ABI[5])
        attr = _RulesetAttr(fs, _NET_ALL if version >= 4 else 0,
                            _SCOPE_ALL if version >= 6 else 0)
        size = ctypes.sizeof(_RulesetAttr) if version >= 6 else (
            16 if version >= 4 else 8)
        nrs = _NR[platform.machine()]
        try:
            fd = _call(nrs[0], ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
        except OSError as exc:
            return f"unavailable: landlock_create_ruleset: {exc.strerror}"
        os.set_inheritable(fd, False)
        granted = []
        for path in dict.fromkeys(paths):
            try:
                pfd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue  # gone, or never there: nothing to grant
            try:
                is_dir = stat.S_ISDIR(os.fstat(pfd).st_mode)
                rule = _PathBeneathAttr(_FS_READ_FILE | (_FS_READ_DIR if is_dir else 0), pfd)
                _call(nrs[1], ctypes.c_int(fd), ctypes.c_int(_RULE_PATH_BENEATH),
                      ctypes.byref(rule), ctypes.c_uint32(0))
                granted.append(path)
            except OSError as exc:
                os.close(fd)
                return f"unavailable: landlock_add_rule {path}: {exc.strerror}"
            finally:
                os.close(pfd)
        return cls(fd, version, tuple(granted))

    def restrict(self) -> str:
        """Enter the domain (this thread, and every process it forks from now on).
        "abi N" when done, else why not."""
        if _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            return f"unavailable: PR_SET_NO_NEW_PRIVS: {os.strerror(ctypes.get_errno())}"
        try:
            _call(_NR[platform.machine()][2], ctypes.c_int(self.fd), ctypes.c_uint32(0))
        except OSError as exc:
            return f"unavailable: landlock_restrict_self: {exc.strerror}"
        return f"abi {self.version}"

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def code_paths(package_dir: str, extra: Iterable[str] = ()) -> list[str]:
    """What a worker still reads once it has warmed up: the directories of Python's
    library and site-packages (modules imported later, e.g. an encoding), the
    ``sanitize`` package itself (not the whole source tree beside it), the directories
    of the shared libraries it has mapped (a library loaded late, glibc's iconv
    modules under them for a Shift_JIS XML file), the other files it has mapped
    (libmagic's database, the locale), the time zone, /dev/null, and ``extra``.  Never "/" and never the tree ``package_dir``
    lives in: that may be where the state is."""
    import sys
    root = os.path.dirname(os.path.realpath(package_dir))
    out: list[str] = [package_dir, "/dev/null", "/etc/localtime", "/usr/share/zoneinfo",
                      *extra]
    for entry in sys.path:
        if entry and os.path.isabs(entry) and os.path.abspath(entry) != root:
            out.append(entry)
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.rstrip("\n").split(None, 5)[-1]
                if not path.startswith("/") or path.endswith(" (deleted)"):
                    continue  # anonymous memory, a memfd
                # A library's directory (its siblings may be loaded later); any other
                # mapped file itself (libmagic's database, the locale, iconv's cache).
                out.append(os.path.dirname(path) if ".so" in os.path.basename(path)
                           else path)
    except OSError:
        pass  # no /proc: the libraries already loaded keep working
    # A directory holding the source tree or the temporary directory (where a state
    # directory may be, as in the tests) would grant all of it.  Code that lives
    # *inside* the temporary directory (a checkout or a venv under /tmp) is still code:
    # only the directories above it are refused.
    never = [root, os.path.realpath(tempfile.gettempdir())]
    keep = []
    for path in dict.fromkeys(os.path.realpath(p) for p in out):
        if path == "/" or any(n == path or n.startswith(path + "/") for n in never):
            continue
        keep.append(path)
    return keep


assert ctypes.sizeof(_PathBeneathAttr) == 12
