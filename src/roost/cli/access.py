"""``roost keys`` and ``roost tenants``: API keys, tenants and quotas, on the store itself.

They work offline, on the database the server uses (``ROOST_DATABASE_URL`` or the SQLite
file under ``ROOST_HOME``): the way to make the first tenant admin, or to revoke a key
when no admin key is at hand. The same operations are routes of the API
(docs/security.md). Help is in English and Chinese.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from roost.core import RoostError

T = TypeVar("T")

keys_app = typer.Typer(
    help="Create, list and revoke API keys. / 创建、列出和吊销 API 密钥。", no_args_is_help=True
)
tenants_app = typer.Typer(help="Tenants and their quotas. / 租户及其配额。", no_args_is_help=True)

DatabaseOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="Store URL (default: ROOST_DATABASE_URL, else under ROOST_HOME). "
        "/ 数据库地址（默认：ROOST_DATABASE_URL，否则为 ROOST_HOME 下的 SQLite）。",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON. / 以 JSON 输出。")]


def _run(database_url: str | None, work: Callable[[Any], Awaitable[T]]) -> T:
    async def go() -> T:
        from roost.store import Store

        store = await Store.open(database_url)
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(go())
    except RoostError as err:
        Console(stderr=True).print(f"[red]error[/red] {escape(str(err))}")
        raise typer.Exit(code=1) from None


def _when(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value is not None else "-"


@keys_app.command("create")
def create_key(
    name: Annotated[str, typer.Argument(help="A label for the key. / 密钥名称。")],
    role: Annotated[
        str,
        typer.Option(
            help="admin, tenant_admin, developer, operator, viewer, user or metrics. / 角色。"
        ),
    ] = "user",
    tenant: Annotated[str | None, typer.Option(help="The tenant. / 所属租户。")] = None,
    user: Annotated[str | None, typer.Option(help="The user it acts as. / 代表的用户。")] = None,
    expires_days: Annotated[
        float | None, typer.Option(help="Days until it expires. / 有效天数。")
    ] = None,
    as_json: JsonOpt = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Create a key and print it once. / 创建密钥，明文只显示这一次。"""
    from roost.govern.roles import TENANT_ROLES

    if role in TENANT_ROLES and tenant is None:
        Console(stderr=True).print(f"[red]error[/red] a {role} key needs --tenant / 需要 --tenant")
        raise typer.Exit(code=2)
    expires = datetime.now(UTC) + timedelta(days=expires_days) if expires_days is not None else None
    plaintext, record = _run(
        database_url,
        lambda store: store.create_api_key(
            name,
            role=role,
            tenant_id=tenant,
            user_id=user,
            expires_at=expires,
        ),
    )
    if as_json:
        typer.echo(json.dumps({"id": record.id, "key": plaintext, "role": record.role}))
        return
    console = Console()
    console.print(f"[bold]{plaintext}[/bold]")
    console.print(
        f"[dim]{record.id} · {record.role} · tenant {record.tenant_id or '-'} · "
        f"expires {_when(record.expires_at)} — shown once / 仅显示一次[/dim]"
    )


@keys_app.command("list")
def list_keys(
    tenant: Annotated[str | None, typer.Option(help="One tenant's keys. / 仅此租户。")] = None,
    as_json: JsonOpt = False,
    database_url: DatabaseOpt = None,
) -> None:
    """List keys (never their secret). / 列出密钥（不含明文）。"""
    records = _run(database_url, lambda store: store.list_api_keys(tenant_id=tenant))
    if as_json:
        out = [
            {
                "id": r.id,
                "name": r.name,
                "prefix": r.display,
                "role": r.role,
                "tenant_id": r.tenant_id,
                "user_id": r.user_id,
                "revoked": r.revoked_at is not None,
                "expires_at": _when(r.expires_at),
                "last_used_at": _when(r.last_used_at),
                "hash_scheme": r.hash_scheme,
            }
            for r in records
        ]
        typer.echo(json.dumps(out, indent=2))
        return
    table = Table("id", "name", "prefix", "role", "tenant", "user", "last used", "expires", "state")
    for r in records:
        state = "revoked" if r.revoked_at else ("legacy hash" if r.hash_scheme == "sha256" else "")
        table.add_row(
            r.id,
            escape(r.name),
            r.display,
            r.role,
            r.tenant_id or "-",
            r.user_id or "-",
            _when(r.last_used_at),
            _when(r.expires_at),
            state,
        )
    Console().print(table)


@keys_app.command("revoke")
def revoke_key(
    key_id: Annotated[str, typer.Argument(help="The key id (key_…). / 密钥 ID。")],
    database_url: DatabaseOpt = None,
) -> None:
    """Revoke a key (other servers stop taking it within 30 s). / 吊销密钥。"""
    record = _run(database_url, lambda store: store.revoke_api_key(key_id))
    Console().print(f"revoked / 已吊销 {record.id} at {_when(record.revoked_at)}")


@tenants_app.command("create")
def create_tenant(
    tenant_id: Annotated[str, typer.Argument(help="The tenant id. / 租户 ID。")],
    name: Annotated[str | None, typer.Option(help="Display name. / 显示名称。")] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Create a tenant. / 创建租户。"""
    record = _run(database_url, lambda store: store.create_tenant(tenant_id, name=name))
    Console().print(f"created / 已创建 {record.id} ({escape(record.name)})")


@tenants_app.command("list")
def list_tenants(as_json: JsonOpt = False, database_url: DatabaseOpt = None) -> None:
    """List tenants. / 列出租户。"""
    records = _run(database_url, lambda store: store.list_tenants())
    if as_json:
        out = [{"id": r.id, "name": r.name, "disabled": not r.active} for r in records]
        typer.echo(json.dumps(out, indent=2))
        return
    table = Table("id", "name", "created", "state")
    for r in records:
        table.add_row(r.id, escape(r.name), _when(r.created_at), "" if r.active else "disabled")
    Console().print(table)


def _switch(tenant_id: str, disabled: bool, database_url: str | None) -> None:
    _run(database_url, lambda store: store.set_tenant_disabled(tenant_id, disabled))
    Console().print(f"{tenant_id}: {'disabled / 已停用' if disabled else 'enabled / 已启用'}")


@tenants_app.command("disable")
def disable_tenant(
    tenant_id: Annotated[str, typer.Argument(help="The tenant id. / 租户 ID。")],
    database_url: DatabaseOpt = None,
) -> None:
    """Disable a tenant: its keys stop working, its data stays. / 停用租户：密钥失效，数据保留。"""
    _switch(tenant_id, True, database_url)


@tenants_app.command("enable")
def enable_tenant(
    tenant_id: Annotated[str, typer.Argument(help="The tenant id. / 租户 ID。")],
    database_url: DatabaseOpt = None,
) -> None:
    """Enable a disabled tenant again. / 重新启用租户。"""
    _switch(tenant_id, False, database_url)


@tenants_app.command("quota")
def set_quota(
    tenant_id: Annotated[str, typer.Argument(help="The tenant id. / 租户 ID。")],
    limits: Annotated[
        list[str] | None,
        typer.Argument(
            help="NAME=NUMBER, e.g. runs_per_minute=60 tokens_per_day=1000000; none: show. "
            "/ 配额，如 runs_per_minute=60；不给则显示当前配额。"
        ),
    ] = None,
    user: Annotated[str | None, typer.Option(help="One user's quotas. / 某个用户的配额。")] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Show or replace quotas (a limit left out is unlimited). / 查看或设置配额。"""
    from roost.govern.quotas import QUOTAS

    if not limits:
        quotas = _run(database_url, lambda store: store.list_quotas(tenant_id))
        for q in quotas:
            who = f"user {q.user_id}" if q.user_id else "tenant"
            Console().print(f"{who}: {json.dumps(q.limits)}")
        return
    parsed: dict[str, float] = {}
    for item in limits:
        key, _, raw = item.partition("=")
        if key not in QUOTAS:
            Console(stderr=True).print(
                f"[red]error[/red] unknown quota {key!r}: {', '.join(QUOTAS)}"
            )
            raise typer.Exit(code=2)
        try:
            parsed[key] = float(raw) if "." in raw else int(raw)
        except ValueError:
            Console(stderr=True).print(f"[red]error[/red] {item!r}: NAME=NUMBER")
            raise typer.Exit(code=2) from None
    _run(database_url, lambda store: store.set_quota(tenant_id, parsed, user_id=user or ""))
    Console().print(f"{tenant_id}{'/' + user if user else ''}: {json.dumps(parsed)}")
