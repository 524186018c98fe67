"""Long-term memory: facts per user, recalled in later sessions, listed, exported and
really deleted; users never see each other's memories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from roost.core import InvalidRequest, Msg
from roost.knowledge import KnowledgeStore, LongTermMemory, MemoryNotFound, OnnxEmbedder
from roost.models import ScriptedModel, ScriptedReply


async def test_a_memory_is_recalled_in_a_later_session(
    tmp_path: Path, embedder: OnnxEmbedder
) -> None:
    store = KnowledgeStore(tmp_path / "kb")
    memory = LongTermMemory(store, embedder, tenant_id="acme")
    await memory.remember("alice", "Alice prefers answers in German.")
    await memory.remember("alice", "Alice works on the billing service.")
    await memory.remember("bob", "Bob prefers answers in French.")
    await store.close()

    store = KnowledgeStore(tmp_path / "kb")  # a new process, days later
    memory = LongTermMemory(store, embedder, tenant_id="acme")
    recalled = await memory.recall("alice", "which language should I answer in?", k=1)
    assert [m.text for m in recalled] == ["Alice prefers answers in German."]
    assert all(m.user_id == "alice" for m in await memory.recall("alice", "French", k=5))
    other_tenant = LongTermMemory(store, embedder, tenant_id="globex")
    assert await other_tenant.list("alice") == []
    await store.close()


async def test_the_same_fact_is_stored_once(store: KnowledgeStore, embedder: OnnxEmbedder) -> None:
    memory = LongTermMemory(store, embedder)
    first = await memory.remember("alice", "Alice  likes   tea.")
    second = await memory.remember("alice", "Alice likes tea.")
    assert first.id == second.id and len(await memory.list("alice")) == 1


async def test_list_and_export_show_only_the_users_memories(
    store: KnowledgeStore, embedder: OnnxEmbedder
) -> None:
    memory = LongTermMemory(store, embedder)
    await memory.remember("alice", "用户喜欢简短的回答。")
    await memory.remember("bob", "Bob is on call this week.")
    assert [m.text for m in await memory.list("alice")] == ["用户喜欢简短的回答。"]
    lines = [json.loads(line) for line in (await memory.export("alice")).splitlines()]
    assert [(x["user_id"], x["text"], x["origin"]) for x in lines] == [
        ("alice", "用户喜欢简短的回答。", "tool")
    ]


async def test_deleting_a_memory_removes_it_from_the_files(
    tmp_path: Path, embedder: OnnxEmbedder
) -> None:
    store = KnowledgeStore(tmp_path / "kb")
    memory = LongTermMemory(store, embedder)
    secret = await memory.remember("alice", "Alice's locker combination is zebracactus.")
    await memory.remember("alice", "Alice likes tea.")
    with pytest.raises(MemoryNotFound):
        await memory.delete("bob", secret.id)  # not Bob's to delete
    await memory.delete("alice", secret.id)
    assert [m.text for m in await memory.list("alice")] == ["Alice likes tea."]
    assert await memory.recall("alice", "locker combination", k=5) == [] or all(
        "zebracactus" not in m.text for m in await memory.recall("alice", "locker combination")
    )
    await store.close()
    for path in (tmp_path / "kb").glob("knowledge.db*"):
        assert b"zebracactus" not in path.read_bytes(), path.name
    store = KnowledgeStore(tmp_path / "kb")
    memory = LongTermMemory(store, embedder)
    assert await memory.delete_all("alice") == 1
    assert await memory.list("alice") == []
    await store.close()


async def test_empty_or_oversized_memories_are_refused(
    store: KnowledgeStore, embedder: OnnxEmbedder
) -> None:
    memory = LongTermMemory(store, embedder)
    with pytest.raises(InvalidRequest):
        await memory.remember("alice", "   ")
    with pytest.raises(InvalidRequest):
        await memory.remember("alice", "x" * 2001)


async def test_extraction_stores_the_facts_the_model_lists(
    store: KnowledgeStore, embedder: OnnxEmbedder
) -> None:
    memory = LongTermMemory(store, embedder)
    model = ScriptedModel(
        [ScriptedReply(text=json.dumps({"facts": ["Alice manages the Berlin office."]}))]
    )
    facts = await memory.extract(
        "alice",
        [Msg.user("I manage the Berlin office, can you book a room?"), Msg.assistant("Done.")],
        model,
    )
    assert [f.text for f in facts] == ["Alice manages the Berlin office."]
    assert facts[0].origin == "extracted"
    garbled = ScriptedModel([ScriptedReply(text="sure! here are facts")])
    assert await memory.extract("alice", [Msg.user("hi")], garbled) == []
