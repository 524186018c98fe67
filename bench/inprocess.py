"""The server benchmark's workload without sockets: the app's own cost per run.

    python -m bench.inprocess                     # CPU ms per run, Roost's bench app
    python -m bench.inprocess --side floor        # the bare Starlette floor, same calls
    python -m bench.inprocess --callgrind         # instructions per run (valgrind)
    PYTHONPATH=/tmp/base/src python -m bench.inprocess --callgrind   # another tree

The ASGI app is called directly (no uvicorn, no TCP), one session + one streamed run per
iteration, ``--concurrency`` at a time, so the figure is what the app itself spends.
Timing on a shared VM drifts by ±10 %; ``--callgrind`` counts the instructions of the
measured runs only (a client request zeroes and dumps the counters around them), which
repeats within ~1 % and so can tell small changes apart. It is blind to the kernel
(syscalls, fsync): judge changes to I/O with ``bench/server.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).parent
_CG_SOURCE = """#include <valgrind/callgrind.h>
void cg_zero(void) { CALLGRIND_ZERO_STATS; }
void cg_dump(void) { CALLGRIND_DUMP_STATS_AT("measured"); }
"""

App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


async def call(
    app: App, path: str, body: bytes, key: str, extra: dict[str, str] | None = None
) -> tuple[int, bytes]:
    """One request through the ASGI app; returns the status and the whole body."""
    headers = [
        (b"authorization", f"Bearer {key}".encode()),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((k.encode(), v.encode()) for k, v in (extra or {}).items()),
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }
    done = asyncio.get_running_loop().create_future()
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done  # the client stays until the response is complete
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        else:
            chunks.append(message.get("body", b""))
            if not message.get("more_body") and not done.done():
                done.set_result(None)

    await app(scope, receive, send)
    if not done.done():
        done.set_result(None)
    return status, b"".join(chunks)


async def one_run(app: App, key: str, extra: dict[str, str] | None = None) -> None:
    status, body = await call(app, "/v1/sessions", b"{}", key, extra)
    assert status == 201, (status, body[:300])
    sid = json.loads(body)["id"]
    status, body = await call(app, f"/v1/sessions/{sid}/runs", b'{"input": "hello"}', key, extra)
    assert status == 200 and b"run.completed" in body and b"text.delta" in body, body[-300:]


async def load(
    app: App, key: str, runs: int, concurrency: int, extra: dict[str, str] | None = None
) -> None:
    todo = iter(range(runs))

    async def worker() -> None:
        for _ in todo:
            await one_run(app, key, extra)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def _callgrind_helper() -> Any:
    """The client-request functions, compiled once into a temporary library."""
    build = Path(tempfile.mkdtemp(prefix="roost-cg-"))
    (build / "cg.c").write_text(_CG_SOURCE)
    subprocess.run(
        ["gcc", "-O2", "-shared", "-fPIC", str(build / "cg.c"), "-o", str(build / "cg.so")],
        check=True,
    )
    return ctypes.CDLL(str(build / "cg.so"))


async def measure(args: argparse.Namespace) -> float:
    from bench import server as bench_server  # the same app as bench/server.py

    app: Any
    extra: dict[str, str] | None = None
    if args.side == "floor":
        from bench.apps import floor

        app = floor.app
    elif args.protect is not None:
        from bench import govern_server

        app, extra = await govern_server.inprocess_app(args.protect == "on")
    else:
        app = bench_server.build_roost_app(False)
        await app.startup()
    key = bench_server.ADMIN_KEY
    await load(app, key, args.warmup, args.concurrency, extra)
    cg = _callgrind_helper() if args.in_callgrind else None
    if cg is not None:
        cg.cg_zero()
    started = time.process_time()
    await load(app, key, args.runs, args.concurrency, extra)
    spent = time.process_time() - started
    if cg is not None:
        cg.cg_dump()
    if args.side != "floor":
        await app.shutdown()
    return spent * 1000 / args.runs


def run_callgrind(args: argparse.Namespace) -> None:
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    out = Path(tempfile.mkdtemp(prefix="roost-cg-out-"))
    cmd = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}/cg.%p",
        sys.executable,
        "-m",
        "bench.inprocess",
        "--in-callgrind",
        "--side",
        args.side,
        "--runs",
        str(args.runs),
        "--warmup",
        str(args.warmup),
        "--concurrency",
        str(args.concurrency),
        *(["--protect", args.protect] if args.protect else []),
    ]
    subprocess.run(
        cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=BENCH.parent
    )
    for dump in out.iterdir():
        text = dump.read_text(errors="replace")
        if "measured" in text:
            total = next(
                int(line.split()[1]) for line in text.splitlines() if line.startswith("summary:")
            )
            print(f"{args.side}: {total / args.runs / 1e6:.3f} M instructions per run (in-process)")
            return
    raise SystemExit("no measured dump found")


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--side", choices=["roost", "floor"], default="roost")
    p.add_argument("--runs", type=int, default=2000)
    p.add_argument("--warmup", type=int, default=300)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--callgrind", action="store_true", help="count instructions under valgrind")
    p.add_argument(
        "--protect",
        choices=["on", "off"],
        help="runs of a tenant with encryption at rest and DLP on, or off (bench.govern_server)",
    )
    p.add_argument("--in-callgrind", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    os.environ.setdefault("ROOST_HOME", tempfile.mkdtemp(prefix="roost-inprocess-"))
    if args.callgrind:
        if args.runs == 2000 and args.warmup == 300:  # defaults sized for timing
            args.runs, args.warmup = 100, 60
        run_callgrind(args)
        return
    ms = asyncio.run(measure(args))
    if not args.in_callgrind:
        print(f"{args.side}: {ms:.3f} ms CPU per run (in-process, concurrency {args.concurrency})")


if __name__ == "__main__":
    main()
