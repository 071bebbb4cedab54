"""A seccomp-BPF filter that takes the network, exec and writing files away from a
disarm worker.

Installed by the fork server (``sanitize.forkserver``) after its libraries are
imported, so every worker forked from it inherits it before it reads a job:
``socket``, ``socketpair``, ``connect``, ``execve``, ``execveat`` and
``io_uring_setup`` (io_uring can open sockets by itself) fail with EPERM; so do
opening a file for writing (``open``/``openat`` with ``O_WRONLY``, ``O_RDWR``,
``O_CREAT`` or ``O_TRUNC``; ``creat``; ``openat2``, whose flags a filter cannot
read), and every call that renames, removes, links, creates or changes a file by
path (``rename*``, ``unlink*``, ``rmdir``, ``mkdir*``, ``mknod*``, ``link*``,
``symlink*``, ``truncate``, ``chmod``/``chown``/``utime`` families).  That is the
second wall behind Landlock (``sanitize.landlock``), and the only one on a kernel
without it.  Files already open (the job file) and files in memory (``memfd_create``,
capped by RLIMIT_FSIZE) are unaffected.  Everything else is allowed: the point is
that a parser exploited by a hostile file cannot reach the network, start a program
or change a file, not a full syscall allow-list.

The filter checks the architecture first (a syscall number means nothing without it),
so 32-bit compat calls on x86_64 (``int 0x80``) and x32-ABI numbers are refused as
well.  It is written by hand with ctypes because libseccomp's Python binding is not
in the dependency set; the program is a dozen instructions.

Best effort, documented: where seccomp is unavailable (not Linux, an unknown
architecture, a kernel built without it, or an outer sandbox that forbids it)
``install`` returns a description of why and the worker runs with rlimits only;
the worker reports that state to the pool (``WorkerPool.sandbox``) so it is visible
to the operator.
"""

from __future__ import annotations

import ctypes
import errno
import platform
import struct
import sys

# <linux/audit.h>
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
# Syscall numbers per architecture (asm/unistd_64.h; asm-generic/unistd.h for arm64).
_DENIED = {
    "x86_64": {"socket": 41, "socketpair": 53, "connect": 42, "execve": 59,
               "execveat": 322, "io_uring_setup": 425},
    "aarch64": {"socket": 198, "socketpair": 199, "connect": 203, "execve": 221,
                "execveat": 281, "io_uring_setup": 425},
}
# Calls that change the file system by path.  ``open``/``openat`` are refused only
# with a write flag (below).  Numbers: asm/unistd_64.h; asm-generic/unistd.h.
_WRITES = {
    "x86_64": {"creat": 85, "openat2": 437, "rename": 82, "renameat": 264,
               "renameat2": 316, "unlink": 87, "unlinkat": 263, "rmdir": 84, "mkdir": 83,
               "mkdirat": 258, "mknod": 133, "mknodat": 259, "link": 86, "linkat": 265,
               "symlink": 88, "symlinkat": 266, "truncate": 76, "chmod": 90,
               "fchmodat": 268, "fchmodat2": 452, "chown": 92, "lchown": 94,
               "fchownat": 260, "utime": 132, "utimes": 235, "utimensat": 280,
               "futimesat": 261},
    "aarch64": {"openat2": 437, "renameat": 38, "renameat2": 276, "unlinkat": 35,
                "mkdirat": 34, "mknodat": 33, "linkat": 37, "symlinkat": 36,
                "truncate": 45, "fchmodat": 53, "fchmodat2": 452, "fchownat": 54,
                "utimensat": 88},
}
# Syscall number -> index of its flags argument, for the opens checked for writing.
_OPENS = {"x86_64": {2: 1, 257: 2}, "aarch64": {56: 2}}
# O_WRONLY | O_RDWR | O_CREAT | O_TRUNC (the same bits on both; O_TMPFILE needs one
# of the first two).
_WRITE_FLAGS = 0o1 | 0o2 | 0o100 | 0o1000
_X32_SYSCALL_BIT = 0x40000000

# <linux/filter.h>, <linux/seccomp.h>, <linux/prctl.h>
_BPF_LD_W_ABS = 0x20
_BPF_JEQ_K = 0x15
_BPF_JGE_K = 0x35
_BPF_JSET_K = 0x45
_BPF_RET_K = 0x06
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_PR_GET_SECCOMP = 21
_SECCOMP_MODE_FILTER = 2
# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]
# (the low half of an argument first: both architectures are little-endian).
_OFF_NR, _OFF_ARCH, _OFF_ARGS = 0, 4, 16


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8),
                ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def denied_syscalls(writes: bool = True) -> tuple[str, ...]:
    """Names of the syscalls the filter refuses (for the worker's sandbox report)."""
    machine = platform.machine()
    names = tuple(_DENIED.get(machine, {}))
    if writes and machine in _WRITES:
        names += tuple(_WRITES[machine]) + ("open/openat for writing",)
    return names


def program(machine: str, writes: bool = True) -> list[tuple[int, int, int, int]]:
    """The BPF program for ``machine`` as (code, jt, jf, k) tuples; with ``writes``
    it also refuses changing files."""
    deny = _RET_ERRNO | errno.EPERM
    # Jumps are written to labels and resolved at the end (BPF jumps are relative).
    code: list[tuple[int, object, object, int]] = [
        (_BPF_LD_W_ABS, 0, 0, _OFF_ARCH),
        (_BPF_JEQ_K, 0, "deny", _AUDIT_ARCH[machine]),  # compat syscalls: refused
        (_BPF_LD_W_ABS, 0, 0, _OFF_NR),
    ]
    if machine == "x86_64":
        # x32 ABI numbers (nr | 0x40000000) reach the same calls by other numbers.
        code.append((_BPF_JGE_K, "deny", 0, _X32_SYSCALL_BIT))
    numbers = list(_DENIED[machine].values())
    if writes:
        numbers += list(_WRITES[machine].values())
    code += [(_BPF_JEQ_K, "deny", 0, nr) for nr in numbers]
    opens = _OPENS[machine] if writes else {}
    code += [(_BPF_JEQ_K, f"flags{arg}", 0, nr) for nr, arg in opens.items()]
    code.append((_BPF_RET_K, 0, 0, _RET_ALLOW))
    labels: dict[str, int] = {}
    for arg in sorted(set(opens.values())):
        labels[f"flags{arg}"] = len(code)
        code += [(_BPF_LD_W_ABS, 0, 0, _OFF_ARGS + 8 * arg),
                 (_BPF_JSET_K, "deny", 0, _WRITE_FLAGS),
                 (_BPF_RET_K, 0, 0, _RET_ALLOW)]
    labels["deny"] = len(code)
    code.append((_BPF_RET_K, 0, 0, deny))

    def rel(at: int, target: object) -> int:
        if isinstance(target, str):
            return labels[target] - at - 1
        return int(target)  # type: ignore[call-overload]

    return [(op, rel(i, jt), rel(i, jf), k) for i, (op, jt, jf, k) in enumerate(code)]


_installed = ""  # "filter" once installed here: a forked child inherits it


def install() -> str:
    """Install the filter on the calling thread (and, via no_new_privs, all it
    executes and forks).  Returns "filter" when installed, else why not (best
    effort).  A process that has it already (a worker forked from the fork server)
    does not stack a second copy, which every system call would run through."""
    global _installed
    if _installed:
        return _installed
    machine = platform.machine()
    if not sys.platform.startswith("linux"):
        return f"unavailable: {sys.platform} has no seccomp"
    if machine not in _AUDIT_ARCH:
        return f"unavailable: no syscall table for {machine}"
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p,
                           ctypes.c_ulong, ctypes.c_ulong]
    insns = program(machine)
    arr = (_SockFilter * len(insns))(*(_SockFilter(*i) for i in insns))
    fprog = _SockFprog(len(insns), arr)
    # no_new_privs lets an unprivileged process install a filter, and keeps setuid
    # binaries from regaining what the filter takes away.
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, None, 0, 0) != 0:
        return f"unavailable: PR_SET_NO_NEW_PRIVS: {errno.errorcode.get(ctypes.get_errno())}"
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0) != 0:
        return f"unavailable: PR_SET_SECCOMP: {errno.errorcode.get(ctypes.get_errno())}"
    _installed = "filter"
    return _installed


def _check_layout() -> None:
    # struct sock_filter is 8 bytes on every Linux ABI; the kernel rejects anything else.
    assert ctypes.sizeof(_SockFilter) == struct.calcsize("HBBI") == 8


_check_layout()
