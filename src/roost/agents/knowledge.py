"""Knowledge for agents: the ``search_knowledge`` tool, automatic retrieval before the
first model call, and long-term memory (``remember`` + recall).

Every retrieval is a ``retrieve`` span (the knowledge layer opens it: chunk ids and
scores) and a ``knowledge.retrieved`` stream event; the reply's final message lists
every chunk it saw in ``metadata["citations"]``, so an answer can always be traced to
the documents and versions it came from.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from roost.agents._tracing import context_attributes
from roost.core import ErrorEvent, KnowledgeRetrieved, Msg, RoostError
from roost.tools import Tool

if TYPE_CHECKING:
    from roost.knowledge import Hit, KnowledgeBase, LongTermMemory, SearchMode
    from roost.models.base import ChatModel

RetrievalMode = Literal["tool", "auto", "both"]

_TOOL_DESCRIPTION = (
    "Search the knowledge base (company documents) for passages that answer a question. "
    "Use it before answering questions about policies, products or internal facts, and "
    "cite the passage ids you used, like [chk_…]."
)
_AUTO_HEADER = (
    "\n\nPassages from the knowledge base that may answer the user (cite the ids you use, "
    "like [chk_…]; if they do not contain the answer, say so):\n"
)


def format_hits(hits: Sequence[Hit]) -> str:
    """Passages as the model reads them: id, source and location, then the text."""
    if not hits:
        return "No passages found."
    parts = []
    for hit in hits:
        where = hit.chunk.source
        meta = hit.chunk.metadata
        if "page" in meta:
            where += f", page {meta['page']}"
        if meta.get("heading_path"):
            where += f", {meta['heading_path']}"
        parts.append(f"[{hit.chunk.id}] ({where})\n{hit.chunk.text}")
    return "\n\n".join(parts)


class KnowledgeRetrieval:
    """What an agent knows beyond its prompt: knowledge bases and a user's memories.

    ``mode``: ``tool`` gives the model ``search_knowledge``; ``auto`` searches with the
    user's message before the first model call and puts the passages in the system
    prompt; ``both`` does both. ``memory`` adds a ``remember`` tool and recalls the
    user's memories into every reply; ``extract_memories`` asks the model at the end of
    each reply which facts to keep. The user is ``user_id`` or the run's user (the
    server puts it in the trace context).
    """

    def __init__(
        self,
        bases: KnowledgeBase | Sequence[KnowledgeBase] = (),
        *,
        mode: RetrievalMode = "tool",
        k: int = 5,
        search_mode: SearchMode = "hybrid",
        memory: LongTermMemory | None = None,
        user_id: str | None = None,
        recall_k: int = 5,
        extract_memories: bool = False,
    ) -> None:
        from roost.knowledge import KnowledgeBase

        self.bases = [bases] if isinstance(bases, KnowledgeBase) else list(bases)
        self.mode = mode
        self.k = k
        self.search_mode = search_mode
        self.memory = memory
        self.user_id = user_id
        self.recall_k = recall_k
        self.extract_memories = extract_memories
        self._emit: Callable[[Any], None] = lambda _: None
        self._agent: str | None = None
        self._citations: dict[str, dict[str, Any]] = {}

    # -- the agent's hooks ----------------------------------------------------------------
    def tools(self) -> list[Tool]:
        out = []
        if self.bases and self.mode in ("tool", "both"):
            out.append(
                Tool.from_function(
                    self._search_tool, name="search_knowledge", description=_TOOL_DESCRIPTION
                )
            )
        if self.memory is not None:
            out.append(
                Tool.from_function(
                    self._remember_tool,
                    name="remember",
                    description="Remember a lasting fact about the user (a preference, "
                    "their role, a project) for later conversations.",
                )
            )
        return out

    def begin(self, emit: Callable[[Any], None], agent: str) -> None:
        self._emit = emit
        self._agent = agent
        self._citations = {}

    async def prepare(self, incoming: Sequence[Msg]) -> str:
        """Context for this reply's system prompt: recalled memories and, in auto mode,
        the passages found for the user's message. A failing retrieval is reported as
        a recoverable error and the reply goes on without it."""
        query = next((m.text for m in reversed(incoming) if m.role == "user" and m.text), "")
        if not query:
            return ""
        context = ""
        try:
            user = self._user()
            if self.memory is not None and user:
                memories = await self.memory.recall(user, query, k=self.recall_k)
                if memories:
                    context += "\n\nWhat you remember about the user:\n" + "\n".join(
                        f"- {m.text}" for m in memories
                    )
            if self.bases and self.mode in ("auto", "both"):
                hits = await self._search(query, "auto")
                context += _AUTO_HEADER + format_hits(hits)
        except RoostError as exc:
            self._recoverable("knowledge retrieval", exc)
        return context

    async def finish(self, incoming: Sequence[Msg], final: Msg, model: ChatModel) -> None:
        """Record the citations on the final message; extract memories if asked."""
        if self._citations:
            final.metadata["citations"] = list(self._citations.values())
        user = self._user()
        if self.extract_memories and self.memory is not None and user:
            try:
                await self.memory.extract(user, [*incoming, final], model)
            except RoostError as exc:
                self._recoverable("memory extraction", exc)

    # -- retrieval ------------------------------------------------------------------------
    def _recoverable(self, what: str, exc: RoostError) -> None:
        message = f"{what} failed: {exc.message}"
        self._emit(ErrorEvent(code=exc.code, message=message, recoverable=True, agent=self._agent))

    def _user(self) -> str | None:
        return self.user_id or context_attributes().get("roost.user_id")

    async def _search(self, query: str, mode: Literal["tool", "auto"]) -> list[Hit]:
        hits: list[Hit] = []
        for base in self.bases:
            hits.extend(await base.search(query, k=self.k, mode=self.search_mode))
        hits.sort(key=lambda h: -h.score)
        hits = hits[: self.k]
        citations = [h.citation() for h in hits]
        for c in citations:
            self._citations.setdefault(c["chunk_id"], c)
        self._emit(
            KnowledgeRetrieved(query=query, citations=citations, mode=mode, agent=self._agent)
        )
        return hits

    async def _search_tool(self, query: str) -> str:
        """Search the knowledge base.

        Args:
            query: what to look for, in the words the documents would use
        """
        return format_hits(await self._search(query, "tool"))

    async def _remember_tool(self, fact: str) -> str:
        """Remember a fact about the user.

        Args:
            fact: one short, self-contained sentence
        """
        user = self._user()
        if self.memory is None or not user:
            return "Nothing remembered: this conversation has no known user."
        record = await self.memory.remember(user, fact)
        return f"Remembered ({record.id})."
