"""Two source trees side by side: cold create, cold create + first cell, and
``run_python("1+1")`` (median of 200), one sample of each tree in turn so that load
swings hit both alike. Each tree runs in its own worker process.

Run: ``python -m bench.sandbox_ab /path/to/old/src /path/to/new/src [-n 40]`` (e.g. the
old tree from ``git archive main src | tar -x -C /tmp/old``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time

COMMANDS = ("cold", "first", "cell")


async def worker() -> None:
    """Reads a command per line, answers with milliseconds."""
    from roost.sandbox import SandboxSpec, create_sandbox

    keep = create_sandbox(SandboxSpec())
    await keep.start()
    for _ in range(50):
        await keep.run_python("1+1")
    for line in sys.stdin:
        t0 = time.perf_counter()
        if line.strip() == "cell":
            samples = []
            for _ in range(200):
                t0 = time.perf_counter()
                await keep.run_python("1+1")
                samples.append((time.perf_counter() - t0) * 1000)
            ms = statistics.median(samples)
        else:
            sandbox = create_sandbox(SandboxSpec())
            await sandbox.start()
            if line.strip() == "first":
                assert (await sandbox.run_python("1+1")).result == "2"
            ms = (time.perf_counter() - t0) * 1000
            await sandbox.close()
        print(ms, flush=True)
    await keep.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("-n", type=int, default=40)
    args = parser.parse_args()
    trees = {"old": args.old, "new": args.new}
    procs = {
        name: subprocess.Popen(
            [sys.executable, __file__, "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": src},
        )
        for name, src in trees.items()
    }
    samples: dict[str, dict[str, list[float]]] = {t: {c: [] for c in COMMANDS} for t in trees}
    for i in range(args.n):
        for command in COMMANDS:
            for name in list(trees) if i % 2 == 0 else list(reversed(trees)):
                proc = procs[name]
                assert proc.stdin is not None and proc.stdout is not None
                proc.stdin.write(command + "\n")
                proc.stdin.flush()
                samples[name][command].append(float(proc.stdout.readline()))
    for proc in procs.values():
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait()
    print(f"load average {os.getloadavg()}")
    for command in COMMANDS:
        old, new = (statistics.median(samples[t][command]) for t in trees)
        mins = " / ".join(f"{min(samples[t][command]):.3f}" for t in trees)
        print(
            f"{command:6} old {old:8.3f} ms  new {new:8.3f} ms  ratio {new / old:.2f}  (min {mins})"
        )


if __name__ == "__main__":
    if sys.argv[1:] == ["--worker"]:
        asyncio.run(worker())
    else:
        main()
