"""``roost secrets``: the encrypted secret store in Roost's database (no vault needed)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer

from roost.cli._deploy_common import fail

T = TypeVar("T")

app = typer.Typer(
    name="secrets",
    help="Encrypted secrets in Roost's database; reference them as secret://NAME. "
    "加密保存在 Roost 数据库中的密钥，以 secret://NAME 引用。",
    no_args_is_help=True,
)

_URL = typer.Option(help="Database URL (default: ROOST_DATABASE_URL or the SQLite file).")


def _run(url: str | None, work: Callable[[Any], Awaitable[T]]) -> T:
    from roost.core import RoostError

    async def main() -> T:
        from roost.govern.secrets import SecretStore
        from roost.store import Store

        async with await Store.open(url) as store:
            return await work(SecretStore(store))

    try:
        return asyncio.run(main())
    except RoostError as err:
        raise fail(err) from None


@app.command("init")
def init() -> None:
    """Create the master key file if there is none. 创建主密钥文件（若不存在）。"""
    from roost.core import RoostError
    from roost.core.settings import get_settings
    from roost.govern.keyring import default_key_file, keyring_from_settings

    try:
        keys = keyring_from_settings()
    except RoostError as err:
        raise fail(err) from None
    typer.echo(f"master key {keys.primary} ({default_key_file(get_settings())})")


@app.command("set")
def set_(
    name: Annotated[str, typer.Argument(help="Secret name. 密钥名称。")],
    value: Annotated[
        str | None,
        typer.Option(
            "--value",
            help="The value (else read from stdin, or asked for without echo). "
            "密钥值（默认从标准输入读取或隐藏输入）。",
        ),
    ] = None,
    tenant: Annotated[str | None, typer.Option(help="Owning tenant. 所属租户。")] = None,
    url: Annotated[str | None, _URL] = None,
) -> None:
    """Store or replace a secret. 保存或替换密钥。"""
    if value is None:
        value = (
            sys.stdin.read().rstrip("\n")
            if not sys.stdin.isatty()
            else typer.prompt("value", hide_input=True)
        )
    given = value
    info = _run(url, lambda s: s.set(name, given, tenant_id=tenant))
    typer.echo(f"{info.name}: version {info.version} ({info.algorithm}, key {info.master_key_id})")


@app.command("get")
def get(
    name: Annotated[str, typer.Argument(help="Secret name. 密钥名称。")],
    reveal: Annotated[bool, typer.Option(help="Print the whole value. 显示完整的值。")] = False,
    url: Annotated[str | None, _URL] = None,
) -> None:
    """Show a secret, masked unless --reveal. 显示密钥（默认脱敏）。"""
    from roost.govern.secrets import masked

    value: str = _run(url, lambda s: s.get(name))
    typer.echo(value if reveal else masked(value))


@app.command("list")
def list_(
    prefix: Annotated[str, typer.Option(help="Only names starting with this. 名称前缀。")] = "",
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's. 仅此租户。")] = None,
    url: Annotated[str | None, _URL] = None,
) -> None:
    """List secrets (names and metadata, never values). 列出密钥（不显示值）。"""
    from rich.console import Console
    from rich.table import Table

    found = _run(url, lambda s: s.list(prefix=prefix, tenant_id=tenant))
    table = Table("name", "tenant", "cipher", "master key", "version", "updated")
    for item in found:
        table.add_row(
            item.name,
            item.tenant_id or "",
            item.algorithm,
            item.master_key_id,
            str(item.version),
            item.updated_at.isoformat(timespec="seconds"),
        )
    Console().print(table)


@app.command("delete")
def delete(
    name: Annotated[str, typer.Argument(help="Secret name. 密钥名称。")],
    url: Annotated[str | None, _URL] = None,
) -> None:
    """Delete a secret. 删除密钥。"""
    _run(url, lambda s: s.delete(name))
    typer.echo(f"deleted {name}")


@app.command("rotate-master-key")
def rotate_master_key(url: Annotated[str | None, _URL] = None) -> None:
    """Put a new master key first and re-wrap every data key; run again to finish an
    interrupted rotation. 轮换主密钥并重新封装所有数据密钥；中断后再次运行即可继续。"""
    from rich.progress import BarColumn, Progress, TextColumn

    async def work(store: Any) -> Any:
        total = sum((await store.store.secrets_by_master_key()).values())
        with Progress(
            TextColumn("re-wrapping 重新封装"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
        ) as bar:
            task = bar.add_task("rewrap", total=total)
            return await store.rotate_master_key(progress=lambda n: bar.update(task, completed=n))

    report = _run(url, work)
    state = "resumed and finished" if report.resumed else "done"
    typer.echo(
        f"rotation {state}: primary {report.primary}, {report.rewrapped} data keys re-wrapped,"
        f" retired {', '.join(report.retired) or 'none'}"
    )
