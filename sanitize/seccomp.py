"""A seccomp-BPF filter that takes the network and exec away from a disarm worker.

Installed by each worker (``sanitize.worker``) after its libraries are imported and
before it reads a job: ``socket``, ``socketpair``, ``connect``, ``execve``,
``execveat`` and ``io_uring_setup`` (io_uring can open sockets by itself) fail with
EPERM.  Everything else is allowed: the point is that a parser exploited by a hostile
file cannot reach the network or start a program, not a full syscall allow-list.

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
_X32_SYSCALL_BIT = 0x40000000

# <linux/filter.h>, <linux/seccomp.h>, <linux/prctl.h>
_BPF_LD_W_ABS = 0x20
_BPF_JEQ_K = 0x15
_BPF_JGE_K = 0x35
_BPF_RET_K = 0x06
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_PR_GET_SECCOMP = 21
_SECCOMP_MODE_FILTER = 2
# struct seccomp_data: int nr; __u32 arch; ...
_OFF_NR, _OFF_ARCH = 0, 4


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8),
                ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def denied_syscalls() -> tuple[str, ...]:
    """Names of the syscalls the filter refuses (for the worker's sandbox report)."""
    return tuple(_DENIED.get(platform.machine(), {}))


def program(machine: str) -> list[tuple[int, int, int, int]]:
    """The BPF program for ``machine`` as (code, jt, jf, k) tuples."""
    arch = _AUDIT_ARCH[machine]
    numbers = list(_DENIED[machine].values())
    deny = _RET_ERRNO | errno.EPERM
    prog: list[tuple[int, int, int, int]] = [
        (_BPF_LD_W_ABS, 0, 0, _OFF_ARCH),
        (_BPF_JEQ_K, 1, 0, arch),  # native arch: skip the next instruction
        (_BPF_RET_K, 0, 0, deny),  # any other arch (compat syscalls): refused
        (_BPF_LD_W_ABS, 0, 0, _OFF_NR),
    ]
    if machine == "x86_64":
        # x32 ABI numbers (nr | 0x40000000) reach the same calls by other numbers.
        prog.append((_BPF_JGE_K, len(numbers) + 1, 0, _X32_SYSCALL_BIT))
    for i, nr in enumerate(numbers):
        # Jump to the final "deny" when equal; jumps are relative to the next insn.
        prog.append((_BPF_JEQ_K, len(numbers) - i, 0, nr))
    prog.append((_BPF_RET_K, 0, 0, _RET_ALLOW))
    prog.append((_BPF_RET_K, 0, 0, deny))
    return prog


def install() -> str:
    """Install the filter on the calling thread (and, via no_new_privs, all it
    executes).  Returns "filter" when installed, else why not (best effort)."""
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
    return "filter"


def _check_layout() -> None:
    # struct sock_filter is 8 bytes on every Linux ABI; the kernel rejects anything else.
    assert ctypes.sizeof(_SockFilter) == struct.calcsize("HBBI") == 8


_check_layout()
