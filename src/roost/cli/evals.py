"""``roost eval``, ``roost replay``, ``roost release``: evaluation, replay and gray release.

``roost eval run`` starts the app in this process (no HTTP), runs the dataset through
its run engine with a progress bar, prints a table, writes an HTML report and exits
non-zero when the gate fails: the regression gate of a CI pipeline.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from roost.core import RoostError

app = typer.Typer(
    help="Evaluate agents on datasets; gate CI on regressions. / 在数据集上评估智能体，回归即失败。",
    no_args_is_help=True,
)
release_app = typer.Typer(
    help="Gray release: split traffic between agent versions. / 灰度发布：在智能体版本间分配流量。",
    no_args_is_help=True,
)

AppOpt = Annotated[
    str, typer.Option("--app", help="MODULE:APP of the agent app. / 智能体应用（模块:对象）。")
]
DatabaseOpt = Annotated[
    str | None,
    typer.Option("--database-url", help="Store URL (default: the app's, else ROOST_DATABASE_URL)."),
]


def _fail(console: Console, err: RoostError) -> typer.Exit:
    console.print(f"[red]error[/red] {escape(str(err))}")
    return typer.Exit(code=2)


def _load(target: str, database_url: str | None) -> Any:
    from roost.cli.serve import _load_app
    from roost.evals import enable_evals

    service = _load_app(target)
    if database_url:
        service.store_url = database_url
        service.config.store_url = database_url
    service.print_admin_key = False
    enable_evals(service, guard_interval=0)
    return service


def _agent_name(service: Any, asked: str) -> str:
    """``NAME@VERSION`` as given; a bare versioned ``NAME``: its stable version."""
    if asked in service.agents:
        return asked
    from roost.evals.release import versions_of

    versions = versions_of(asked, service.agents)
    return f"{asked}@{versions[0]}" if versions else asked


def _read_scorers(value: str | None) -> list[Any] | None:
    if not value:
        return None
    path = Path(value)
    text = path.read_text(encoding="utf-8") if path.exists() else value
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return [s.strip() for s in value.split(",") if s.strip()]
    return data if isinstance(data, list) else [data]


async def _run(
    service: Any,
    dataset: str,
    agent: str,
    *,
    scorers: list[Any] | None,
    concurrency: int,
    repetitions: int,
    seed: int | None,
    baseline: str | None,
    gate: str | None,
    console: Console,
    file_cases: list[Any] | None,
) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from roost.evals.compare import parse_gate
    from roost.evals.experiment import ExperimentConfig

    if gate:
        parse_gate(gate)  # a typo in the gate fails before any run
    await service.startup()
    try:
        evals = service.evals
        records = evals.records
        if file_cases is not None:
            cases = file_cases
            record = await records.create_dataset(
                Path(dataset).stem, cases, metadata={"file": str(dataset)}
            )
        else:
            try:
                record = await records.get_dataset(dataset)
            except RoostError:
                found = await records.find_dataset(dataset)
                if found is None:
                    raise
                record = found
            cases = await records.cases(record.id)
        built = evals.build_scorers(scorers, cases, trusted=True)
        config = ExperimentConfig(
            agent=_agent_name(service, agent),
            concurrency=concurrency,
            repetitions=repetitions,
            seed=seed,
            scorers=scorers,
            baseline=baseline,
        )
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task(f"{config.agent} on {record.name}", total=len(cases) * repetitions)
            outcome = await evals.run_experiment(
                record.id,
                config,
                built,
                gate=gate,
                progress=lambda done, total: bar.update(task, completed=done),
            )
        results = await records.results(outcome.experiment.id)
        return outcome, results
    finally:
        await service.shutdown()


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def _print(console: Console, outcome: Any) -> None:
    s = outcome.summary
    lat = s.get("latency_ms") or {}
    table = Table(title=f"experiment {outcome.experiment.id} · {outcome.experiment.agent}")
    for col in ("scorer", "pass rate", "95% CI", "passed", "failed", "errors"):
        table.add_column(col, justify="left" if col == "scorer" else "right")
    for name, per in (s.get("scorers") or {}).items():
        lo, hi = per.get("ci95") or [0, 1]
        table.add_row(
            name,
            _pct(per.get("pass_rate")),
            f"{_pct(lo)}–{_pct(hi)}",
            str(per["passed"]),
            str(per["failed"]),
            str(per["errors"]),
        )
    lo, hi = s.get("ci95") or [0, 1]
    table.add_row(
        "[bold]all[/]",
        _pct(s.get("pass_rate")),
        f"{_pct(lo)}–{_pct(hi)}",
        str(s.get("passed")),
        str(s.get("failed")),
        str(s.get("errors")),
    )
    console.print(table)
    p50, p95 = lat.get("p50"), lat.get("p95")
    cost = (s.get("cost") or {}).get("total")
    console.print(
        f"runs {s.get('runs')} · latency p50 {p50 or 0:.0f} ms, p95 {p95 or 0:.0f} ms"
        f" · cost {cost if cost is not None else '–'} · {s.get('duration_s')} s"
    )
    if outcome.comparison is not None:
        c = outcome.comparison
        console.print(
            f"against {c.baseline}: [green]{len(c.improved)} better[/], "
            f"[red]{len(c.regressed)} worse[/], {c.unchanged} unchanged"
        )
        for change in c.regressed[:10]:
            console.print(f"  [red]worse[/] {escape(change.input[:80])}")
    for check in outcome.gate or []:
        mark = "[green]pass[/]" if check.passed else "[red]FAIL[/]"
        console.print(f"gate {check.metric}{check.op}{check.threshold:g}: {check.value} {mark}")


@app.command("run")
def run(
    dataset: Annotated[
        str,
        typer.Argument(
            help="A JSONL/CSV file, or a stored dataset's name or id. / 数据集文件或名称。"
        ),
    ],
    agent: Annotated[str, typer.Option("--agent", help="NAME[@VERSION]. / 智能体[@版本]。")],
    target: AppOpt = "app:app",
    baseline: Annotated[
        str | None, typer.Option("--baseline", help="Experiment id to compare with. / 基线实验。")
    ] = None,
    gate: Annotated[
        str | None,
        typer.Option("--gate", help="e.g. 'pass_rate>=0.9,regressions==0'. / 门禁条件。"),
    ] = None,
    scorers: Annotated[
        str | None,
        typer.Option(
            "--scorers", help="Names (contains,trajectory), JSON, or a JSON file. / 评分器。"
        ),
    ] = None,
    concurrency: Annotated[
        int, typer.Option(min=1, max=256, help="Cases at a time. / 并发数。")
    ] = 4,
    repetitions: Annotated[
        int, typer.Option(min=1, max=100, help="Runs per case. / 每例重复次数。")
    ] = 1,
    seed: Annotated[
        int | None, typer.Option(help="Fixes the order; given to the agent. / 随机种子。")
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write the HTML report here. / HTML 报告路径。")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Run DATASET against an agent version; exit 1 when the gate fails. / 运行评估，门禁失败时退出码为 1。"""
    console = Console(stderr=as_json)
    try:
        from roost.evals.cases import load_cases

        service = _load(target, database_url)
        file_cases = load_cases(dataset) if Path(dataset).is_file() else None
        outcome, results = asyncio.run(
            _run(
                service,
                dataset,
                agent,
                scorers=_read_scorers(scorers),
                concurrency=concurrency,
                repetitions=repetitions,
                seed=seed,
                baseline=baseline,
                gate=gate,
                console=console,
                file_cases=file_cases,
            )
        )
    except RoostError as exc:
        raise _fail(console, exc) from None
    if as_json:
        typer.echo(
            json.dumps({"experiment": outcome.experiment.id, **outcome.summary}, default=str)
        )
    else:
        _print(console, outcome)
    if report is not None:
        from roost.evals.report import render

        report.write_text(
            render(outcome.experiment, results, comparison=outcome.comparison, gate=outcome.gate),
            encoding="utf-8",
        )
        console.print(f"report: {report}")
    if not outcome.gate_passed:
        raise typer.Exit(code=1)


@app.command("datasets")
def datasets(target: AppOpt = "app:app", database_url: DatabaseOpt = None) -> None:
    """List stored datasets. / 列出数据集。"""

    async def listing() -> list[Any]:
        from roost.evals.records import EvalRecords
        from roost.store import Store

        store = await Store.open(database_url or _load(target, None).store_url)
        try:
            return await EvalRecords(store).list_datasets()
        finally:
            await store.close()

    console = Console()
    try:
        found = asyncio.run(listing())
    except RoostError as exc:
        raise _fail(console, exc) from None
    table = Table("id", "name", "cases", "created")
    for d in found:
        table.add_row(d.id, d.name, str(d.cases), d.created_at.isoformat(timespec="seconds"))
    console.print(table)


@app.command("add-run")
def add_run(
    dataset: Annotated[
        str, typer.Argument(help="Dataset name (created if missing). / 数据集名称。")
    ],
    run_id: Annotated[str, typer.Argument(help="A stored run. / 已存储的运行。")],
    target: AppOpt = "app:app",
    database_url: DatabaseOpt = None,
) -> None:
    """Turn a stored run into a test case, its tool results kept for replay. / 把一次真实运行变成测试用例。"""

    async def add() -> tuple[str, int]:
        from roost.evals.records import EvalRecords
        from roost.evals.traffic import case_from_run
        from roost.store import Store

        store = await Store.open(database_url or _load(target, None).store_url)
        try:
            records = EvalRecords(store)
            case = await case_from_run(store, await store.get_run(run_id))
            found = await records.find_dataset(dataset)
            if found is None:
                await records.create_dataset(dataset, [case])
                return case.id, 1
            return case.id, await records.add_cases(found.id, [case])
        finally:
            await store.close()

    console = Console()
    try:
        case_id, size = asyncio.run(add())
    except RoostError as exc:
        raise _fail(console, exc) from None
    console.print(f"case {case_id} added to {dataset} ({size} cases)")


def replay(
    run_id: Annotated[
        str, typer.Argument(help="The run (or ses_… session) to replay. / 要重放的运行或会话。")
    ],
    against: Annotated[
        str | None,
        typer.Option("--against", help="NAME@VERSION to re-run it live on. / 对比版本。"),
    ] = None,
    target: AppOpt = "app:app",
    as_json: Annotated[bool, typer.Option("--json")] = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Replay a stored run from its events, or against another version, and diff. / 重放一次运行并比较。"""

    async def go() -> dict[str, Any]:
        from roost.evals.replay import replay_run, replay_session

        service = _load(target, database_url)
        await service.startup()
        try:
            if run_id.startswith("ses_"):  # a session: each of its runs in turn
                whole = await replay_session(service.services, run_id, against=against)
                runs = whole["runs"]
                return {
                    **runs[-1],
                    "identical": whole["identical"],
                    "against": runs[-1]["against"],
                    "diff": [line for r in runs for line in r["diff"]],
                    "runs": len(runs),
                }
            run = await service.store.get_run(run_id)
            return await replay_run(service.services, run, against=against)
        finally:
            await service.shutdown()

    console = Console()
    try:
        result = asyncio.run(go())
    except RoostError as exc:
        raise _fail(console, exc) from None
    if as_json:
        typer.echo(json.dumps(result))
    else:
        verdict = "[green]identical[/]" if result["identical"] else "[yellow]differs[/]"
        console.print(f"replay of {run_id} ({result['mode']}, {result['against']}): {verdict}")
        for line in result["diff"] or result["transcript"]["replayed"]:
            colour = "red" if line.startswith("-") else "green" if line.startswith("+") else "white"
            console.print(f"[{colour}]{escape(line)}[/]")
    if against is None and not result["identical"]:
        raise typer.Exit(code=1)


# -- roost release ---------------------------------------------------------------------
async def _releases(target: str, database_url: str | None) -> Any:
    from roost.evals.rollout import Releases
    from roost.store import Store

    service = _load(target, None)
    store = await Store.open(database_url or service.store_url)
    return Releases(store, service.agents), store


def _release_call(target: str, database_url: str | None, op: Any) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        ops, store = await _releases(target, database_url)
        try:
            await op(ops)
            result: dict[str, Any] = await ops.status(op.agent)
            return result
        finally:
            await store.close()

    return asyncio.run(go())


def _show_status(console: Console, status: dict[str, Any]) -> None:
    policy = status["policy"]
    console.print(
        f"[bold]{status['agent']}[/] rev {status['revision']} · stable {policy['stable']} · "
        f"{policy.get('status', 'active')} · weights {policy.get('weights') or {policy['stable']: 100}}"
    )
    table = Table("version", "runs", "error rate", "p95 ms", "cost/session", "eval pass")
    for version, m in status["metrics"].items():
        table.add_row(
            version,
            str(m["runs"]),
            _pct(m["error_rate"]),
            "–" if m["p95_latency_ms"] is None else f"{m['p95_latency_ms']:.0f}",
            "–" if m["cost_per_session"] is None else f"{m['cost_per_session']:.4f}",
            _pct(m["eval_pass_rate"]),
        )
    console.print(table)
    for e in status["events"][:5]:
        console.print(f"  {e['kind']} by {e['actor']}: {json.dumps(e['detail'])[:120]}")


class _Op:
    def __init__(self, agent: str, fn: Any) -> None:
        self.agent, self.fn = agent, fn

    async def __call__(self, ops: Any) -> None:
        await self.fn(ops)


def _release_command(agent: str, target: str, database_url: str | None, fn: Any) -> None:
    console = Console()
    try:
        status = _release_call(target, database_url, _Op(agent, fn))
    except RoostError as exc:
        raise _fail(console, exc) from None
    _show_status(console, status)


@release_app.command("status")
def release_status(
    agent: str, target: AppOpt = "app:app", database_url: DatabaseOpt = None
) -> None:
    """Policy, per-version metrics and recent changes. / 策略、各版本指标与变更记录。"""

    async def nothing(ops: Any) -> None:
        return None

    _release_command(agent, target, database_url, nothing)


@release_app.command("set-weights")
def release_set_weights(
    agent: str,
    weights: Annotated[
        list[str], typer.Argument(help="VERSION=PERCENT … adding up to 100. / 版本=百分比。")
    ],
    target: AppOpt = "app:app",
    database_url: DatabaseOpt = None,
) -> None:
    """Change the traffic split (audited; no restart). / 修改流量比例（记录审计，无需重启）。"""
    parsed: dict[str, float] = {}
    for item in weights:
        version, _, pct = item.partition("=")
        try:
            parsed[version] = float(pct)
        except ValueError:
            Console().print(f"[red]error[/red] {item!r}: write VERSION=PERCENT, e.g. v2=10")
            raise typer.Exit(code=2) from None
    _release_command(agent, target, database_url, lambda ops: ops.set_weights(agent, parsed, "cli"))


@release_app.command("promote")
def release_promote(
    agent: str,
    version: Annotated[
        str | None, typer.Argument(help="Default: the guarded canary. / 默认：灰度版本。")
    ] = None,
    target: AppOpt = "app:app",
    database_url: DatabaseOpt = None,
) -> None:
    """Make a version stable with all traffic. / 将版本设为稳定版并接收全部流量。"""
    _release_command(agent, target, database_url, lambda ops: ops.promote(agent, version, "cli"))


@release_app.command("rollback")
def release_rollback(
    agent: str, target: AppOpt = "app:app", database_url: DatabaseOpt = None
) -> None:
    """Send every new session back to the stable version. / 所有新会话回到稳定版本。"""
    _release_command(agent, target, database_url, lambda ops: ops.rollback(agent, "cli"))


replay_app = typer.Typer()
replay_app.command("replay")(replay)
