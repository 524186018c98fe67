"""Short-term memory: the conversation an agent keeps between replies."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

from roost.core import Msg


@runtime_checkable
class Memory(Protocol):
    def add(self, msgs: Msg | Iterable[Msg]) -> None: ...

    def get(self) -> list[Msg]: ...

    def clear(self) -> None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class InMemoryMemory:
    """A list of messages; ``max_messages`` trims the oldest (never splitting a tool call
    from its result)."""

    def __init__(self, max_messages: int | None = None) -> None:
        self._msgs: list[Msg] = []
        self.max_messages = max_messages

    def add(self, msgs: Msg | Iterable[Msg]) -> None:
        if isinstance(msgs, Msg):
            self._msgs.append(msgs)
        else:
            self._msgs.extend(msgs)
        self._trim()

    def get(self) -> list[Msg]:
        return list(self._msgs)

    def delete(self, ids: Iterable[str]) -> int:
        drop = set(ids)
        before = len(self._msgs)
        self._msgs = [m for m in self._msgs if m.id not in drop]
        return before - len(self._msgs)

    def clear(self) -> None:
        self._msgs.clear()

    def __len__(self) -> int:
        return len(self._msgs)

    def _trim(self) -> None:
        if self.max_messages is None or len(self._msgs) <= self.max_messages:
            return
        start = len(self._msgs) - self.max_messages
        # never start on tool results whose call was trimmed away
        while start < len(self._msgs) and self._msgs[start].tool_results:
            start += 1
        self._msgs = self._msgs[start:]

    def state_dict(self) -> dict[str, Any]:
        return {"messages": [m.model_dump(mode="json") for m in self._msgs]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._msgs = [Msg.model_validate(m) for m in state.get("messages", [])]
