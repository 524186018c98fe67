"""Where a server's CPU goes on the comparison workload (py-spy, per-thread /proc CPU).

    python -m bench.profile_compare                      # Roost baseline (tmpfs store)
    python -m bench.profile_compare --store disk --trace # Roost's default configuration
    python -m bench.profile_compare --peer               # the peer

Starts the server, warms it up, then runs ``--runs`` runs at ``--concurrency`` while
``py-spy record --gil --threads`` samples it. Prints CPU per run split by thread (from
/proc, exact) and the main thread's samples grouped by component (py-spy, statistical), so
the closing note of docs/benchmarks.md can say where the time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

from bench.harness import REPO, fake_model_server, free_port, stop, wait_healthy
from bench.load import run_load
from bench.sides import STORES, Side, peer_side, roost_side

# (substring of a py-spy frame, component); the first match walking from the leaf wins.
COMPONENTS = [
    ("aiosqlite", "store: aiosqlite thread hand-off"),
    ("sqlalchemy", "store: SQLAlchemy"),
    ("roost/store", "store: roost.store"),
    ("sqlite3", "store: sqlite3"),
    ("httpcore", "model client: httpx/httpcore/anyio/h11"),
    ("httpx", "model client: httpx/httpcore/anyio/h11"),
    ("anyio", "model client: httpx/httpcore/anyio/h11"),
    ("h11", "model client: httpx/httpcore/anyio/h11"),
    ("openai/", "model client: openai SDK"),
    ("uvicorn", "HTTP server: uvicorn/starlette/fastapi"),
    ("starlette", "HTTP server: uvicorn/starlette/fastapi"),
    ("fastapi", "HTTP server: uvicorn/starlette/fastapi"),
    ("pydantic", "pydantic"),
    ("opentelemetry", "OpenTelemetry"),
    ("json/", "json"),
    ("roost/server", "roost.server"),
    ("roost/agents", "roost.agents"),
    ("roost/models", "roost.models"),
    ("roost/observe", "roost.observe"),
    ("roost/core", "roost.core"),
    ("agentscope_runtime", "agentscope_runtime"),
    ("agentscope/", "agentscope"),
    ("asyncio/", "asyncio (Python part)"),
    ("logging", "logging"),
]


def thread_cpu(pid: int) -> dict[int, float]:
    ticks = os.sysconf("SC_CLK_TCK")
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        raw = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        fields = raw[raw.rindex(")") + 2 :].split()
        out[int(tid)] = (int(fields[11]) + int(fields[12])) / ticks
    return out


def components(raw: Path) -> tuple[int, Counter[str]]:
    """Main-thread samples grouped by the component of their innermost known frame."""
    counts: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")
        if not frames[0].endswith("MainThread"):
            continue
        total += int(n)
        name = "event loop, native (uvloop, httptools, sockets)"
        for frame in reversed(frames[1:]):
            hit = next((c for key, c in COMPONENTS if key in frame), None)
            if hit:
                name = hit
                break
        else:
            if "runners.py" not in frames[-1]:
                name = "other"
        counts[name] += int(n)
    return total, counts


async def _drive(
    side: Side, base: str, proc: subprocess.Popen[bytes], runs: int, conc: int, out: Path
) -> dict[str, float]:
    """Warm up, then run the load while py-spy samples; return CPU seconds and run counts."""
    await wait_healthy(base, side.health_path, proc, limit=120)
    await run_load(base, scenario=side.scenario, total=50, concurrency=conc, validate=side.validate)
    before = thread_cpu(proc.pid)
    spy = None
    if shutil.which("py-spy"):
        spy = await asyncio.create_subprocess_exec(
            *["py-spy", "record", "-p", str(proc.pid), "-r", "200", "-f", "raw"],
            *["-o", str(out), "--nonblocking", "--threads", "--gil"],
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await asyncio.sleep(1.0)
    report = await run_load(
        base, scenario=side.scenario, total=runs, concurrency=conc, validate=side.validate
    )
    after = thread_cpu(proc.pid)
    if spy is not None:
        spy.send_signal(2)  # SIGINT: py-spy writes the profile and exits
        await asyncio.wait_for(spy.wait(), 60)
    return {
        "ok": report.ok,
        "rps": report.throughput_rps,
        "cpu_s": sum(after.values()) - sum(before.get(t, 0.0) for t in after),
        "main_s": after[proc.pid] - before[proc.pid],
        "threads": len(after),
    }


def report(side: Side, runs: int, conc: int, r: dict[str, float], out: Path) -> None:
    ok = max(r["ok"], 1)
    total, main = r["cpu_s"] / ok * 1000, r["main_s"] / ok * 1000
    print(f"{side.name}: {r['ok']:.0f}/{runs} runs ok at concurrency {conc}, {r['rps']} runs/s")
    print(
        f"  CPU per run: {total:.2f} ms (main thread {main:.2f} ms, "
        f"{r['threads'] - 1:.0f} other threads {total - main:.2f} ms)"
    )
    if out.exists():
        samples, counts = components(out)
        print(f"  main thread while holding the GIL ({samples} py-spy samples), by component:")
        for name, n in counts.most_common():
            print(f"    {n / samples * 100:5.1f}%  ~{main * n / samples:5.2f} ms/run  {name}")
        print(f"  raw profile: {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--peer", action="store_true", help="profile the peer instead of Roost")
    parser.add_argument("--store", choices=STORES, default="tmpfs")
    parser.add_argument("--trace", action="store_true", help="Roost with roost.observe on")
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    side = peer_side() if args.peer else roost_side(store=args.store, trace=args.trace)
    out = Path(tempfile.gettempdir()) / f"roost-bench-profile-{side.name}-{os.getpid()}.txt"
    with (
        fake_model_server() as model_url,
        tempfile.TemporaryDirectory(dir=side.home_parent) as home,
    ):
        port = free_port()
        env = {**os.environ, **side.env, "ROOST_HOME": home}
        proc = subprocess.Popen(
            side.command(port, model_url),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=REPO,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            result = asyncio.run(_drive(side, base, proc, args.runs, args.concurrency, out))
        finally:
            stop(proc)
    report(side, args.runs, args.concurrency, result, out)


if __name__ == "__main__":
    main()
