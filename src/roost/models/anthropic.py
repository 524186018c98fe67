"""``AnthropicChatModel``: the Anthropic Messages API over httpx, streamed as SSE.

Thinking blocks are kept with their signature and sent back, tool results travel as
``tool_result`` blocks in a user turn, and structured output is a forced tool whose
arguments are streamed to the caller as the reply text.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from roost.core import (
    AudioBlock,
    ConfigError,
    DataBlock,
    Event,
    ImageBlock,
    ModelBadResponse,
    ModelError,
    ModelRateLimited,
    ModelUnavailable,
    Msg,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
    Usage,
)
from roost.models._http import HttpChatModel, bad_chunk
from roost.models._sse import iter_sse
from roost.models.base import (
    ModelRequest,
    ResponseFormat,
    StreamAccumulator,
    ToolChoice,
    response_format_schema,
)
from roost.models.pricing import PriceTable
from roost.models.retry import RetryPolicy, stream_with_retries

if TYPE_CHECKING:
    import httpx

ANTHROPIC_BASE_URL = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"


class AnthropicChatModel(HttpChatModel):
    """Claude models through the Messages API (``POST /v1/messages`` with ``stream: true``).

    ``thinking_budget`` turns on extended thinking; ``cache_prompt`` marks prompt-cache
    breakpoints (tools, system, last turn) so long agent loops pay the cached-input price.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str = ANTHROPIC_BASE_URL,
        api_key: str | None = None,
        max_tokens: int = 4096,
        thinking_budget: int | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        headers: Mapping[str, str] | None = None,
        prices: PriceTable | None = None,
        client: httpx.AsyncClient | None = None,
        provider: str = "anthropic",
        retry: RetryPolicy | None = None,
        cache_prompt: bool = False,
        **default_options: Any,
    ) -> None:
        if not model:
            raise ConfigError("model name is empty", hint="e.g. 'claude-sonnet-4-20250514'")
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"base_url must start with http:// or https://, got {base_url!r}",
                hint="e.g. https://api.anthropic.com",
            )
        api_key = api_key or os.environ.get("ANTHROPIC_API_KEY")
        if not api_key:
            raise ConfigError(
                "no API key for Anthropic", hint="export ANTHROPIC_API_KEY=… or pass api_key="
            )
        if thinking_budget is not None and not 1024 <= thinking_budget < max_tokens:
            raise ConfigError(
                f"thinking_budget={thinking_budget} must be >= 1024 and below max_tokens={max_tokens}",
                hint="raise max_tokens or lower thinking_budget",
            )
        super().__init__(
            model,
            base_url=base_url,
            api_key=api_key,
            provider=provider,
            timeout=timeout,
            max_retries=max_retries,
            headers=headers,
            prices=prices,
            client=client,
            retry=retry,
        )
        self.max_tokens = max_tokens
        self.thinking_budget = thinking_budget
        self.cache_prompt = cache_prompt
        self.default_options = default_options

    @property
    def messages_url(self) -> str:
        base = self.base_url
        return f"{base}/messages" if base.endswith("/v1") else f"{base}/v1/messages"

    def _headers(self) -> dict[str, str]:
        return {
            "x-api-key": self._api_key() or "",
            "anthropic-version": ANTHROPIC_VERSION,
            "accept": "text/event-stream",
        }

    # -- request --------------------------------------------------------------------------
    def build_body(
        self, messages: Sequence[Msg], request: ModelRequest
    ) -> tuple[dict[str, Any], str | None]:
        """The request body and the name of the forced output tool (structured output)."""
        tools, tool_choice = request.tools, request.tool_choice
        response_format, options = request.response_format, request.options
        system, converted = to_anthropic_messages(messages)
        body: dict[str, Any] = {
            "model": self.model_name,
            "max_tokens": self.max_tokens,
            "messages": converted,
        }
        if system:
            body["system"] = system
        if self.thinking_budget:
            body["thinking"] = {"type": "enabled", "budget_tokens": self.thinking_budget}
        body.update({k: v for k, v in self.default_options.items() if v is not None})
        body.update({k: v for k, v in options.items() if v is not None})
        body["stream"] = True
        specs = [
            {"name": t.name, "description": t.description, "input_schema": t.parameters}
            for t in tools or []
        ]
        output_tool: str | None = None
        if response_format is not None:
            name, schema = _output_schema(response_format)
            output_tool = name
            specs.append(
                {
                    "name": name,
                    "description": "Give the final answer by calling this tool with it.",
                    "input_schema": schema,
                }
            )
            if "thinking" in body:
                # The API refuses forced tool use with thinking on: ask for it instead.
                body["tool_choice"] = {"type": "auto"}
                note = f"Answer only by calling the tool {name!r}."
                body["system"] = f"{body['system']}\n\n{note}" if body.get("system") else note
            else:
                body["tool_choice"] = {"type": "tool", "name": name}
        elif tools and tool_choice is not None:
            body["tool_choice"] = _tool_choice(tool_choice)
        if specs:
            body["tools"] = specs
        if self.cache_prompt:
            _mark_cache_breakpoints(body)
        return body, output_tool

    # -- streaming ------------------------------------------------------------------------
    async def request_stream(
        self, messages: Sequence[Msg], request: ModelRequest
    ) -> AsyncIterator[Event]:
        body, output_tool = self.build_body(list(messages), request)
        async for event in stream_with_retries(
            lambda: self._attempt(body, output_tool),
            self.retry,
            label=f"{self.provider}:{self.model_name}",
        ):
            yield event

    async def _attempt(self, body: dict[str, Any], output_tool: str | None) -> AsyncIterator[Event]:
        acc = StreamAccumulator()
        state = _StreamState(output_tool=output_tool)
        try:
            async with self.post_stream(self.messages_url, body, self._headers()) as response:
                with self.translate_errors():
                    async for sse in iter_sse(response.aiter_lines()):
                        for event in state.handle(sse.event, sse.data, acc, self.provider):
                            yield event
                        if state.stopped:
                            break
        except ModelError as err:
            self.attach_partial(err, acc)
            raise
        if not state.stopped:
            broken = ModelUnavailable(
                f"{self.provider} stream ended before message_stop",
                hint="the server closed the connection mid-reply; try again",
            )
            self.attach_partial(broken, acc)
            raise broken
        for call_id in acc.open_call_ids():
            yield acc.finish_call(call_id)
        yield acc.add_usage(self.priced(state.usage()), self.model_name)
        self.finish_metadata(acc.msg, estimated=False)
        stop = state.stop_reason or "end_turn"
        if output_tool and stop == "tool_use" and not acc.finished_calls:
            stop = "end_turn"
        yield acc.response(stop, self.model_name)


@dataclass
class _StreamState:
    output_tool: str | None
    blocks: dict[int, tuple[str, str | None]] = field(default_factory=dict)
    input_tokens: int = 0
    cache_read: int = 0
    output_tokens: int = 0
    stop_reason: str | None = None
    stopped: bool = False

    def usage(self) -> Usage:
        return Usage(
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cache_read_tokens=self.cache_read,
        )

    def _take_usage(self, raw: Any) -> None:
        if not isinstance(raw, Mapping):
            return
        if raw.get("input_tokens") is not None:
            self.cache_read = int(raw.get("cache_read_input_tokens") or 0)
            self.input_tokens = (
                int(raw["input_tokens"])
                + int(raw.get("cache_creation_input_tokens") or 0)
                + self.cache_read
            )
        if raw.get("output_tokens") is not None:
            self.output_tokens = int(raw["output_tokens"])

    def handle(self, kind: str, data: str, acc: StreamAccumulator, provider: str) -> list[Event]:
        try:
            payload = json.loads(data)
        except ValueError:
            raise bad_chunk(provider, data, "not JSON") from None
        if not isinstance(payload, dict):
            raise bad_chunk(provider, data, "not an object")
        kind = str(payload.get("type") or kind)
        try:
            return self._dispatch(kind, payload, acc, provider)
        except ModelError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise bad_chunk(provider, data, f"unexpected {kind} shape: {exc}") from None

    def _dispatch(
        self, kind: str, payload: dict[str, Any], acc: StreamAccumulator, provider: str
    ) -> list[Event]:
        if kind == "message_start":
            self._take_usage(payload["message"].get("usage"))
            return []
        if kind == "content_block_start":
            return self._block_start(int(payload["index"]), payload["content_block"], acc)
        if kind == "content_block_delta":
            return self._block_delta(int(payload["index"]), payload["delta"], acc)
        if kind == "content_block_stop":
            block_kind, call_id = self.blocks.get(int(payload["index"]), ("", None))
            if block_kind == "tool" and call_id is not None:
                return [acc.finish_call(call_id)]
            return []
        if kind == "message_delta":
            delta = payload.get("delta") or {}
            if delta.get("stop_reason"):
                self.stop_reason = str(delta["stop_reason"])
            self._take_usage(payload.get("usage"))
            return []
        if kind == "message_stop":
            self.stopped = True
            return []
        if kind == "error":
            raise _stream_error(payload.get("error") or {}, provider)
        return []  # ping and event types added after this was written

    def _block_start(
        self, index: int, block: Mapping[str, Any], acc: StreamAccumulator
    ) -> list[Event]:
        btype = block["type"]
        if btype == "text":
            self.blocks[index] = ("text", None)
            return [acc.text(block["text"])] if block.get("text") else []
        if btype == "thinking":
            self.blocks[index] = ("thinking", None)
            events: list[Event] = []
            if block.get("thinking"):
                events.append(acc.thinking(block["thinking"]))
            if block.get("signature"):
                acc.set_thinking_signature(block["signature"])
            return events
        if btype == "tool_use":
            initial = block.get("input") or {}
            if self.output_tool and block["name"] == self.output_tool:
                self.blocks[index] = ("output", None)
                return [acc.text(json.dumps(initial))] if initial else []
            call_id = str(block["id"])
            self.blocks[index] = ("tool", call_id)
            out: list[Event] = [acc.start_call(call_id, str(block["name"]))]
            if initial:
                out.append(acc.call_delta(call_id, json.dumps(initial)))
            return out
        self.blocks[index] = (btype, None)  # redacted_thinking, server tools: not kept
        return []

    def _block_delta(
        self, index: int, delta: Mapping[str, Any], acc: StreamAccumulator
    ) -> list[Event]:
        dtype = delta["type"]
        block_kind, call_id = self.blocks.get(index, ("", None))
        if dtype == "text_delta":
            return [acc.text(str(delta["text"]))]
        if dtype == "thinking_delta":
            return [acc.thinking(str(delta["thinking"]))]
        if dtype == "signature_delta":
            acc.set_thinking_signature(str(delta["signature"]))
            return []
        if dtype == "input_json_delta":
            partial = str(delta.get("partial_json", ""))
            if not partial:
                return []
            if block_kind == "output":
                return [acc.text(partial)]
            if block_kind == "tool" and call_id is not None:
                return [acc.call_delta(call_id, partial)]
            raise ModelBadResponse(f"input_json_delta for block {index}, which is not a tool call")
        return []


_EPHEMERAL = {"type": "ephemeral"}


def _mark_cache_breakpoints(body: dict[str, Any]) -> None:
    """Prompt caching: breakpoints after the tools, the system prompt and the last turn,
    so each agent iteration re-reads the growing conversation from the cache."""
    if body.get("tools"):
        body["tools"][-1] = {**body["tools"][-1], "cache_control": _EPHEMERAL}
    if body.get("system"):
        body["system"] = [{"type": "text", "text": body["system"], "cache_control": _EPHEMERAL}]
    if body["messages"] and body["messages"][-1]["content"]:
        last = body["messages"][-1]["content"]
        last[-1] = {**last[-1], "cache_control": _EPHEMERAL}


def _stream_error(error: Mapping[str, Any], provider: str) -> ModelError:
    etype = str(error.get("type", ""))
    text = f"{provider} reported {etype or 'an error'} in the stream: {error.get('message', '')}"
    if etype == "rate_limit_error":
        return ModelRateLimited(text)
    if etype in ("overloaded_error", "api_error", "timeout_error"):
        return ModelUnavailable(text)
    return ModelBadResponse(text)


# -- request conversion -------------------------------------------------------------------
def _tool_choice(choice: ToolChoice) -> dict[str, Any]:
    if choice == "auto":
        return {"type": "auto"}
    if choice == "required":
        return {"type": "any"}
    if choice == "none":
        return {"type": "none"}
    return {"type": "tool", "name": choice}


def _output_schema(fmt: ResponseFormat) -> tuple[str, dict[str, Any]]:
    if isinstance(fmt, dict) and fmt.get("type") == "json_object":
        return "output", {"type": "object"}
    if isinstance(fmt, dict) and fmt.get("type") not in (None, "json_schema", "object"):
        raise ConfigError(
            f"unsupported response_format type {fmt.get('type')!r}",
            hint="use a pydantic model, a JSON schema or {'type': 'json_schema', ...}",
        )
    if isinstance(fmt, dict) and fmt.get("type") != "json_schema":
        name, schema = "output", dict(fmt)
    else:
        name, schema = response_format_schema(fmt)
    if schema.get("type") != "object":
        raise ConfigError(
            "structured output for Anthropic needs an object schema",
            hint="wrap the value in an object, e.g. {'type': 'object', 'properties': {...}}",
        )
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64] or "output", schema


def to_anthropic_messages(messages: Sequence[Msg]) -> tuple[str, list[dict[str, Any]]]:
    """Roost messages → ``(system, messages)``; consecutive same-role turns are merged."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        if not blocks:
            return
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": list(blocks)})

    for msg in messages:
        if msg.role == "system":
            system.append(
                "\n".join(
                    b.text if isinstance(b, TextBlock) else json.dumps(b.data, default=str)
                    for b in msg.content
                    if isinstance(b, TextBlock | DataBlock)
                )
            )
            continue
        results = [_tool_result(b) for b in msg.content if isinstance(b, ToolResultBlock)]
        if msg.role == "assistant":
            add("assistant", [p for b in msg.content if (p := _assistant_part(b)) is not None])
            add("user", results)
        else:
            parts = [p for b in msg.content if (p := _user_part(b)) is not None]
            add("user", [*results, *parts])
    for turn in turns:
        if turn["role"] == "user":  # tool results must open the user turn
            turn["content"].sort(key=lambda p: p.get("type") != "tool_result")
    return "\n\n".join(s for s in system if s), turns


def _assistant_part(block: Any) -> dict[str, Any] | None:
    if isinstance(block, TextBlock):
        return {"type": "text", "text": block.text} if block.text else None
    if isinstance(block, ThinkingBlock):
        if not block.signature:  # unsigned thinking (another provider's) is not accepted
            return None
        return {"type": "thinking", "thinking": block.thinking, "signature": block.signature}
    if isinstance(block, ToolUseBlock):
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
    if isinstance(block, DataBlock):
        return {"type": "text", "text": json.dumps(block.data, ensure_ascii=False, default=str)}
    return None


def _user_part(block: Any) -> dict[str, Any] | None:
    if isinstance(block, TextBlock):
        return {"type": "text", "text": block.text} if block.text else None
    if isinstance(block, ImageBlock):
        return _image(block)
    if isinstance(block, DataBlock):
        return {"type": "text", "text": json.dumps(block.data, ensure_ascii=False, default=str)}
    if isinstance(block, AudioBlock):
        return {
            "type": "text",
            "text": f"[audio {block.media_type or ''} not supported by this model]",
        }
    return None


def _image(block: ImageBlock) -> dict[str, Any]:
    if block.data is not None:
        return {
            "type": "image",
            "source": {
                "type": "base64",
                "media_type": block.media_type or "image/png",
                "data": block.data,
            },
        }
    return {"type": "image", "source": {"type": "url", "url": block.url}}


def _tool_result(result: ToolResultBlock) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    for block in result.content:
        if isinstance(block, TextBlock):
            if block.text:
                content.append({"type": "text", "text": block.text})
        elif isinstance(block, DataBlock):
            content.append(
                {"type": "text", "text": json.dumps(block.data, ensure_ascii=False, default=str)}
            )
        elif isinstance(block, ImageBlock):
            content.append(_image(block))
        else:
            content.append({"type": "text", "text": f"[{block.type}]"})
    if result.is_error and result.code:
        content.insert(0, {"type": "text", "text": f"Error ({result.code})"})
    part: dict[str, Any] = {"type": "tool_result", "tool_use_id": result.tool_use_id}
    if content:
        part["content"] = content
    if result.is_error:
        part["is_error"] = True
    return part
