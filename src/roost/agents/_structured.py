"""Structured output: the final answer validated into a pydantic model, with up to two
corrective retries that tell the model what was wrong."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from roost.agents import _decision as decision
from roost.agents._state import ReplyState
from roost.agents.memory import Memory
from roost.core import DataBlock, ModelResponse, Msg, StructuredOutputError, TextBlock

T = TypeVar("T", bound=BaseModel)


class StructuredOutput:
    """Mixin of ``ReActAgent``: turning the last answer into an ``output_model``."""

    name: str
    memory: Memory
    sys_prompt: str
    tool_mode: str
    _call_model: Callable[..., Awaitable[ModelResponse]]

    async def _structured_output(
        self,
        st: ReplyState,
        emit: Callable[[Any], None],
        assistant: Msg,
        output_model: type[BaseModel],
    ) -> Msg:
        value = validate_json(assistant.text, output_model)
        attempts = 0
        problem = "the answer is not a JSON object matching the schema"
        while value is None and attempts < 2:
            attempts += 1
            st.iterations += 1
            history = self.memory.get()
            msgs = [
                Msg.system(self.sys_prompt),
                *(decision.render_history(history) if self.tool_mode == "decision" else history),
                Msg.user(
                    f"Give your final answer as JSON matching the {output_model.__name__} schema. "
                    + ("" if attempts == 1 else f"The previous attempt failed: {problem}.")
                ),
            ]
            st.partial_text = []
            response = await self._call_model(st, emit, msgs, {"response_format": output_model})
            try:
                value = output_model.model_validate_json(response.msg.text)
            except ValidationError as exc:
                problem = "; ".join(e["msg"] for e in exc.errors(include_url=False))[:500]
        if value is None:
            raise StructuredOutputError(
                f"the model did not produce a valid {output_model.__name__}: {problem}",
                hint="simplify the output model or use a stronger model",
            )
        data = value.model_dump(mode="json")
        final = Msg(
            role="assistant",
            name=self.name,
            content=[TextBlock(text=json.dumps(data, ensure_ascii=False)), DataBlock(data=data)],
            metadata={"structured_output": data},
        )
        self.memory.add(final)
        return final


def validate_json(text: str, model: type[T]) -> T | None:
    raw = text.strip()
    if raw.startswith("```"):
        raw = raw.strip("`").removeprefix("json").strip()
    if not raw.startswith("{"):
        return None
    try:
        return model.model_validate_json(raw)
    except ValidationError:
        return None
