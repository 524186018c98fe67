"""What every benchmark needs: starting and stopping servers, waiting for them, the fake
model server, and the CPU time and RSS of a process tree from /proc (Linux only).

The benchmarks charge a server with the CPU of its whole process tree (workers, helpers),
so that a server cannot look cheap by pushing work into a child process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.load import HttpRequest, fetch

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def fake_model_server(chunks: int = 20) -> Iterator[str]:
    """Run ``bench.apps.fake_openai`` in its own process; yield its base URL (…/v1)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.apps.fake_openai", "--port", "0", "--chunks", str(chunks)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("listening on "):
            raise RuntimeError(f"fake OpenAI server did not start: {line!r}")
        yield line.removeprefix("listening on ") + "/v1"
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` (only this process, which we started)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def wait_healthy(base: str, path: str, proc: subprocess.Popen[Any], limit: float) -> float:
    """Poll ``path`` every 10 ms until it answers 200; return the monotonic time it did."""
    deadline = time.perf_counter() + limit
    request = HttpRequest("GET", path)
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before it was healthy")
        try:
            response = await fetch(base, request, timeout=2.0)
            if response.status == 200:
                return time.perf_counter()
        except Exception:  # refused, reset, timeout: not up yet
            pass
        await asyncio.sleep(0.01)
    raise RuntimeError(f"server not healthy after {limit} s")


async def model_calls(model_url: str) -> int:
    response = await fetch(model_url.removesuffix("/v1"), HttpRequest("GET", "/stats"))
    return int(json.loads(response.body)["served"])


def byte_compile(python: str, package_dir: str | None = None) -> str:
    """Write the ``.pyc`` files of Roost's source, as any installed package has them.

    Roost is installed editable here, and this machine sets ``PYTHONDONTWRITEBYTECODE``,
    so without this every server start compiled all of Roost from source (~0.15 s) while
    the peer's packages, installed by pip, start from bytecode. Returns the directory.
    """
    import subprocess

    if package_dir is None:
        package_dir = subprocess.run(
            [python, "-c", "import os, roost; print(os.path.dirname(roost.__file__))"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    subprocess.run([python, "-m", "compileall", "-q", package_dir], check=True)
    return package_dir
