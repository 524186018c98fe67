"""CPU time and RSS of a process tree, read from /proc (Linux only).

The benchmarks charge a server with the CPU of its whole process tree (workers, helpers),
so that a server cannot look cheap by pushing work into a child process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may contain spaces; split after its closing parenthesis.
    return raw[raw.rindex(")") + 2 :].split()


def children_of(pid: int) -> list[int]:
    """Direct children of ``pid`` (from every thread's ``children`` file)."""
    out: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except FileNotFoundError:
        return out
    for task in tasks:
        try:
            out += [int(x) for x in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return out


def tree(pid: int) -> list[int]:
    """``pid`` and all its live descendants."""
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        todo += children_of(current)
    return pids


@dataclass(frozen=True)
class TreeSample:
    """CPU seconds (user + system, including reaped children) and RSS bytes of a tree."""

    cpu_s: float
    rss_bytes: int
    processes: int


def sample(pid: int) -> TreeSample:
    """Sum CPU and RSS over the live tree rooted at ``pid``."""
    ticks = 0
    pages = 0
    count = 0
    for member in tree(pid):
        fields = _stat_fields(member)
        if fields is None:
            continue
        # After the command: state=0, ppid=1 … utime=11, stime=12, cutime=13, cstime=14,
        # rss (pages)=21 (fields 14, 15, 16, 17 and 24 in proc(5) numbering).
        ticks += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
        pages += int(fields[21])
        count += 1
    return TreeSample(cpu_s=ticks / _TICKS, rss_bytes=pages * _PAGE, processes=count)


def self_rss_bytes() -> int:
    """Resident set size of the calling process."""
    fields = _stat_fields(os.getpid())
    return int(fields[21]) * _PAGE if fields else 0
