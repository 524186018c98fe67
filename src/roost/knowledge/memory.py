"""Long-term memory: facts about a user that outlive a session.

A memory is a tiny document in the tenant's ``memory`` knowledge base, tagged with its
user; so recall is the same hybrid search (filtered to the user), and deleting a memory
deletes it from every index like any document (the catalog overwrites deleted content,
``secure_delete``). Facts come from the agent's ``remember`` tool, from the API, or from
``extract`` at the end of a run (the model lists what is worth keeping).
"""

from __future__ import annotations

import asyncio
import builtins
import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from roost.core import InvalidRequest, Msg
from roost.knowledge.base import DEFAULT_TENANT, KnowledgeBase, KnowledgeStore
from roost.knowledge.embedders import Embedder
from roost.knowledge.errors import KnowledgeBaseNotFound, MemoryNotFound

if TYPE_CHECKING:
    from roost.models import ChatModel

MEMORY_KB = "memory"
MAX_MEMORY_CHARS = 2000

_EXTRACT_PROMPT = (
    "From the conversation below, list the lasting facts about the user that would help in "
    "later conversations (preferences, role, projects, names). Skip small talk, one-off "
    "requests and anything about the assistant. Answer with JSON: "
    '{"facts": ["...", "..."]} (an empty list if there is nothing worth keeping). '
    "Write each fact in the language the user used."
)


@dataclass(frozen=True)
class MemoryRecord:
    id: str
    user_id: str
    text: str
    origin: str
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class LongTermMemory:
    """Memories of the users of one tenant."""

    def __init__(
        self, store: KnowledgeStore, embedder: Embedder, *, tenant_id: str = DEFAULT_TENANT
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.tenant_id = tenant_id
        self._kb: KnowledgeBase | None = None

    async def _base(self) -> KnowledgeBase:
        if self._kb is None:
            try:
                self._kb = await self.store.open(MEMORY_KB, self.embedder, tenant_id=self.tenant_id)
            except KnowledgeBaseNotFound:
                self._kb = await self.store.create(
                    MEMORY_KB,
                    self.embedder,
                    tenant_id=self.tenant_id,
                    chunker={"kind": "sentences", "max_tokens": 400, "overlap_tokens": 0},
                )
        return self._kb

    async def remember(self, user_id: str, text: str, *, origin: str = "tool") -> MemoryRecord:
        """Store a fact (the same fact twice is stored once)."""
        text = " ".join(text.split())
        if not user_id or not text:
            raise InvalidRequest("a memory needs a user and a non-empty text")
        if len(text) > MAX_MEMORY_CHARS:
            raise InvalidRequest(
                f"a memory is at most {MAX_MEMORY_CHARS} characters; this one has {len(text)}",
                hint="store the essential fact only",
            )
        base = await self._base()
        digest = hashlib.sha256(f"{user_id}\0{text}".encode()).hexdigest()[:24]
        source = f"{digest}.txt"
        result = await base.ingest_text(
            text, source, {"user_id": user_id, "origin": origin, "memory_text": text}
        )
        doc = await self._document(base, user_id, result.document_id)
        return doc

    async def recall(self, user_id: str, query: str, *, k: int = 5) -> list[MemoryRecord]:
        """The user's memories most related to ``query`` (hybrid search)."""
        base = await self._base()
        hits = await base.search(query, k=k, filters={"user_id": user_id})
        seen: dict[str, MemoryRecord] = {}
        for hit in hits:
            meta = hit.chunk.metadata
            if hit.chunk.document_id not in seen:
                seen[hit.chunk.document_id] = MemoryRecord(
                    hit.chunk.document_id,
                    user_id,
                    str(meta.get("memory_text", hit.chunk.text)),
                    str(meta.get("origin", "")),
                    0.0,
                )
        return list(seen.values())

    async def list(self, user_id: str) -> list[MemoryRecord]:
        base = await self._base()
        return [
            _record(d.id, d.metadata, d.created_at)
            for d in await base.documents()
            if d.metadata.get("user_id") == user_id
        ]

    async def export(self, user_id: str) -> str:
        """Every memory of the user as JSON lines (what a data-subject request returns)."""
        return "".join(
            json.dumps(m.to_dict(), ensure_ascii=False) + "\n" for m in await self.list(user_id)
        )

    async def delete(self, user_id: str, memory_id: str) -> None:
        base = await self._base()
        await self._document(base, user_id, memory_id)  # another user's memory is not found
        await base.delete_document(memory_id)
        await asyncio.to_thread(base.catalog.purge)

    async def delete_all(self, user_id: str) -> int:
        base = await self._base()
        memories = await self.list(user_id)
        for memory in memories:
            await base.delete_document(memory.id)
        await asyncio.to_thread(base.catalog.purge)
        return len(memories)

    async def extract(
        self, user_id: str, messages: Sequence[Msg], model: ChatModel, *, max_facts: int = 5
    ) -> builtins.list[MemoryRecord]:
        """Ask ``model`` which lasting facts the conversation holds and remember them.
        A model answer that is not the JSON asked for stores nothing."""
        transcript = "\n".join(
            f"{m.role}: {m.text}" for m in messages if m.role in ("user", "assistant") and m.text
        )
        if not transcript:
            return []
        schema = {
            "type": "json_schema",
            "json_schema": {
                "name": "facts",
                "schema": {
                    "type": "object",
                    "properties": {"facts": {"type": "array", "items": {"type": "string"}}},
                    "required": ["facts"],
                },
            },
        }
        response = await model.complete(
            [Msg.system(_EXTRACT_PROMPT), Msg.user(transcript[-8000:])], response_format=schema
        )
        try:
            facts = json.loads(response.msg.text.strip().strip("`").removeprefix("json"))["facts"]
        except (ValueError, KeyError, TypeError):
            return []
        out = []
        for fact in facts[:max_facts] if isinstance(facts, list) else []:
            if isinstance(fact, str) and fact.strip() and len(fact) <= MAX_MEMORY_CHARS:
                out.append(await self.remember(user_id, fact, origin="extracted"))
        return out

    async def _document(self, base: KnowledgeBase, user_id: str, memory_id: str) -> MemoryRecord:
        for doc in await base.documents():
            if doc.id == memory_id and doc.metadata.get("user_id") == user_id:
                return _record(doc.id, doc.metadata, doc.created_at)
        raise MemoryNotFound(f"no memory {memory_id!r} for this user")


def _record(doc_id: str, meta: dict[str, Any], created_at: float) -> MemoryRecord:
    return MemoryRecord(
        doc_id,
        str(meta.get("user_id", "")),
        str(meta.get("memory_text", "")),
        str(meta.get("origin", "")),
        created_at,
    )
