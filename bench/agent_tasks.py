"""Task success of the built-in assistant, measured as a user meets it.

Starts ``roost serve --yes --model local:NAME`` in a subprocess (a fresh ROOST_HOME that
shares the installed models), waits for ``/readyz`` to say the model is ready, then runs
every task of ``bench.everyday_tasks`` in its own session through
``POST /v1/sessions/{id}/runs`` (SSE) and checks the answer. Reports success per
category and overall, median and p90 seconds per task, tool calls per task, and the
share of tasks with a repeated identical tool call.

    nice python -m bench.agent_tasks --model qwen2.5-coder-1.5b [--only fact,calc] \
        [--limit N] [--include-issue] [--json bench/results/agent-tasks-1.5b.json]

The model must be installed (``roost model install NAME``) under ``--models-home``
(default ``ROOST_TEST_MODEL_HOME`` or ``~/.roost``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx

from bench.everyday_tasks import ISSUE_TASKS, TASKS, Outcome, Task

REPO = Path(__file__).resolve().parent.parent


def start_server(
    model: str, models_home: Path, home: Path
) -> tuple[subprocess.Popen[str], str, str, float]:
    """``roost serve`` as a user starts it; returns (process, base URL, admin key,
    seconds from spawn to the model being ready)."""
    (home / "models").symlink_to(models_home / "models")
    env = dict(os.environ, ROOST_HOME=str(home), PYTHONPATH=str(REPO / "src"))
    env.pop("ROOST_ADMIN_KEY", None)
    started = time.monotonic()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "roost.cli.main",
            "serve",
            "--yes",
            "--port",
            "0",
            "--model",
            f"local:{model}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    url = key = ""
    while not (url and key):
        line = proc.stdout.readline()
        if not line:
            raise SystemExit(f"roost serve exited with {proc.wait()} before it announced itself")
        if m := re.search(r"at (http://\S+)", line):
            url = m.group(1)
        if m := re.search(r"ROOST_ADMIN_KEY=(\S+)", line):
            key = m.group(1)
    threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep the pipe drained
    with httpx.Client(base_url=url, timeout=10) as client:
        while True:
            r = client.get("/readyz")
            if r.status_code == 200:  # 503 not_ready while the model loads
                load = r.json().get("checks", {}).get("model", {}).get("ready_seconds")
                break
            if time.monotonic() - started > 300:
                raise SystemExit(f"the model was not ready after 300 s: {r.text}")
            time.sleep(0.1)
    ready = time.monotonic() - started
    print(f"model ready {ready:.1f} s after `roost serve` started (loading the weights: {load} s)")
    return proc, url, key, ready


def run_task(client: httpx.Client, task: Task, timeout: float) -> dict[str, Any]:
    session = client.post("/v1/sessions", json={}).json()["id"]
    calls: list[tuple[str, dict[str, Any]]] = []
    errors: list[str] = []
    answer = ""
    deltas: list[str] = []
    started = time.monotonic()
    with client.stream(
        "POST", f"/v1/sessions/{session}/runs", json={"input": task.prompt}, timeout=timeout
    ) as response:
        if response.status_code != 200:
            errors.append(f"HTTP {response.status_code}: {response.read().decode()[:300]}")
        else:
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue
                event = json.loads(line[5:])
                kind = event.get("type")
                if kind == "tool_call.finished":
                    calls.append((event["name"], event.get("input") or {}))
                elif kind == "error":
                    errors.append(f"{event.get('code')}: {event.get('message')}")
                elif kind == "text.delta":
                    deltas.append(event.get("delta", ""))
                elif kind in ("run.completed", "run.failed", "run.canceled"):
                    if kind != "run.completed":
                        errors.append(f"{kind}: {event.get('code')}: {event.get('message')}")
                    content = (event.get("output") or {}).get("content") or []
                    texts = [b.get("text", "") for b in content if b.get("type") == "text"]
                    answer = "".join(texts) if texts else "".join(deltas)
    seconds = time.monotonic() - started
    keys = [f"{n}:{json.dumps(a, sort_keys=True)}" for n, a in calls]
    outcome = Outcome(answer=answer, calls=calls, errors=errors)
    ok = False
    try:
        ok = bool(task.check(outcome))
    except Exception as exc:  # a check that cannot read the answer is a failure
        errors.append(f"check failed: {exc!r}")
    return {
        "id": task.id,
        "category": task.category,
        "ok": ok,
        "seconds": round(seconds, 2),
        "calls": [[n, a] for n, a in calls],
        "repeated_call": len(keys) != len(set(keys)),
        "answer": answer,
        "errors": errors,
    }


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    by_cat: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        by_cat[r["category"]].append(r)
    secs = sorted(r["seconds"] for r in results)
    p90 = secs[min(len(secs) - 1, round(0.9 * (len(secs) - 1)))] if secs else 0.0
    return {
        "tasks": len(results),
        "success": sum(r["ok"] for r in results) / max(1, len(results)),
        "categories": {
            c: {"tasks": len(rs), "success": sum(r["ok"] for r in rs) / len(rs)}
            for c, rs in sorted(by_cat.items())
        },
        "median_s": statistics.median(secs) if secs else 0.0,
        "p90_s": p90,
        "tool_calls_per_task": sum(len(r["calls"]) for r in results) / max(1, len(results)),
        "repeated_call_rate": sum(r["repeated_call"] for r in results) / max(1, len(results)),
    }


def _write(path: Path, model: str, ready: float, results: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    scored = [r for r in results if r["category"] != "issue"]
    summary = {"model": model, "ready_s": round(ready, 2), **summarise(scored)}
    path.write_text(
        json.dumps({"summary": summary, "results": results}, indent=2, ensure_ascii=False)
    )


def rescore(path: Path) -> None:
    """Apply the current checks to the stored answers and calls of an earlier run."""
    data = json.loads(path.read_text())
    by_id = {t.id: t for t in [*TASKS, *ISSUE_TASKS]}
    for r in data["results"]:
        outcome = Outcome(answer=r["answer"], calls=[(n, a) for n, a in r["calls"]])
        r["ok"] = bool(by_id[r["id"]].check(outcome))
    results = data["results"]
    summary = {**data["summary"], **summarise([r for r in results if r["category"] != "issue"])}
    if any(r["category"] == "issue" for r in results):
        summary["issue_examples"] = summarise([r for r in results if r["category"] == "issue"])
    data["summary"] = summary
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False))
    print(json.dumps(summary, indent=2, ensure_ascii=False))


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", default="qwen2.5-coder-1.5b", help="catalogue name")
    p.add_argument(
        "--models-home",
        type=Path,
        default=Path(os.environ.get("ROOST_TEST_MODEL_HOME", Path.home() / ".roost")),
    )
    p.add_argument("--only", default="", help="comma-separated task-id prefixes or categories")
    p.add_argument("--limit", type=int, default=0, help="run at most N tasks")
    p.add_argument("--include-issue", action="store_true", help="also run the issue's examples")
    p.add_argument("--timeout", type=float, default=180.0, help="seconds per task")
    p.add_argument("--json", type=Path, help="write the results here")
    p.add_argument("--rescore", type=Path, help="score a results file again (checks changed)")
    args = p.parse_args()
    if args.rescore:
        rescore(args.rescore)
        return

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the server on kill too
    tasks = list(TASKS) + (list(ISSUE_TASKS) if args.include_issue else [])
    if args.only:
        wanted = [w.strip() for w in args.only.split(",") if w.strip()]
        tasks = [t for t in tasks if any(t.id.startswith(w) or t.category == w for w in wanted)]
    if args.limit:
        tasks = tasks[: args.limit]
    with tempfile.TemporaryDirectory(prefix="roost-bench-") as tmp:
        proc, url, key, ready = start_server(args.model, args.models_home.expanduser(), Path(tmp))
        results = []
        try:
            with httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30
            ) as client:
                for task in tasks:
                    r = run_task(client, task, args.timeout)
                    results.append(r)
                    if args.json:  # after every task: a long run stopped early keeps its results
                        _write(args.json, args.model, ready, results)
                    mark = "ok " if r["ok"] else "BAD"
                    print(
                        f"{mark} {r['id']:8} {r['seconds']:5.1f}s calls={len(r['calls'])} "
                        f"{r['answer'][:70]!r}",
                        flush=True,
                    )
        finally:
            proc.terminate()
            proc.wait(30)
    scored = [r for r in results if r["category"] != "issue"]
    summary = {"model": args.model, "ready_s": round(ready, 2), **summarise(scored)}
    if any(r["category"] == "issue" for r in results):
        summary["issue_examples"] = summarise([r for r in results if r["category"] == "issue"])
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"summary": summary, "results": results}, indent=2, ensure_ascii=False)
        )


if __name__ == "__main__":
    main()
