"""Server CPU per streamed run with a tenant's data protection on vs off (issue 21:
encryption at rest and DLP on ≤ 1.25× off, side by side in one run).

    python -m bench.govern_server [--pairs 3] [--store disk] [--no-trace]
    python -m bench.inprocess --protect off|on [--callgrind]   # the same, in-process

Both sides are Roost's default app (SQLite file, tracing to the local store) serving the
same runs as a user of one tenant. ``protect``: the tenant is encrypted at rest (message
content, run events, agent state, span content sealed with AES-256-GCM), its stored
transcripts go through the DLP detectors (``transcripts: mask``) and every prompt is
scanned before it leaves (``PrivacyRouter``). ``unprotected``: ``ROOST_DATA_PROTECTION=0``.
Prints each side's server CPU per run and the ratio per pair, alternating the sides.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench.compare import Plan, measure_server
from bench.harness import fake_model_server
from bench.sides import roost_side


async def inprocess_app(protect: bool) -> tuple[Any, dict[str, str]]:
    """bench.server's in-process app (scripted model), serving a user of the bench tenant:
    with ``protect`` the tenant is sealed at rest, its transcripts masked and its prompts
    scanned (the scripted model declared public); without, ``ROOST_DATA_PROTECTION=0``."""
    import os

    from bench import server as bench_server
    from bench.apps import roost as roost_app
    from roost.core.settings import get_settings

    os.environ["ROOST_DATA_PROTECTION"] = "1" if protect else "0"
    get_settings.cache_clear()
    if protect:
        await roost_app.protect_tenant_async()
    app = bench_server.build_roost_app(False, protect=protect)
    await app.startup()
    return app, {"x-roost-user": "bench-user", "x-roost-tenant": roost_app.PROTECTED_TENANT}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--store", default="disk", choices=("tmpfs", "disk"))
    ap.add_argument("--no-trace", action="store_true", help="observability off on both sides")
    args = ap.parse_args()
    plan = Plan(quick=True, soak=None)
    trace = not args.no_trace
    sides = [
        roost_side(store=args.store, trace=trace, protect=False),
        roost_side(store=args.store, trace=trace, protect=True),
    ]
    logs = Path(tempfile.mkdtemp(prefix="roost-bench-govern-"))
    cpu: dict[str, list[float]] = {s.name: [] for s in sides}
    c20: dict[str, list[float]] = {s.name: [] for s in sides}
    with fake_model_server() as model_url:
        for i in range(args.pairs):
            for side in sides if i % 2 == 0 else reversed(sides):
                r = measure_server(
                    side, model_url, plan, soak=False, log=logs / f"{i}-{side.name}.log"
                )
                cpu[side.name].append(r["cpu_ms_per_run"])
                c20[side.name].append(r["cpu_ms_per_run_c20"])
                print(
                    f"pair {i + 1} {side.name:34s} CPU {r['cpu_ms_per_run']:.2f} ms/run sequential,"
                    f" {r['cpu_ms_per_run_c20']:.2f} ms/run at c20, p50 {r['seq_p50_ms']} ms,"
                    f" tracebacks {r['server_tracebacks']}",
                    flush=True,
                )
    off, on = (s.name for s in sides)
    for label, data in (("sequential", cpu), ("c20", c20)):
        ratios = [b / a for a, b in zip(data[off], data[on], strict=True)]
        print(
            f"{label}: median {statistics.median(data[off]):.2f} → {statistics.median(data[on]):.2f}"
            f" ms/run; protect/off ratio per pair {', '.join(f'{r:.3f}' for r in ratios)},"
            f" median {statistics.median(ratios):.3f}"
        )


if __name__ == "__main__":
    main()
