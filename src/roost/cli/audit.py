"""``roost audit``: verify the audit chain, export and search records, archive, legal
holds; ``roost lineage MESSAGE_ID``: where an answer came from, as a tree."""

from __future__ import annotations

import asyncio
import csv
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.tree import Tree

from roost.core import RoostError
from roost.govern.audit.entry import CSV_COLUMNS

app = typer.Typer(
    help="Audit trail: verify, export, search, archive, legal holds. / 审计日志：校验、导出、检索、归档、法律保全。",
    no_args_is_help=True,
)
lineage_app = typer.Typer()

DatabaseOpt = Annotated[
    str | None,
    typer.Option("--database-url", help="Store URL (default: ROOST_DATABASE_URL). / 数据库地址。"),
]
ArchiveOpt = Annotated[
    str | None,
    typer.Option(
        "--archive",
        help="Archive directory or s3://bucket/prefix (default: ROOST_AUDIT_ARCHIVE). / 归档位置。",
    ),
]
UserOpt = Annotated[str | None, typer.Option("--user", help="Only this user. / 指定用户。")]
TenantOpt = Annotated[str | None, typer.Option("--tenant", help="Only this tenant. / 指定租户。")]
ActionOpt = Annotated[
    str | None, typer.Option("--action", help="An action or prefix (run.*). / 操作。")
]
SinceOpt = Annotated[
    str | None, typer.Option("--since", help="From this date/time (ISO 8601). / 起始时间。")
]
UntilOpt = Annotated[
    str | None, typer.Option("--until", help="Before this date/time (ISO 8601). / 截止时间。")
]


def _fail(err: RoostError, code: int = 2) -> typer.Exit:
    Console(stderr=True).print(f"[red]error[/red] {escape(str(err))}")
    return typer.Exit(code=code)


def _time(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO 8601 date or time", param_hint=name
        ) from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return int(at.timestamp() * 1_000_000)


async def _with_store(url: str | None, work: Any) -> Any:
    from roost.store import Store

    store = await Store.open(url)
    try:
        return await work(store)
    finally:
        await store.close()


def _settings() -> Any:
    from roost.core.settings import get_settings

    return get_settings()


@app.command("verify")
def verify_cmd(
    database_url: DatabaseOpt = None,
    archive: ArchiveOpt = None,
    skip_signatures: Annotated[
        bool,
        typer.Option(
            "--skip-signatures", help="Do not check checkpoint signatures. / 不校验签名。"
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Walk the chain (archives, then the database) and name the first bad record; exit 1
    when the trail was tampered with, 2 on an error. / 校验哈希链并指出第一条被篡改的记录。"""
    from roost.govern.audit import load_verifier, target_for, verify

    settings = _settings()
    try:
        verifier = None if skip_signatures else load_verifier(settings)
        target = target_for(archive, settings)
        with Progress(
            SpinnerColumn(),
            TextColumn("verifying the audit chain"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        ):
            report = asyncio.run(
                _with_store(database_url, lambda s: verify(s, target=target, verifier=verifier))
            )
    except RoostError as err:
        raise _fail(err) from None
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
    else:
        console = Console()
        span = f"{report.first_seq}..{report.last_seq}" if report.records else "none"
        console.print(
            f"records {report.records} ({span}), segments {report.segments}, "
            f"checkpoints {report.checkpoints}, hash {report.alg or '-'}, "
            f"signatures {'checked' if report.signatures_checked else 'NOT checked'}"
        )
        for warning in report.warnings:
            console.print(f"[yellow]warning[/yellow] {escape(warning)}")
        if report.problem is None:
            console.print("[green]OK[/green] the audit trail is intact")
        else:
            p = report.problem
            console.print(f"[red]FAILED[/red] {p.kind} at record {p.seq}: {escape(p.message)}")
    raise typer.Exit(code=0 if report.ok else 1)


def _query(
    user: str | None,
    tenant: str | None,
    action: str | None,
    resource: str | None,
    since: str | None,
    until: str | None,
) -> Any:
    from roost.govern.audit.query import AuditQuery

    return AuditQuery(
        user_id=user,
        tenant_id=tenant,
        action=action,
        resource_id=resource,
        since_us=_time(since, "--since"),
        until_us=_time(until, "--until"),
    )


@app.command("export")
def export_cmd(
    user: UserOpt = None,
    tenant: TenantOpt = None,
    action: ActionOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv. / 格式。")] = "jsonl",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File (default: stdout). / 输出文件。")
    ] = None,
    database_url: DatabaseOpt = None,
    archive: ArchiveOpt = None,
) -> None:
    """Everything matching, oldest first, across archives and the database. / 导出审计记录（含归档）。"""
    from roost.govern.audit import target_for
    from roost.govern.audit.query import export

    if fmt not in ("jsonl", "csv"):
        raise typer.BadParameter("jsonl or csv", param_hint="--format")
    q = _query(user, tenant, action, None, since, until)
    target = target_for(archive, _settings())
    out = output.open("w", newline="") if output else sys.stdout
    writer = csv.writer(out) if fmt == "csv" else None
    if writer is not None:
        writer.writerow(CSV_COLUMNS)

    async def work(store: Any) -> int:
        n = 0
        with Progress(
            SpinnerColumn(),
            TextColumn("exported {task.completed} records"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        ) as bar:
            task = bar.add_task("export")
            async for rec in export(store, q, target=target):
                row = rec.to_json()
                if writer is not None:
                    row["detail"] = json.dumps(row["detail"], separators=(",", ":"))
                    writer.writerow([row.get(c) for c in CSV_COLUMNS])
                else:
                    out.write(json.dumps(row, separators=(",", ":"), ensure_ascii=False) + "\n")
                n += 1
                if n % 1000 == 0:
                    bar.update(task, completed=n)
        return n

    try:
        count = asyncio.run(_with_store(database_url, work))
    except RoostError as err:
        raise _fail(err) from None
    finally:
        if output:
            out.close()
    Console(stderr=True).print(f"{count} records")


@app.command("search")
def search_cmd(
    user: UserOpt = None,
    tenant: TenantOpt = None,
    action: ActionOpt = None,
    resource: Annotated[
        str | None, typer.Option("--resource", help="A resource id. / 资源。")
    ] = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, max=1000, help="How many. / 条数。")
    ] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    database_url: DatabaseOpt = None,
) -> None:
    """The newest records of the database that match. / 检索最近的审计记录。"""
    from roost.govern.audit.query import search

    q = _query(user, tenant, action, resource, since, until)
    try:
        records, _ = asyncio.run(_with_store(database_url, lambda s: search(s, q, limit=limit)))
    except RoostError as err:
        raise _fail(err) from None
    if as_json:
        typer.echo(json.dumps([r.to_json() for r in records], indent=2, ensure_ascii=False))
        return
    table = Table("seq", "time", "user", "action", "resource", "outcome")
    for r in records:
        row = r.to_json()
        resource_text = f"{r.resource_type or ''}:{r.resource_id or ''}".strip(":")
        table.add_row(
            str(r.seq), row["at"][:23], r.user_id or "-", r.action, resource_text, r.outcome
        )
    Console().print(table)


@app.command("archive")
def archive_cmd(
    days: Annotated[
        float | None,
        typer.Option("--days", help="Retention in days (default: the setting, 180). / 保留天数。"),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Accept under 180 days. / 允许少于180天。")
    ] = False,
    database_url: DatabaseOpt = None,
    archive: ArchiveOpt = None,
) -> None:
    """Move records past their retention into archive segments, then prune them (legal
    holds excepted). / 归档并清理超过保留期的记录（法律保全除外）。"""
    from roost.govern.audit import AuditLog, target_for
    from roost.govern.audit.retention import AuditRetention

    settings = _settings()

    async def work(store: Any) -> Any:
        log = AuditLog.from_settings(store, settings, create_key=False)
        retention = AuditRetention(
            log,
            target_for(archive, settings),
            days=settings.audit_retention_days,
            force=settings.audit_retention_force,
        )
        return await retention.archive(days=days, force=force or None)

    try:
        with Progress(
            SpinnerColumn(),
            TextColumn("archiving"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        ):
            done = asyncio.run(_with_store(database_url, work))
    except RoostError as err:
        raise _fail(err) from None
    Console().print(
        f"archived {done.archived} records in {len(done.segments)} segments; "
        f"pruned {done.pruned}; kept under hold {done.held}"
    )


@app.command("hold")
def hold_cmd(
    reason: Annotated[str, typer.Option("--reason", help="Why (case, ticket). / 原因。")],
    user: Annotated[
        str | None, typer.Option("--user", help="Hold this user's records. / 用户。")
    ] = None,
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="Hold this tenant's records. / 租户。")
    ] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Place a legal hold: these records are not pruned until it is released. / 设置法律保全。"""
    if user is None and tenant is None:
        raise typer.BadParameter("name --user, --tenant or both")
    try:
        hold = asyncio.run(
            _with_store(
                database_url,
                lambda s: _retention(s).place_hold(
                    tenant_id=tenant, user_id=user, reason=reason, by="cli"
                ),
            )
        )
    except RoostError as err:
        raise _fail(err) from None
    Console().print(f"hold {hold.id} placed")


@app.command("release")
def release_cmd(
    hold_id: Annotated[str, typer.Argument(help="The hold id. / 保全编号。")],
    database_url: DatabaseOpt = None,
) -> None:
    """Release a legal hold. / 解除法律保全。"""
    try:
        asyncio.run(
            _with_store(database_url, lambda s: _retention(s).release_hold(hold_id, by="cli"))
        )
    except RoostError as err:
        raise _fail(err, 1) from None
    Console().print(f"hold {hold_id} released")


@app.command("keygen")
def keygen_cmd() -> None:
    """Print a new Ed25519 signing seed (ROOST_AUDIT_SIGNING_KEY) and its public key
    (ROOST_AUDIT_VERIFY_KEY). / 生成检查点签名密钥。"""
    from roost.govern.audit import Signer

    signer = Signer.generate()
    typer.echo(f"ROOST_AUDIT_SIGNING_KEY={signer.seed_base64()}")
    typer.echo(f"ROOST_AUDIT_VERIFY_KEY={signer.public_base64()}")


def _retention(store: Any) -> Any:
    from roost.govern.audit import AuditLog, target_for
    from roost.govern.audit.retention import AuditRetention

    settings = _settings()
    log = AuditLog.from_settings(store, settings, create_key=False)
    return AuditRetention(log, target_for(None, settings))


@lineage_app.command("lineage")
def lineage_cmd(
    message_id: Annotated[str, typer.Argument(help="An assistant message id. / 回答的消息编号。")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Where an answer came from: run, user and key, model calls, tool calls, knowledge
    chunks. / 数据血缘：回答来自哪些模型调用、工具调用和知识片段。"""
    from roost.govern.audit.lineage import lineage

    try:
        data = asyncio.run(_with_store(database_url, lambda s: lineage(s, message_id)))
    except RoostError as err:
        raise _fail(err, 1) from None
    if as_json:
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    Console().print(render_lineage(data))


def render_lineage(data: dict[str, Any]) -> Tree:
    run = data["run"]
    tree = Tree(
        f"[bold]message {escape(data['message_id'])}[/]  run {escape(str(run.get('id')))}  "
        f"status {run.get('status', '-')}"
    )
    tree.add(
        f"asked by user {escape(str(run.get('user_id')))} (tenant {run.get('tenant_id') or '-'}) "
        f"with key {escape(str(run.get('key_id')))} from {run.get('client') or '-'}"
    )
    models = tree.add("[cyan]model calls[/]")
    for call in data["model_calls"]:
        usage = call.get("usage") or {}
        models.add(
            f"{escape(str(call.get('model')))}  prompt {call.get('prompt_digest', '')[:19]}…  "
            f"tokens {usage.get('input_tokens', 0)}→{usage.get('output_tokens', 0)}"
        )
    tools = tree.add("[cyan]tool calls[/]")
    for call in data["tool_calls"]:
        tools.add(
            f"{escape(str(call.get('name')))}  args {str(call.get('args_digest'))[:19]}…  "
            f"result {str(call.get('result_digest'))[:19]}…  {call.get('outcome')}"
        )
    knowledge = tree.add("[cyan]knowledge[/]")
    for access in data["knowledge"]:
        for c in access.get("chunks", []):
            knowledge.add(
                f"kb {c.get('knowledge_base')} / doc {c.get('document')} v{c.get('version')} "
                f"/ chunk {c.get('chunk')}  {escape(str(c.get('source') or ''))}"
            )
    return tree
