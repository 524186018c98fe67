"""Roost vs the peer (AgentScope Runtime), side by side, in one command.

    python -m bench.peer.setup          # once: the peer's isolated venv
    python -m bench.compare             # full run (~15-25 min on a loaded 2-core machine)
    python -m bench.compare --quick     # scaled down (fewer requests, 1k instead of 10k soak)

Both servers are started in turn on the same workload — one streamed agent turn whose model is
the fake OpenAI server (bench.apps.fake_openai, its own process so its CPU is charged to
neither) — alternating A B A B over ``--pairs`` pairs. Each metric is reported as the median per
side and the ratio Roost ÷ peer per pair. Results: raw JSON in bench/results/compare-<date>.json
and a Markdown table appended to docs/benchmarks-history.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import harness
from bench.harness import (
    byte_compile,
    fake_model_server,
    free_port,
    model_calls,
    stop,
    wait_healthy,
)
from bench.load import LoadReport, run_load
from bench.sides import (
    BENCH,
    PEER_PYTHON,
    PEER_VENV,
    REPO,
    ROOST_CORE_VENV,
    STORES,
    Side,
    peer_side,
    roost_side,
)

RESULTS = BENCH / "results"
DOC = REPO / "docs" / "benchmarks-history.md"
"""The journal: each run appends its table there; benchmarks.md keeps the current figures."""
MB = 1024 * 1024

# (metric key, label, unit, goal as (op, value) on the ratio Roost ÷ peer, or None)
METRICS: list[tuple[str, str, str, tuple[str, float] | None]] = [
    ("cpu_ms_per_run", "server CPU per streamed run", "ms", ("<=", 0.25)),
    ("seq_p50_ms", "sequential latency p50", "ms", ("<=", 0.25)),
    ("seq_p99_ms", "sequential latency p99", "ms", None),
    ("rps_c1", "throughput, concurrency 1", "runs/s", None),
    ("rps_c20", "throughput, concurrency 20", "runs/s", (">=", 4.0)),
    ("rps_c200", "throughput, concurrency 200", "runs/s", None),
    ("p50_c200_ms", "latency p50 at concurrency 200", "ms", None),
    ("cpu_ms_per_run_c20", "server CPU per run at concurrency 20", "ms", None),
    ("idle_rss_mb", "idle RSS (after start, before any run)", "MB", ("<=", 0.4)),
    ("soak_rss_mb", "RSS after the soak runs", "MB", None),
    ("start_s", "start → healthy", "s", ("<=", 0.2)),
    ("failed_runs", "failed runs (non-200 or wrong stream; all phases)", "", None),
    ("server_tracebacks", "tracebacks in the server log", "", None),
]
COUNTED = frozenset({"failed_runs", "server_tracebacks"})
STATIC_METRICS: list[tuple[str, str, str, tuple[str, float] | None]] = [
    ("import_s", "import time (roost.server vs agentscope_runtime.engine)", "s", None),
    ("import_rss_mb", "RSS after that import", "MB", None),
    ("install_mb", "install size (site-packages of a fresh venv)", "MB", ("<=", 0.3)),
    ("install_packages", "installed packages (pip list, minus pip/setuptools)", "", None),
]


# --------------------------------------------------------------------------- one server run


class Plan:
    """How many requests each phase sends (``--quick`` scales everything down)."""

    def __init__(self, quick: bool, soak: int | None) -> None:
        self.quick = quick
        self.warmup = 20 if quick else 30
        self.sequential = 150 if quick else 300
        self.per_level = {1: 150, 20: 400, 200: 600} if quick else {1: 200, 20: 1000, 200: 1000}
        self.soak = soak if soak is not None else (2_000 if quick else 10_000)


def measure_server(
    side: Side, model_url: str, plan: Plan, *, soak: bool, log: Path
) -> dict[str, Any]:
    """Start ``side`` (fresh ROOST_HOME, free port), measure every per-server metric, stop it."""
    port = free_port()
    env = {**os.environ, **side.env, "PYTHONUNBUFFERED": "1"}
    with (
        open(log, "wb") as out,
        tempfile.TemporaryDirectory(prefix="roost-bench-home-", dir=side.home_parent) as home,
    ):
        env["ROOST_HOME"] = home
        started = time.perf_counter()
        proc = subprocess.Popen(
            side.command(port, model_url),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(REPO),
        )
        try:
            result = asyncio.run(
                _measure(side, proc, f"http://127.0.0.1:{port}", started, model_url, plan, soak)
            )
        finally:
            stop(proc)
    # A server that logs tracebacks while still answering 200 is not healthy: say so.
    text = log.read_text(errors="replace")
    result["server_tracebacks"] = text.count("Traceback (most recent call last)")
    return result


async def _measure(
    side: Side,
    proc: subprocess.Popen[bytes],
    base: str,
    started: float,
    model_url: str,
    plan: Plan,
    soak: bool,
) -> dict[str, Any]:
    healthy = await wait_healthy(base, side.health_path, proc, limit=120)
    result: dict[str, Any] = {"start_s": round(healthy - started, 3)}
    await asyncio.sleep(1.0)
    result["idle_rss_mb"] = round(harness.sample(proc.pid).rss_bytes / MB, 1)
    calls_before = await model_calls(model_url)
    runs = 0
    failures: dict[str, Any] = {}

    warm = await run_load(
        base, scenario=side.scenario, total=plan.warmup, concurrency=1, validate=side.validate
    )
    _check(side, "warm-up", warm, failures)
    runs += warm.ok

    cpu0 = harness.sample(proc.pid).cpu_s
    seq = await run_load(
        base, scenario=side.scenario, total=plan.sequential, concurrency=1, validate=side.validate
    )
    cpu1 = harness.sample(proc.pid).cpu_s
    _check(side, "sequential", seq, failures)
    runs += seq.ok
    result["cpu_ms_per_run"] = round((cpu1 - cpu0) * 1000 / seq.ok, 3)
    result["seq_p50_ms"] = seq.p50_ms
    result["seq_p99_ms"] = seq.p99_ms
    result["sequential"] = seq.to_dict()

    levels: dict[str, Any] = {}
    for concurrency, total in plan.per_level.items():
        c0 = harness.sample(proc.pid).cpu_s
        rep = await run_load(
            base,
            scenario=side.scenario,
            total=total,
            concurrency=concurrency,
            validate=side.validate,
        )
        c1 = harness.sample(proc.pid).cpu_s
        _check(side, f"concurrency {concurrency}", rep, failures)
        runs += rep.ok
        levels[str(concurrency)] = {
            **rep.to_dict(),
            "cpu_ms_per_run": round((c1 - c0) * 1000 / max(rep.ok, 1), 3),
        }
        result[f"rps_c{concurrency}"] = rep.throughput_rps
    result["levels"] = levels
    result["p50_c200_ms"] = levels["200"]["p50_ms"]
    result["cpu_ms_per_run_c20"] = levels["20"]["cpu_ms_per_run"]

    if soak:
        rep = await run_load(
            base,
            scenario=side.scenario,
            total=max(plan.soak - runs, 1),
            concurrency=20,
            validate=side.validate,
        )
        _check(side, "soak", rep, failures)
        runs += rep.ok
        result["soak"] = rep.to_dict()
        await asyncio.sleep(0.5)
        result["soak_rss_mb"] = round(harness.sample(proc.pid).rss_bytes / MB, 1)
        result["soak_runs"] = runs
    result["runs"] = runs
    result["failures"] = failures
    result["failed_runs"] = sum(f["failed"] for f in failures.values())
    result["model_calls_per_run"] = round((await model_calls(model_url) - calls_before) / runs, 3)
    result["processes"] = harness.sample(proc.pid).processes
    return result


def _check(side: Side, phase: str, report: LoadReport, failures: dict[str, Any]) -> None:
    """Record failed runs; abort when a phase is mostly failures (its figures mean nothing)."""
    if not report.errors:
        return
    failures[phase] = {"failed": report.errors, "of": report.requests, "first": report.first_error}
    if report.errors * 2 > report.requests or report.ok == 0:
        raise RuntimeError(
            f"{side.name}: {report.errors}/{report.requests} runs failed in the {phase} phase; "
            f"first error: {report.first_error}"
        )


# --------------------------------------------------------------------------- static measures


IMPORT_SNIPPET = (
    "import time, json;t=time.perf_counter();import {module};d=time.perf_counter()-t;"
    "f=open('/proc/self/statm').read().split();import os;"
    "print(json.dumps({{'s': d, 'rss': int(f[1]) * os.sysconf('SC_PAGE_SIZE')}}))"
)


def measure_import(python: str, module: str) -> dict[str, float]:
    out = subprocess.run(
        [python, "-c", IMPORT_SNIPPET.format(module=module)],
        check=True,
        capture_output=True,
        text=True,
        cwd=tempfile.gettempdir(),
    ).stdout
    data = json.loads(out.strip().splitlines()[-1])
    return {"import_s": round(data["s"], 3), "import_rss_mb": round(data["rss"] / MB, 1)}


def ensure_roost_core_venv(fresh: bool) -> Path:
    """A throw-away venv with ``pip install <repo>`` (no extras): Roost's core install."""
    if fresh and ROOST_CORE_VENV.exists():
        shutil.rmtree(ROOST_CORE_VENV)
    python = ROOST_CORE_VENV / "bin" / "python"
    if not python.exists():
        ROOST_CORE_VENV.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(ROOST_CORE_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(REPO)], check=True)
    return ROOST_CORE_VENV


def measure_install(venv: Path) -> dict[str, Any]:
    python = venv / "bin" / "python"
    listing = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    names = [p["name"].lower() for p in json.loads(listing)]
    counted = [n for n in names if n not in ("pip", "setuptools", "wheel")]
    site = next((venv / "lib").glob("python3*/site-packages"))
    size = int(
        subprocess.run(
            ["du", "-sb", str(site)], check=True, capture_output=True, text=True
        ).stdout.split()[0]
    )
    return {"install_mb": round(size / MB, 1), "install_packages": len(counted), "venv": str(venv)}


SANDBOX_SNIPPET = """
import asyncio, json, statistics, time
from roost.sandbox import create_sandbox

async def main(n):
    create, first, warm = [], [], []
    for _ in range(n):
        t0 = time.perf_counter()
        box = create_sandbox()
        await box.start()
        t1 = time.perf_counter()
        try:
            r = await box.run_python("print(6 * 7)")
            t2 = time.perf_counter()
            assert r.stdout.strip() == "42", r
            for _ in range(5):
                t3 = time.perf_counter()
                await box.run_python("x = sum(range(1000)); print(x)")
                warm.append(time.perf_counter() - t3)
        finally:
            await box.close()
        create.append(t1 - t0)
        first.append(t2 - t1)
    med = lambda xs: round(statistics.median(xs) * 1000, 2)
    print(json.dumps({"backend": box.info().backend if hasattr(box.info(), "backend") else "default",
                      "create_ms": med(create), "first_exec_ms": med(first), "exec_ms": med(warm), "n": n}))

asyncio.run(main(%d))
"""


def measure_roost_sandbox(n: int) -> dict[str, Any]:
    """Roost's default sandbox (bubblewrap): create + first cell, then warm cells."""
    done = subprocess.run(
        [sys.executable, "-c", SANDBOX_SNIPPET % n],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tempfile.gettempdir(),
    )
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1][:300]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def sandbox_status() -> dict[str, Any]:
    """The peer's sandbox needs a Docker engine; record whether one answers here."""
    docker = shutil.which("docker")
    engine = False
    if docker:
        engine = subprocess.run([docker, "info"], capture_output=True, timeout=20).returncode == 0
    return {
        "docker_cli": bool(docker),
        "docker_engine": engine,
        "peer": "measured"
        if engine
        else "not measurable: the peer's sandbox needs a Docker engine and none runs here",
    }


# --------------------------------------------------------------------------- report


def median(values: list[float]) -> float:
    return round(statistics.median(values), 3) if values else float("nan")


def summarise(
    pairs: list[dict[str, dict[str, Any]]],
    a: str,
    b: str,
    metrics: list[tuple[str, str, str, tuple[str, float] | None]],
) -> list[dict[str, Any]]:
    rows = []
    for key, label, unit, goal in metrics:
        av = [p[a][key] for p in pairs if key in p.get(a, {})]
        bv = [p[b][key] for p in pairs if key in p.get(b, {})]
        if key in COUNTED:  # failures are summed over pairs: a median would hide them
            rows.append(
                {
                    "metric": key,
                    "label": label + " — total over pairs",
                    "unit": unit,
                    a: sum(av),
                    b: sum(bv),
                    "ratios": [],
                    "ratio": None,
                    "goal": None,
                    "met": None,
                }
            )
            continue
        ratios = [
            round(p[a][key] / p[b][key], 3)
            for p in pairs
            if key in p.get(a, {}) and key in p.get(b, {}) and p[b][key]
        ]
        ratio = median(ratios) if ratios else None
        met = None
        if goal is not None and ratio is not None:
            met = ratio <= goal[1] if goal[0] == "<=" else ratio >= goal[1]
        rows.append(
            {
                "metric": key,
                "label": label,
                "unit": unit,
                a: median(av),
                b: median(bv),
                "ratios": ratios,
                "ratio": ratio,
                "goal": goal,
                "met": met,
            }
        )
    return rows


def table(rows: list[dict[str, Any]], a: str, b: str, *, ratio_label: str) -> str:
    lines = [
        f"| metric | {a} (median) | {b} (median) | {ratio_label} per pair | median ratio | goal | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        unit = f" {r['unit']}" if r["unit"] else ""
        goal = f"{r['goal'][0]} {r['goal'][1]}" if r["goal"] else ""
        met = {True: "yes", False: "**no**", None: ""}[r["met"]]
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.3g}"
        per = ", ".join(f"{x:.3g}" for x in r["ratios"])
        lines.append(
            f"| {r['label']} | {_fmt(r[a])}{unit} | {_fmt(r[b])}{unit} | {per} | {ratio} | {goal} | {met} |"
        )
    return "\n".join(lines)


def _fmt(x: float) -> str:
    if x != x:  # NaN
        return "n/a"
    return f"{x:.4g}" if abs(x) < 1000 else f"{x:.0f}"


def machine() -> dict[str, Any]:
    mem = Path("/proc/meminfo").read_text().split("\n")[0].split()[1]
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gb": round(int(mem) / 1024 / 1024, 1),
        "loadavg_start": Path("/proc/loadavg").read_text().split()[:3],
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def versions() -> dict[str, str]:
    out = subprocess.run(
        [
            str(PEER_PYTHON),
            "-c",
            "import importlib.metadata as m;print(m.version('agentscope'), m.version('agentscope-runtime'))",
        ],
        capture_output=True,
        text=True,
    ).stdout.split()
    import importlib.metadata as md

    return {
        "agentscope": out[0] if out else "?",
        "agentscope-runtime": out[1] if len(out) > 1 else "?",
        "roost": md.version("roost"),
    }


# --------------------------------------------------------------------------- main


def alternate(
    sides: list[Side],
    pairs: int,
    model_url: str,
    plan: Plan,
    log_dir: Path,
    tag: str,
    progress: Callable[[str], None],
) -> list[dict[str, dict[str, Any]]]:
    """Run A B A B …; the soak (RSS after N runs) happens in the main table's first pair."""
    out: list[dict[str, dict[str, Any]]] = []
    for i in range(pairs):
        pair: dict[str, dict[str, Any]] = {}
        for side in sides:
            progress(f"pair {i + 1}/{pairs}: {side.name} …")
            log = log_dir / f"{tag}-pair{i + 1}-{side.name}.log"
            soak = i == 0 and tag == "main"
            pair[side.name] = measure_server(side, model_url, plan, soak=soak, log=log)
            r = pair[side.name]
            # Keep what was measured so far: a long run cut short still leaves its data.
            partial = log_dir / f"{tag}-partial.json"
            partial.write_text(json.dumps([*out, pair], indent=1, default=str))
            progress(
                f"  {side.name}: start {r['start_s']} s, CPU {r['cpu_ms_per_run']} ms/run, p50 {r['seq_p50_ms']} ms, c20 {r['rps_c20']} runs/s, idle RSS {r['idle_rss_mb']} MB"
            )
        out.append(pair)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Roost vs AgentScope Runtime, side by side")
    parser.add_argument(
        "--quick", action="store_true", help="scaled-down run (fewer requests, 1k soak)"
    )
    parser.add_argument("--pairs", type=int, default=3, help="A/B pairs per comparison (default 3)")
    parser.add_argument(
        "--soak", type=int, default=None, help="runs before the RSS-after-soak sample"
    )
    parser.add_argument(
        "--baseline-store",
        choices=STORES,
        default="memory",
        help="Roost's store in the main table: in-memory SQLite (default), a SQLite file on "
        "tmpfs, or on disk (observability off in all three)",
    )
    parser.add_argument(
        "--skip-extras", action="store_true", help="skip the persistence+tracing table"
    )
    parser.add_argument(
        "--fresh-install", action="store_true", help="rebuild Roost's throw-away core venv"
    )
    parser.add_argument(
        "--no-write", action="store_true", help="print only; write no JSON or Markdown"
    )
    args = parser.parse_args(argv)

    if not PEER_PYTHON.exists():
        print("peer venv missing: run `python -m bench.peer.setup` first", file=sys.stderr)
        return 2
    plan = Plan(args.quick, args.soak)
    today = dt.datetime.now(dt.UTC)
    command = "python -m bench.compare " + " ".join(argv if argv is not None else sys.argv[1:])
    info: dict[str, Any] = {
        "date": today.isoformat(timespec="seconds"),
        "command": command.strip(),
        "quick": args.quick,
        "machine": machine(),
        "versions": versions(),
        "plan": vars(plan),
    }
    log_dir = Path(tempfile.mkdtemp(prefix="roost-bench-compare-logs-"))
    info["server_logs"] = str(log_dir)

    def progress(message: str) -> None:
        print(message, flush=True)

    peer, roost = peer_side(), roost_side(store=args.baseline_store)
    info["roost_bytecode"] = byte_compile(sys.executable)
    info["roost_baseline"] = roost.name
    roost.name = "roost"
    with fake_model_server() as model_url:
        progress(f"fake model at {model_url}; server output in {log_dir}")
        pairs = alternate([roost, peer], args.pairs, model_url, plan, log_dir, "main", progress)
        extras: list[dict[str, dict[str, Any]]] = []
        full_name: str | None = None
        if not args.skip_extras:
            full = roost_side(store="disk", trace=True)
            full_name = full.name
            extras = alternate(
                [full, roost], args.pairs, model_url, plan, log_dir, "extras", progress
            )

    progress("import time and RSS (alternating) …")
    static_pairs: list[dict[str, dict[str, Any]]] = []
    for _ in range(args.pairs):
        static_pairs.append(
            {
                "roost": measure_import(sys.executable, roost.import_module),
                "peer": measure_import(str(PEER_PYTHON), peer.import_module),
            }
        )
    progress("install size …")
    install = {
        "roost": measure_install(ensure_roost_core_venv(args.fresh_install)),
        "peer": measure_install(PEER_VENV),
    }
    for pair in static_pairs:
        for name in ("roost", "peer"):
            pair[name].update({k: v for k, v in install[name].items() if k != "venv"})
    info["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
    info["sandbox"] = sandbox_status()
    progress("Roost sandbox create + execution …")
    info["sandbox"]["roost"] = measure_roost_sandbox(5 if args.quick else 20)

    rows = summarise(pairs, "roost", "peer", METRICS) + summarise(
        static_pairs, "roost", "peer", STATIC_METRICS
    )
    extra_rows = summarise(extras, full_name, "roost", METRICS) if full_name else []
    for row in extra_rows:
        row["goal"], row["met"] = None, None
    result = {
        **info,
        "pairs": pairs,
        "static": static_pairs,
        "install": install,
        "extras": extras,
        "summary": rows,
        "summary_extras": extra_rows,
    }

    markdown = render(info, rows, extra_rows, full_name)
    print(markdown)
    if not args.no_write:
        RESULTS.mkdir(exist_ok=True)
        stem = f"compare-{today:%Y-%m-%d}" + ("-quick" if args.quick else "")
        path = RESULTS / f"{stem}.json"
        n = 2
        while path.exists():
            path = RESULTS / f"{stem}-{n}.json"
            n += 1
        path.write_text(json.dumps(result, indent=2, default=str) + "\n")
        DOC.parent.mkdir(parents=True, exist_ok=True)
        with open(DOC, "a") as doc:
            doc.write(markdown.replace("{json}", str(path.relative_to(REPO))) + "\n")
        print(f"raw results: {path}\ntable appended to {DOC}")
    return 0


def _sandbox_text(r: dict[str, Any]) -> str:
    if "error" in r:
        return f"failed ({r['error']})"
    return (
        f"{r['backend']} backend, create + start {r['create_ms']} ms, first cell {r['first_exec_ms']} ms, "
        f"warm cell {r['exec_ms']} ms (medians of {r['n']} sandboxes)"
    )


def render(
    info: dict[str, Any],
    rows: list[dict[str, Any]],
    extra_rows: list[dict[str, Any]],
    full_name: str | None,
) -> str:
    m = info["machine"]
    v = info["versions"]
    plan = info["plan"]
    scale = "QUICK (scaled down) — " if info["quick"] else ""
    out = [
        f"\n## Roost vs AgentScope Runtime — {info['date']}{' (quick)' if info['quick'] else ''}\n",
        f"- command: `{info['command']}` (peer venv: `python -m bench.peer.setup`)",
        f"- machine: {m['nproc']} cores ({m['cpu']}), {m['ram_gb']} GB RAM, Linux {m['kernel']}, Python {m['python']}; "
        f"load average at start {' '.join(m['loadavg_start'])}, at end {' '.join(info['loadavg_end'])} — "
        "**shared machine, loaded by other work: compare the ratios (measured side by side), not absolute times**",
        f"- peer: agentscope {v['agentscope']} `Agent` + agentscope-runtime {v['agentscope-runtime']} `AgentApp` (text adapter); "
        f"Roost {v['roost']} `AgentApp` + `ReActAgent` + `OpenAIChatModel` as {info['roost_baseline']} "
        "(auth on, rate limit off; one run = `POST /v1/sessions` + streamed `POST /v1/sessions/{id}/runs`, "
        "the peer's one `POST /process` does both); both call the same fake OpenAI server "
        "(bench.apps.fake_openai, separate process, 20-chunk reply) once per run",
        f"- {scale}per server start: {plan['warmup']} warm-up runs, {plan['sequential']} sequential runs (CPU/run and p50/p99), "
        f"then {', '.join(f'{n} runs at concurrency {c}' for c, n in plan['per_level'].items())}; "
        f"RSS after soak = after {plan['soak']} runs in total (first pair only); A B alternating, ratios = Roost ÷ peer per pair",
        "- Roost's source is byte-compiled first (`compileall`), as the peer's pip-installed packages are: "
        "Roost is installed editable here and the machine sets `PYTHONDONTWRITEBYTECODE`",
        "- raw JSON: `{json}`\n",
        table(rows, "roost", "peer", ratio_label="Roost ÷ peer"),
        "",
        f"Sandbox create + code execution — peer: {info['sandbox']['peer']} "
        f"(docker CLI {'present' if info['sandbox']['docker_cli'] else 'absent'}, engine {'running' if info['sandbox']['docker_engine'] else 'absent'}); "
        f"Roost: {_sandbox_text(info['sandbox']['roost'])} (no ratio without the peer's figure).",
    ]
    if full_name:
        out += [
            "",
            f"### Roost's default configuration ({full_name}: SQLite file on disk, tracing to the "
            f"local trace store, run metrics, alerts) vs the baseline above ({info['roost_baseline']})\n",
            table(extra_rows, full_name, "roost", ratio_label="on ÷ off"),
        ]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.exit(main())
