"""``/v1/knowledge-bases``: create, list, ingest (upload, or a server-side path for
admins) as background jobs with progress, search, delete; ``/v1/memories``: a user's
long-term memories (list, export, delete — the deletion is real).

The routes reach the knowledge layer through :func:`knowledge_store` (one embedded store
per app, under ``ROOST_HOME/knowledge``, closed with the app's services). Knowledge
bases belong to the caller's tenant; another tenant's are "not found". Writes need an
admin key until the roles of the tenants issue exist (fail closed). Ingestion jobs live
in the process: a restart loses a job's status, not the documents it committed.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from roost.core import Forbidden, InvalidRequest, NotFound, new_id
from roost.server._http import json_response, parse_body
from roost.server.auditing import record_action
from roost.server.auth import Principal
from roost.server.router import Doc, api_route

if TYPE_CHECKING:
    from roost.knowledge import KnowledgeBase, KnowledgeStore, LongTermMemory
    from roost.server.services import Services

_Scalar = Annotated[
    str | int | float | bool,
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string"},
                {"type": "boolean"},
                {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1},
                {"type": "number", "not": {"type": "integer"}},
            ]
        }
    ),
]


def _integral(value: Any) -> Any:
    """JSON has no integer type of its own: ``43.0`` is the integer 43 (JSON Schema says
    so too), which strict validation would refuse."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


_Int = Annotated[int, BeforeValidator(_integral)]
_FIELD_NAME = r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$"
"""A metadata field a search may filter on (``roost.knowledge.catalog``'s rule)."""


class KnowledgeBaseCreate(BaseModel):
    # an openai: embedder needs the endpoint (here or ROOST_EMBEDDINGS_BASE_URL); the
    # schema asks for it here, the server also takes the setting
    model_config = ConfigDict(
        extra="forbid",
        defer_build=True,
        json_schema_extra={
            "if": {"properties": {"embedder": {"pattern": "^openai:"}}, "required": ["embedder"]},
            "then": {"required": ["base_url"]},
        },
    )
    # no control characters, and something besides spaces (names are stripped)
    name: str = Field(
        min_length=1,
        max_length=200,
        pattern=r"^[^\x00-\x1f\x7f\x85\u2028\u2029]*[^\s\x00-\x1f\x7f\x85\u2028\u2029][^\x00-\x1f\x7f\x85\u2028\u2029]*$",
    )
    embedder: str = Field(
        "local",
        pattern=r"^(local|local:all-MiniLM-L6-v2|openai:[\x21-\x7e]{1,200})$",
        description="'local' or 'openai:MODEL' (needs base_url)",
    )
    base_url: str | None = Field(
        None, pattern=r"^https?://[\x21-\x7e]+$", description="the embeddings endpoint, …/v1"
    )
    chunker: Literal["tokens", "sentences", "markdown"] = "sentences"
    max_tokens: _Int = Field(200, ge=16, le=4000)
    overlap_tokens: _Int = Field(
        30, ge=0, le=1000, description="at most half the chunk size (a larger value is reduced)"
    )
    tenant_id: str | None = Field(None, description="admins only: create for this tenant")


class KnowledgeIngestPaths(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    # within the server's body limit: folders are how many files go in at once
    paths: list[Annotated[str, Field(pattern=r"^/", max_length=1024)]] = Field(
        min_length=1, max_length=100, description="absolute paths of files or folders"
    )


class KnowledgeSearch(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    query: str = Field(min_length=1, max_length=4000)
    k: _Int = Field(5, ge=1, le=50)
    mode: Literal["bm25", "vector", "hybrid"] = "hybrid"
    filters: (
        dict[
            Annotated[str, Field(pattern=_FIELD_NAME)],
            _Scalar | Annotated[list[_Scalar], Field(min_length=1)],
        ]
        | None
    ) = Field(None, json_schema_extra={"propertyNames": {"pattern": _FIELD_NAME}})


class PathNotFound(NotFound):
    """A server-side path to ingest does not exist."""

    code = "path_not_found"


class EmbedderUnusable(InvalidRequest):
    """A new knowledge base's embeddings endpoint failed its probe: nothing was created."""

    code = "embedder_unusable"


class TooManyFiles(InvalidRequest):
    """A folder walk of an ingestion job found more files than one job takes."""

    code = "too_many_files"


MAX_INGEST_FILES = 10_000
MAX_WALKED_FILES = 1_000_000
_SYSTEM_DIRS = {"proc", "sys", "dev", "run"}


class KnowledgeJobNotFound(NotFound):
    """No ingestion job with that id for this knowledge base."""

    code = "knowledge_job_not_found"


@dataclass
class IngestJob:
    id: str
    kb_id: str
    total: int
    status: Literal["queued", "running", "succeeded", "failed"] = "queued"
    read: int = 0
    embedded: int = 0
    report: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    def out(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "kb_id": self.kb_id,
            "status": self.status,
            "progress": {
                "documents": self.total,
                "read": self.read,
                "embedded_chunks": self.embedded,
            },
        }
        if self.report is not None:
            body["report"] = self.report
        if self.error is not None:
            body["error"] = self.error
        return body


@dataclass
class _Knowledge:
    store: KnowledgeStore
    jobs: dict[str, IngestJob] = field(default_factory=dict)
    memories: dict[str, LongTermMemory] = field(default_factory=dict)
    ingest_slot: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Ingestion embeds on this machine's CPU: jobs run one after another, so that a
    large one does not starve the API."""


_STORES: weakref.WeakKeyDictionary[Any, _Knowledge] = weakref.WeakKeyDictionary()


def knowledge_store(services: Services) -> KnowledgeStore:
    """The app's knowledge store (embedded, ``ROOST_HOME/knowledge``), opened on first use."""
    return _state(services).store


def _state(services: Services) -> _Knowledge:
    state = _STORES.get(services)
    if state is None:
        from roost.knowledge import KnowledgeStore

        state = _STORES.setdefault(services, _Knowledge(KnowledgeStore.default()))

        async def close_knowledge() -> None:
            closing = _STORES.pop(services, None)
            if closing is not None:
                await closing.store.close()

        services.closers.append(close_knowledge)
    return state


def _tenant(principal: Principal) -> str | None:
    """The tenant whose knowledge bases the caller sees; ``None``: every tenant (an admin
    key that acts for no tenant)."""
    if principal.is_admin and principal.tenant_id is None:
        return None
    return principal.tenant_id or "default"


def _kb_out(info: Any) -> dict[str, Any]:
    return {
        "id": info.id,
        "name": info.name,
        "tenant_id": info.tenant_id,
        "embedder": info.embedder,
        "dimensions": info.dimensions,
        "documents": info.documents,
        "chunks": info.chunks,
        "created_at": info.created_at,
    }


def _api_key() -> str | None:
    from roost.core.settings import get_settings

    key = get_settings().embeddings_api_key
    return key.get_secret_value() if key else None


async def _open(app: Services, principal: Principal, kb_id: str) -> KnowledgeBase:
    return await knowledge_store(app).open_recorded(
        kb_id, tenant_id=_tenant(principal), api_key=_api_key()
    )


def routes(services: Services) -> list[BaseRoute]:
    app = services

    async def create(request: Request, principal: Principal) -> Response:
        from roost.core.settings import get_settings
        from roost.knowledge.errors import EmbeddingError
        from roost.knowledge.resolve import resolve_embedder

        body = await parse_body(request, KnowledgeBaseCreate)
        tenant = body.tenant_id or _tenant(principal) or "default"
        if principal.tenant_scope() is not None and tenant != _tenant(principal):
            raise Forbidden(
                "a knowledge base can only be made in your own tenant",
                hint="leave tenant_id out",
            )
        base_url = body.base_url or get_settings().embeddings_base_url
        if body.embedder.startswith("openai:") and not base_url:
            raise InvalidRequest(
                f"embedder {body.embedder!r} needs the endpoint's base URL",
                hint="send base_url (http://host:port/v1) or set ROOST_EMBEDDINGS_BASE_URL",
                fields=[{"field": "base_url", "message": "required", "type": "missing"}],
            )
        embedder = resolve_embedder(body.embedder, base_url=base_url, api_key=_api_key())
        chunker = {
            "kind": body.chunker,
            "max_tokens": body.max_tokens,
            "overlap_tokens": min(body.overlap_tokens, body.max_tokens // 2),
        }
        try:  # the endpoint is probed for its dimensions: one that fails is refused now
            kb = await knowledge_store(app).create(
                body.name, embedder, tenant_id=tenant, chunker=chunker
            )
        except EmbeddingError as exc:
            raise EmbedderUnusable(
                f"the embedder could not be used: {exc.message}",
                hint=exc.hint or "check base_url and that the endpoint is running",
                fields=[{"field": "base_url", "message": exc.message, "type": "unusable"}],
            ) from None
        return json_response(_kb_out(kb.info), status=201)

    async def list_bases(request: Request, principal: Principal) -> Response:
        infos = await knowledge_store(app).list(_tenant(principal))
        return json_response({"data": [_kb_out(i) for i in infos]})

    async def get_base(request: Request, principal: Principal) -> Response:
        info, _ = await asyncio.to_thread(
            knowledge_store(app).catalog.get_kb, request.path_params["kb_id"], _tenant(principal)
        )
        return json_response(_kb_out(info))

    async def delete_base(request: Request, principal: Principal) -> Response:
        kb_id = request.path_params["kb_id"]
        await knowledge_store(app).delete(kb_id, tenant_id=_tenant(principal))
        await record_action(app, "knowledge_base.deleted", resource_type="kb", resource_id=kb_id)
        return Response(status_code=204)

    async def list_documents(request: Request, principal: Principal) -> Response:
        kb = await _open(app, principal, request.path_params["kb_id"])
        docs = await kb.documents()
        return json_response(
            {
                "data": [
                    {
                        "id": d.id,
                        "source": d.source,
                        "version": d.version,
                        "chunks": d.chunks,
                        "metadata": d.metadata,
                        "created_at": d.created_at,
                    }
                    for d in docs
                ]
            }
        )

    async def upload(request: Request, principal: Principal) -> Response:
        from roost.knowledge import DocumentInput

        name = request.query_params.get("name", "")
        if not name or "/" in name or "\\" in name or len(name) > 255:
            raise InvalidRequest(
                "name the document: ?name=FILE.EXT (no path; the extension picks the reader)"
            )
        kb = await _open(app, principal, request.path_params["kb_id"])
        data = await request.body()  # within the server's max_body_bytes (413 beyond)
        job = _start(app, kb, lambda: [DocumentInput(name, data=data)], total=1)
        return json_response(job.out(), status=202)

    async def ingest_paths(request: Request, principal: Principal) -> Response:
        principal.require_admin()  # reads the server's own files
        body = await parse_body(request, KnowledgeIngestPaths)
        kb = await _open(app, principal, request.path_params["kb_id"])
        for raw in body.paths:  # what is missing is refused now; folders are walked by the job
            if not await asyncio.to_thread(Path(raw).exists):
                raise PathNotFound(f"no file or folder {raw!r} on the server")
        job = _start(app, kb, lambda: _documents_under(body.paths), total=len(body.paths))
        return json_response(job.out(), status=202)

    async def get_job(request: Request, principal: Principal) -> Response:
        kb = await _open(app, principal, request.path_params["kb_id"])
        job = _state(app).jobs.get(request.path_params["job_id"])
        if job is None or job.kb_id != kb.id:
            raise KnowledgeJobNotFound(f"no ingestion job {request.path_params['job_id']!r}")
        return json_response(job.out())

    async def delete_document(request: Request, principal: Principal) -> Response:
        kb = await _open(app, principal, request.path_params["kb_id"])
        await kb.delete_document(request.path_params["document_id"])
        await kb.flush()
        await record_action(
            app,
            "knowledge_document.deleted",
            resource_type="document",
            resource_id=request.path_params["document_id"],
            detail={"kb_id": kb.id},
        )
        return Response(status_code=204)

    async def search(request: Request, principal: Principal) -> Response:
        body = await parse_body(request, KnowledgeSearch)
        kb = await _open(app, principal, request.path_params["kb_id"])
        hits = await kb.search(body.query, k=body.k, mode=body.mode, filters=body.filters)
        return json_response(
            {"data": [{**h.citation(), "text": h.chunk.text, "scores": h.scores} for h in hits]}
        )

    async def list_memories(request: Request, principal: Principal) -> Response:
        memory, user = _memory(app, principal, request)
        fmt = request.query_params.get("format", "json")
        if fmt == "jsonl":  # the export: one memory a line
            return Response(await memory.export(user), media_type="application/x-ndjson")
        if fmt != "json":
            raise InvalidRequest("format is json or jsonl", fields=[{"field": "format"}])
        return json_response({"data": [m.to_dict() for m in await memory.list(user)]})

    async def delete_memory(request: Request, principal: Principal) -> Response:
        memory, user = _memory(app, principal, request)
        await memory.delete(user, request.path_params["memory_id"])
        await record_action(
            app,
            "memory.deleted",
            resource_type="memory",
            resource_id=request.path_params["memory_id"],
            user_id=user,
        )
        return Response(status_code=204)

    async def delete_memories(request: Request, principal: Principal) -> Response:
        memory, user = _memory(app, principal, request)
        deleted = await memory.delete_all(user)
        await record_action(
            app, "memory.deleted_all", resource_type="memory", user_id=user, detail={"n": deleted}
        )
        return json_response({"deleted": deleted})

    base = "/v1/knowledge-bases"
    listed = {"type": "object", "properties": {"data": {"type": "array"}}}
    job = {"type": "object", "properties": {"id": {"type": "string"}, "status": {"type": "string"}}}
    kb_out = {"type": "object", "properties": {"id": {"type": "string"}}}
    ndjson = {"application/x-ndjson": {"schema": {"type": "string"}}}
    raw = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
    name = {
        "name": "name",
        "in": "query",
        "required": True,
        "schema": {"type": "string", "pattern": r"^[^/\\]{1,255}$"},
        "description": "the file name; its extension picks the reader",
    }
    user = {"name": "user_id", "in": "query", "schema": {"type": "string"}}
    fmt = {"name": "format", "in": "query", "schema": {"enum": ["json", "jsonl"]}}
    tenant = {"name": "tenant_id", "in": "query", "schema": {"type": "string"}}
    # a knowledge base may be named instead of its id; an admin of no tenant may see that
    # name in several tenants
    by_name = {"409": "several tenants have a knowledge base of that name: use its id"}
    return [
        api_route(
            "/v1/memories",
            list_memories,
            ["GET"],
            Doc(
                "Your long-term memories (admin: ?user_id=); ?format=jsonl exports them",
                response={"application/json": {"schema": listed}, **ndjson},
                params=(user, tenant, fmt),
                permission="memories",
            ),
        ),
        api_route(
            "/v1/memories",
            delete_memories,
            ["DELETE"],
            Doc(
                "Delete all your memories",
                response={"type": "object"},
                params=(user, tenant),
                permission="memories",
            ),
        ),
        api_route(
            "/v1/memories/{memory_id}",
            delete_memory,
            ["DELETE"],
            Doc("Delete one memory", status=204, params=(user, tenant), permission="memories"),
        ),
        api_route(
            base,
            create,
            ["POST"],
            Doc(
                "Create a knowledge base (developers and admins of the tenant)",
                body=KnowledgeBaseCreate,
                response=kb_out,
                status=201,
                errors={
                    "409": "a knowledge base of that name exists in the tenant",
                    "422": "invalid, or the embedder failed its probe (embedder_unusable)",
                },
                permission="knowledge.manage",
            ),
        ),
        api_route(
            base,
            list_bases,
            ["GET"],
            Doc("List your tenant's knowledge bases", response=listed, permission="knowledge.read"),
        ),
        api_route(
            base + "/{kb_id}",
            get_base,
            ["GET"],
            Doc(
                "Get a knowledge base", response=kb_out, errors=by_name, permission="knowledge.read"
            ),
        ),
        api_route(
            base + "/{kb_id}",
            delete_base,
            ["DELETE"],
            Doc(
                "Delete a knowledge base", status=204, permission="knowledge.manage", errors=by_name
            ),
        ),
        api_route(
            base + "/{kb_id}/documents",
            list_documents,
            ["GET"],
            Doc("List its documents", response=listed, errors=by_name, permission="knowledge.read"),
        ),
        api_route(
            base + "/{kb_id}/documents",
            upload,
            ["POST"],
            Doc(
                "Upload a document (raw body, ?name=FILE.EXT): a background job",
                body=raw,
                response=job,
                status=202,
                params=(name,),
                permission="knowledge.manage",
                errors=by_name,
            ),
        ),
        api_route(
            base + "/{kb_id}/documents/{document_id}",
            delete_document,
            ["DELETE"],
            Doc(
                "Delete a document from every index",
                status=204,
                permission="knowledge.manage",
                errors=by_name,
            ),
        ),
        api_route(
            base + "/{kb_id}/ingest",
            ingest_paths,
            ["POST"],
            Doc(
                "Ingest files or folders on the server (admin): a background job",
                errors={**by_name, "404": "a path (or the knowledge base) does not exist"},
                body=KnowledgeIngestPaths,
                response=job,
                status=202,
                admin=True,
            ),
        ),
        api_route(
            base + "/{kb_id}/jobs/{job_id}",
            get_job,
            ["GET"],
            Doc(
                "An ingestion job's progress and report",
                response=job,
                errors=by_name,
                permission="knowledge.read",
            ),
        ),
        api_route(
            base + "/{kb_id}/search",
            search,
            ["POST"],
            Doc(
                "Search (hybrid, bm25 or vector)",
                body=KnowledgeSearch,
                response=listed,
                errors=by_name,
                permission="knowledge.read",
            ),
        ),
    ]


def memory_for(app: Services, tenant_id: str) -> LongTermMemory:
    """The long-term memory of a tenant's users (local embedder), shared by the routes and
    the built-in assistant."""
    state = _state(app)
    memory = state.memories.get(tenant_id)
    if memory is None:
        from roost.knowledge import LongTermMemory
        from roost.knowledge.resolve import resolve_embedder

        memory = LongTermMemory(state.store, resolve_embedder("local"), tenant_id=tenant_id)
        state.memories[tenant_id] = memory
    return memory


def _memory(app: Services, principal: Principal, request: Request) -> tuple[LongTermMemory, str]:
    """The caller's own memories; an admin names the user (``?user_id=``, and
    ``?tenant_id=``), or else has its own, as its key (decision 0130: a key without a
    user is its own user)."""
    user = principal.user_id
    tenant = principal.tenant_id or "default"
    if principal.is_admin and principal.user_id is None:
        user = request.query_params.get("user_id") or principal.key_id
        tenant = request.query_params.get("tenant_id") or tenant
    return memory_for(app, tenant), user or principal.key_id


def _documents_under(paths: list[str]) -> list[Any]:
    """Files named, and the readable files under folders named (absolute paths)."""
    from roost.knowledge import DocumentInput
    from roost.knowledge.readers import supported_suffixes

    suffixes = set(supported_suffixes())
    files: list[Path] = []
    seen = 0
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise PathNotFound(f"no file or folder {raw!r} on the server")
        if not path.is_dir():
            files.append(path)
            continue
        for folder, dirs, names in os.walk(path):  # no symlinked folders followed
            dirs[:] = sorted(d for d in dirs if not (folder == "/" and d in _SYSTEM_DIRS))
            for name in sorted(names):
                seen += 1
                if Path(name).suffix.lower() in suffixes:
                    files.append(Path(folder) / name)
            if len(files) > MAX_INGEST_FILES or seen > MAX_WALKED_FILES:
                raise TooManyFiles(
                    f"the paths hold more than {MAX_INGEST_FILES:,} documents (or "
                    f"{MAX_WALKED_FILES:,} files)",
                    hint="ingest a narrower folder, or several jobs",
                )
    return [DocumentInput.from_path(f) for f in files]


def _start(
    app: Services, kb: KnowledgeBase, documents: Callable[[], list[Any]], *, total: int
) -> IngestJob:
    """A background job that lists the documents (a folder walk, in a thread) and ingests
    them; ``total`` is what the request named until the walk has counted the files."""
    job = IngestJob(id=new_id("job"), kb_id=kb.id, total=total)

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "read":
            job.read = done
        elif stage == "embed":
            job.embedded += done

    state = _state(app)

    async def run() -> None:
        try:
            async with state.ingest_slot:  # one job at a time: the rest wait, queued
                job.status = "running"
                docs = await asyncio.to_thread(documents)
                job.total = len(docs)
                report = await kb.ingest(docs, progress)
                await kb.flush()
        except Exception as exc:  # a bug or a backend down: the job says so, typed
            from roost.core import RoostError

            err = exc if isinstance(exc, RoostError) else RoostError(type(exc).__name__)
            job.status, job.error = "failed", err.to_dict()
            return
        job.report = report.to_dict()
        job.status = "succeeded"

    job.task = asyncio.get_running_loop().create_task(run(), name=f"ingest:{job.id}")
    state.jobs[job.id] = job
    return job
