"""A small classic-BPF seccomp filter, built in pure Python (no libseccomp needed) and
handed to bwrap with ``--seccomp FD``.

Default allow, with a deny list of the syscalls a sandboxed program never needs and that
widen the kernel attack surface: tracing, mounting, keyrings, kernel modules, bpf,
perf, io_uring, another process's fds (``pidfd_getfd``), namespace creation (``clone``
with namespace flags, ``unshare``, ``setns``); ``clone3`` answers ENOSYS so libc falls back to ``clone`` whose flags we can
inspect. Foreign ABIs (x32, i386 on x86_64) are killed.
"""

from __future__ import annotations

import errno
import os
import platform
import struct

from roost.sandbox.errors import SandboxUnavailable

_INSN = struct.Struct("=HBBI")
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06
_RET_KILL_PROCESS = 0x80000000
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_AUDIT_ARCH_X86_64 = 0xC000003E
_X32_SYSCALL_BIT = 0x40000000
_NS_FLAGS = (
    0x00020000  # CLONE_NEWNS
    | 0x02000000  # CLONE_NEWCGROUP
    | 0x04000000  # CLONE_NEWUTS
    | 0x08000000  # CLONE_NEWIPC
    | 0x10000000  # CLONE_NEWUSER
    | 0x20000000  # CLONE_NEWPID
    | 0x40000000  # CLONE_NEWNET
    | 0x00000080  # CLONE_NEWTIME
)

# x86_64 syscall numbers.
DENIED_X86_64: dict[str, int] = {
    "ptrace": 101,
    "syslog": 103,
    "pivot_root": 155,
    "chroot": 161,
    "acct": 163,
    "mount": 165,
    "umount2": 166,
    "swapon": 167,
    "swapoff": 168,
    "reboot": 169,
    "sethostname": 170,
    "setdomainname": 171,
    "iopl": 172,
    "ioperm": 173,
    "init_module": 175,
    "delete_module": 176,
    "quotactl": 179,
    "kexec_load": 246,
    "add_key": 248,
    "request_key": 249,
    "keyctl": 250,
    "unshare": 272,
    "perf_event_open": 298,
    "name_to_handle_at": 303,
    "open_by_handle_at": 304,
    "setns": 308,
    "process_vm_readv": 310,
    "process_vm_writev": 311,
    "kcmp": 312,
    "finit_module": 313,
    "kexec_file_load": 320,
    "bpf": 321,
    "userfaultfd": 323,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "pidfd_getfd": 438,
    "mount_setattr": 442,
}
_CLONE_X86_64 = 56
_CLONE3_X86_64 = 435


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return _INSN.pack(code, jt, jf, k)


def build_filter() -> bytes:
    """The compiled filter for this machine's architecture (x86_64 only: fail closed)."""
    machine = platform.machine()
    if machine not in ("x86_64", "amd64"):
        raise SandboxUnavailable(
            f"the bwrap backend's seccomp filter has no syscall table for {machine}",
            hint="run on x86_64, or use the docker/kubernetes backend",
        )
    prog = [
        _insn(_LD_W_ABS, 0, 0, 4),  # A = arch
        _insn(_JEQ_K, 1, 0, _AUDIT_ARCH_X86_64),
        _insn(_RET_K, 0, 0, _RET_KILL_PROCESS),
        _insn(_LD_W_ABS, 0, 0, 0),  # A = syscall nr
        _insn(_JGE_K, 0, 1, _X32_SYSCALL_BIT),
        _insn(_RET_K, 0, 0, _RET_KILL_PROCESS),
        _insn(_JEQ_K, 0, 1, _CLONE3_X86_64),
        _insn(_RET_K, 0, 0, _RET_ERRNO | errno.ENOSYS),
    ]
    for nr in sorted(set(DENIED_X86_64.values())):
        prog.append(_insn(_JEQ_K, 0, 1, nr))
        prog.append(_insn(_RET_K, 0, 0, _RET_ERRNO | errno.EPERM))
    prog += [
        _insn(_JEQ_K, 0, 3, _CLONE_X86_64),
        _insn(_LD_W_ABS, 0, 0, 16),  # A = low 32 bits of clone flags
        _insn(_JSET_K, 0, 1, _NS_FLAGS),
        _insn(_RET_K, 0, 0, _RET_ERRNO | errno.EPERM),
        _insn(_RET_K, 0, 0, _RET_ALLOW),
    ]
    return b"".join(prog)


_FILTER: bytes | None = None


def filter_fd() -> int:
    """A fresh memfd holding the filter, positioned at 0 (bwrap reads it to EOF)."""
    global _FILTER
    if _FILTER is None:
        _FILTER = build_filter()
    fd = os.memfd_create("roost-seccomp")
    os.write(fd, _FILTER)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
