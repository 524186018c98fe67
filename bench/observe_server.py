"""Server CPU per streamed run with and without observability (issue 6: tracing with the
local store adds <= 10 %).

    python -m bench.observe_server [--pairs 2] [--store disk]

Starts bench.apps.roost against the fake OpenAI server, alternating
``roost[disk]`` (observe off) and ``roost[disk,observe]`` (``--trace``: spans into the local
trace store, run metrics, cost, alert evaluation — Roost's default) over ``--pairs`` pairs,
with compare.py's quick plan. Prints the per-run server CPU of each side and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from bench.compare import Plan, measure_server
from bench.harness import fake_model_server
from bench.sides import roost_side


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=2)
    ap.add_argument("--store", default="disk", choices=("memory", "tmpfs", "disk"))
    args = ap.parse_args()
    plan = Plan(quick=True, soak=None)
    sides = [roost_side(store=args.store), roost_side(store=args.store, trace=True)]
    logs = Path(tempfile.mkdtemp(prefix="roost-bench-observe-"))
    cpu: dict[str, list[float]] = {s.name: [] for s in sides}
    c20: dict[str, list[float]] = {s.name: [] for s in sides}
    with fake_model_server() as model_url:
        for i in range(args.pairs):
            for side in sides:
                r = measure_server(
                    side, model_url, plan, soak=False, log=logs / f"{i}-{side.name}.log"
                )
                cpu[side.name].append(r["cpu_ms_per_run"])
                c20[side.name].append(r["cpu_ms_per_run_c20"])
                print(
                    f"pair {i + 1} {side.name:22s} CPU {r['cpu_ms_per_run']:.2f} ms/run sequential, "
                    f"{r['cpu_ms_per_run_c20']:.2f} ms/run at c20, p50 {r['seq_p50_ms']} ms, "
                    f"tracebacks {r['server_tracebacks']}",
                    flush=True,
                )
    off, on = (s.name for s in sides)
    for label, data in (("sequential", cpu), ("c20", c20)):
        ratios = [b / a for a, b in zip(data[off], data[on], strict=True)]
        print(
            f"{label}: median {statistics.median(data[off]):.2f} → {statistics.median(data[on]):.2f} "
            f"ms/run; observe/off ratio per pair {', '.join(f'{r:.3f}' for r in ratios)}"
        )


if __name__ == "__main__":
    main()
