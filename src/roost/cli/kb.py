"""``roost kb``: knowledge bases in the embedded store (``ROOST_HOME/knowledge``).

``create`` picks the embedder (the offline local model, or an OpenAI-compatible
endpoint whose API key comes from ``ROOST_EMBEDDINGS_API_KEY``); ``ingest`` reads files
and folders with a progress bar and prints a per-document report; ``search`` shows the
best chunks with their ids, sources and scores.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from roost.core import RoostError
from roost.core.settings import get_settings

app = typer.Typer(help="Knowledge bases: create, ingest documents, search.", no_args_is_help=True)
T = TypeVar("T")

TenantOpt = Annotated[str, typer.Option("--tenant", help="Tenant that owns the knowledge base.")]
DirOpt = Annotated[
    Path | None,
    typer.Option(
        "--dir", help="Store directory (default: ROOST_HOME/knowledge).", show_default=False
    ),
]


def _store(directory: Path | None) -> Any:
    from roost.knowledge import KnowledgeStore

    return KnowledgeStore(directory) if directory else KnowledgeStore.default()


def _run(console: Console, directory: Path | None, work: Callable[[Any], Awaitable[T]]) -> T:
    async def main() -> T:
        store = _store(directory)
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    except RoostError as err:
        console.print(f"[red]error[/red] {escape(str(err))}")
        raise typer.Exit(code=1) from None


def _api_key() -> str | None:
    from roost.core.settings import get_settings

    key = get_settings().embeddings_api_key
    return key.get_secret_value() if key else None


@app.command("create")
def create(
    name: str,
    embedder: Annotated[
        str, typer.Option(help="'local' (offline all-MiniLM-L6-v2) or 'openai:MODEL'.")
    ] = "local",
    base_url: Annotated[
        str | None,
        typer.Option(help="Embeddings endpoint (…/v1; default ROOST_EMBEDDINGS_BASE_URL)."),
    ] = None,
    chunker: Annotated[str, typer.Option(help="tokens, sentences or markdown.")] = "sentences",
    max_tokens: Annotated[int, typer.Option(help="Chunk size in tokens.")] = 200,
    overlap: Annotated[int, typer.Option(help="Overlap between chunks in tokens.")] = 30,
    tenant: TenantOpt = "default",
    directory: DirOpt = None,
) -> None:
    """Create a knowledge base."""
    from roost.knowledge.resolve import resolve_embedder

    console = Console()

    async def work(store: Any) -> Any:
        url = base_url or get_settings().embeddings_base_url
        model = resolve_embedder(embedder, base_url=url, api_key=_api_key())
        settings = {"kind": chunker, "max_tokens": max_tokens, "overlap_tokens": overlap}
        return (await store.create(name, model, tenant_id=tenant, chunker=settings)).info

    info = _run(console, directory, work)
    console.print(
        f"created [bold]{escape(info.name)}[/] {info.id} ({info.embedder}, {info.dimensions} dims)"
    )


def _files(paths: list[Path]) -> list[Path]:
    from roost.knowledge.readers import supported_suffixes

    suffixes = set(supported_suffixes())
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(
                sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
            )
        else:
            out.append(path)
    return out


@app.command("ingest")
def ingest(
    kb: Annotated[str, typer.Argument(help="Knowledge base name or id.")],
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (searched recursively).")],
    tenant: TenantOpt = "default",
    directory: DirOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Ingest documents; unchanged ones are skipped, bad ones reported with their error."""
    from roost.knowledge import DocumentInput

    console = Console(stderr=as_json)
    files = _files(paths)

    async def work(store: Any) -> Any:
        base = await store.open_recorded(kb, tenant_id=tenant, api_key=_api_key())
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console, transient=as_json) as bar:
            read = bar.add_task("read + chunk", total=len(files))
            embed = bar.add_task("embed + write", total=None)

            def progress(stage: str, done: int, total: int) -> None:
                if stage == "read":
                    bar.update(read, completed=done)
                else:
                    bar.update(embed, advance=done)

            return await base.ingest([DocumentInput.from_path(f) for f in files], progress)

    report = _run(console, directory, work)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        counts: dict[str, int] = {}
        for r in report.ingested:
            counts[r.status] = counts.get(r.status, 0) + 1
        summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "nothing"
        console.print(f"{summary}; {len(report.failed)} failed")
        for failure in report.failed:
            hint = f" ({failure.error.hint})" if failure.error.hint else ""
            console.print(
                f"  [red]{escape(failure.source)}[/] {failure.error.code}: "
                f"{escape(failure.error.message)}{escape(hint)}"
            )
    if report.failed:
        raise typer.Exit(code=2)


@app.command("search")
def search(
    kb: Annotated[str, typer.Argument(help="Knowledge base name or id.")],
    query: str,
    k: Annotated[int, typer.Option("-k", help="How many chunks.")] = 5,
    mode: Annotated[str, typer.Option(help="hybrid, bm25 or vector.")] = "hybrid",
    tenant: TenantOpt = "default",
    directory: DirOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print hits as JSON.")] = False,
) -> None:
    """Search a knowledge base."""
    console = Console()

    async def work(store: Any) -> Any:
        base = await store.open_recorded(kb, tenant_id=tenant, api_key=_api_key())
        return await base.search(query, k=k, mode=mode)

    hits = _run(console, directory, work)
    if as_json:
        rows = [{**h.citation(), "text": h.chunk.text, "scores": h.scores} for h in hits]
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table("score", "source", "chunk", "text")
    for hit in hits:
        where = hit.chunk.source
        if hit.chunk.metadata.get("heading_path"):
            where += f"\n{hit.chunk.metadata['heading_path']}"
        if "page" in hit.chunk.metadata:
            where += f"\npage {hit.chunk.metadata['page']}"
        text = hit.chunk.text if len(hit.chunk.text) <= 300 else hit.chunk.text[:300] + "…"
        table.add_row(f"{hit.score:.4f}", escape(where), hit.chunk.id, escape(text))
    console.print(table)


@app.command("list")
def list_(
    kb: Annotated[str | None, typer.Argument(help="A knowledge base: list its documents.")] = None,
    tenant: TenantOpt = "default",
    directory: DirOpt = None,
) -> None:
    """List knowledge bases, or the documents of one."""
    console = Console()

    async def work(store: Any) -> Any:
        if kb is None:
            return await store.list(tenant)
        base = await store.open_recorded(kb, tenant_id=tenant, api_key=_api_key())
        return await base.documents()

    rows = _run(console, directory, work)
    if kb is None:
        table = Table("name", "id", "embedder", "documents", "chunks")
        for info in rows:
            table.add_row(
                escape(info.name), info.id, info.embedder, str(info.documents), str(info.chunks)
            )
    else:
        table = Table("source", "id", "version", "chunks")
        for doc in rows:
            table.add_row(escape(doc.source), doc.id, str(doc.version), str(doc.chunks))
    console.print(table)


@app.command("delete")
def delete(
    kb: Annotated[str, typer.Argument(help="Knowledge base name or id.")],
    document: Annotated[
        str | None, typer.Argument(help="Delete only this document (source or id).")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
    tenant: TenantOpt = "default",
    directory: DirOpt = None,
) -> None:
    """Delete a knowledge base, or one document of it (from every index)."""
    console = Console()
    what = f"document {document!r} of {kb!r}" if document else f"knowledge base {kb!r}"
    if not yes and not typer.confirm(f"Delete {what}?"):
        raise typer.Exit(code=1)

    async def work(store: Any) -> int:
        if document is None:
            await store.delete(kb, tenant_id=tenant)
            return 0
        base = await store.open_recorded(kb, tenant_id=tenant, api_key=_api_key())
        return int(await base.delete_document(document))

    removed = _run(console, directory, work)
    console.print(f"deleted {escape(what)}" + (f" ({removed} chunks)" if document else ""))


@app.command("install-embedder")
def install_embedder() -> None:
    """Convert the packaged local embedding model to ONNX (once; needs torch)."""
    from roost.knowledge.local_embedder import default_onnx_dir, install_onnx

    console = Console()
    target = default_onnx_dir()
    if (target / "model.onnx").exists():
        console.print(f"already installed in {target}")
        return
    with console.status("converting all-MiniLM-L6-v2 to ONNX …"):
        try:
            install_onnx(target)
        except RoostError as err:
            console.print(f"[red]error[/red] {escape(str(err))}")
            raise typer.Exit(code=1) from None
    console.print(f"installed in {target}")
