"""``OpenAIChatModel``: any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM,
Ollama, llama.cpp server, DashScope compatible mode, DeepSeek, Moonshot …) over httpx."""

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
    ToolResultBlock,
    ToolUseBlock,
    Usage,
    new_id,
)
from roost.models._http import HttpChatModel, StreamedResponse, bad_chunk, estimate_tokens
from roost.models.base import (
    ModelRequest,
    ResponseFormat,
    StreamAccumulator,
    ToolChoice,
    response_format_schema,
)
from roost.models.pricing import PriceTable, self_hosted_price_table
from roost.models.retry import RetryPolicy, stream_with_retries

if TYPE_CHECKING:
    import httpx

OPENAI_BASE_URL = "https://api.openai.com/v1"
SELF_HOSTED_PROVIDERS = frozenset({"local", "ollama", "vllm", "llamacpp", "openai-compatible"})
"""Providers that run on your own hardware: unknown models cost 0 unless ROOST_PRICES says."""

_STOP_REASONS = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "length": "max_tokens",
    "content_filter": "content_filter",
}
_NAME_OK = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class OpenAIChatModel(HttpChatModel):
    """Chat completions with streaming, native tool calls, JSON-schema output and images.

    ``default_options`` (``temperature``, ``max_tokens``, ``seed`` …) go into every request
    body; per-call ``**options`` override them. ``timeout`` bounds the connect and each
    wait for the next chunk (not the whole reply, which may legitimately stream for long).
    ``api_key`` defaults to ``OPENAI_API_KEY`` only for api.openai.com.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str = OPENAI_BASE_URL,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        headers: Mapping[str, str] | None = None,
        prices: PriceTable | None = None,
        client: httpx.AsyncClient | None = None,
        provider: str = "openai",
        retry: RetryPolicy | None = None,
        stream_usage: bool = True,
        **default_options: Any,
    ) -> None:
        if not model:
            raise ConfigError("model name is empty", hint="pass the model id, e.g. 'gpt-4o-mini'")
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"base_url must start with http:// or https://, got {base_url!r}",
                hint="e.g. http://127.0.0.1:8000/v1",
            )
        if api_key is None and base_url.rstrip("/") == OPENAI_BASE_URL:
            api_key = os.environ.get("OPENAI_API_KEY")
            if not api_key:
                raise ConfigError(
                    "no API key for OpenAI",
                    hint="export OPENAI_API_KEY=… or pass api_key=",
                )
        super().__init__(
            model,
            base_url=base_url,
            api_key=api_key,
            provider=provider,
            timeout=timeout,
            max_retries=max_retries,
            headers=headers,
            prices=prices
            if prices is not None or provider not in SELF_HOSTED_PROVIDERS
            else self_hosted_price_table(),
            client=client,
            retry=retry,
        )
        self.stream_usage = stream_usage
        self.default_options = default_options

    # -- request --------------------------------------------------------------------------
    def build_body(self, messages: Sequence[Msg], request: ModelRequest) -> dict[str, Any]:
        """The JSON body sent to ``/chat/completions`` (public so it can be inspected)."""
        tools, tool_choice = request.tools, request.tool_choice
        response_format = request.response_format
        body: dict[str, Any] = {"model": self.model_name, "messages": to_openai_messages(messages)}
        body.update({k: v for k, v in self.default_options.items() if v is not None})
        body.update({k: v for k, v in request.options.items() if v is not None})
        body["stream"] = True
        if self.stream_usage:
            body["stream_options"] = {"include_usage": True}
        if tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": t.parameters,
                    },
                }
                for t in tools
            ]
            if tool_choice is not None:
                body["tool_choice"] = _tool_choice(tool_choice)
        if response_format is not None:
            body["response_format"] = _response_format(response_format)
        return body

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream"}
        key = self._api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    # -- streaming ------------------------------------------------------------------------
    async def request_stream(
        self, messages: Sequence[Msg], request: ModelRequest
    ) -> AsyncIterator[Event]:
        body = self.build_body(list(messages), request)
        async for event in stream_with_retries(
            lambda: self._attempt(body),
            self.retry,
            label=f"{self.provider}:{self.model_name}",
        ):
            yield event

    async def _attempt(self, body: dict[str, Any]) -> AsyncIterator[Event]:
        acc = StreamAccumulator()
        try:
            async with self.post_stream(
                f"{self.base_url}/chat/completions", body, self._headers()
            ) as response:
                with self.translate_errors():
                    ctype = response.headers.get("content-type", "")
                    if "json" in ctype and "event-stream" not in ctype:
                        raw = await response.aread()
                        parsed = _parse_completion(raw, acc, self.provider)
                    else:
                        parsed = _StreamState()
                        async for event in _parse_stream(response, acc, parsed, self.provider):
                            yield event
            tail = [*parsed.events, *parsed.finish_calls(acc)]
        except ModelError as err:
            self.attach_partial(err, acc)
            raise
        for event in tail:
            yield event
        usage, stop = parsed.usage, parsed.finish_reason
        estimated = usage is None
        if usage is None:
            built = acc.build()
            out_chars = (
                len(built.text)
                + len(built.thinking)
                + sum(len(json.dumps(c.input)) for c in built.tool_uses)
            )
            prompt_chars = len(json.dumps(body["messages"], ensure_ascii=False))
            usage = Usage(
                input_tokens=estimate_tokens(prompt_chars),
                output_tokens=estimate_tokens(out_chars),
            )
        yield acc.add_usage(self.priced(usage), self.model_name)
        self.finish_metadata(acc.msg, estimated=estimated)
        if parsed.response_id:
            acc.msg.metadata["response_id"] = parsed.response_id
        yield acc.response(_STOP_REASONS.get(stop or "", stop or "end_turn"), self.model_name)


# -- stream parsing -----------------------------------------------------------------------
@dataclass
class _PendingToolCall:
    index: int
    id: str | None = None
    name: str = ""
    buffer: list[str] = field(default_factory=list)
    call_id: str | None = None
    """Set once ``start_call`` was emitted."""


@dataclass
class _StreamState:
    calls: dict[int, _PendingToolCall] = field(default_factory=dict)
    response_id: str | None = None
    usage: Usage | None = None
    finish_reason: str | None = None
    done: bool = False
    events: list[Event] = field(default_factory=list)

    def feed_call(self, delta: Mapping[str, Any], acc: StreamAccumulator) -> list[Event]:
        index = delta.get("index")
        call_id = delta.get("id") or None
        if not isinstance(index, int):
            # Servers that omit ``index``: a new id opens a call, no id continues the last.
            known = [c for c in self.calls.values() if call_id and c.id == call_id]
            if known:
                index = known[0].index
            elif call_id or not self.calls:
                index = len(self.calls)
            else:
                index = max(self.calls)
        pending = self.calls.setdefault(index, _PendingToolCall(index))
        if call_id and pending.call_id is None:
            pending.id = str(call_id)
        fn = delta.get("function") or {}
        if not isinstance(fn, Mapping):
            raise TypeError("function is not an object")
        name = fn.get("name")
        if name and pending.call_id is None:
            pending.name = str(name)
        args = fn.get("arguments")
        if isinstance(args, dict):  # a few servers send parsed arguments
            args = json.dumps(args)
        events: list[Event] = []
        if pending.call_id is None and pending.name:
            used = {c.call_id for c in self.calls.values()}
            cid = pending.id if pending.id and pending.id not in used else new_id("call")
            pending.call_id = cid
            events.append(acc.start_call(cid, pending.name))
            if pending.buffer:
                events.append(acc.call_delta(cid, "".join(pending.buffer)))
                pending.buffer.clear()
        if args:
            if pending.call_id is None:
                pending.buffer.append(str(args))
            else:
                events.append(acc.call_delta(pending.call_id, str(args)))
        return events

    def finish_calls(self, acc: StreamAccumulator) -> list[Event]:
        events: list[Event] = []
        for index in sorted(self.calls):
            pending = self.calls[index]
            if pending.call_id is None:
                # Arguments without a name cannot be executed: report, do not drop silently.
                raise ModelBadResponse(
                    "a streamed tool call never received its function name",
                    hint="the server's tool-call streaming is broken; try non-streaming or another server",
                )
            if pending.call_id in acc.open_call_ids():
                events.append(acc.finish_call(pending.call_id))
        return events


async def _parse_stream(
    response: StreamedResponse, acc: StreamAccumulator, state: _StreamState, provider: str
) -> AsyncIterator[Event]:
    from roost.models._sse import iter_sse

    async for sse in iter_sse(response.aiter_lines()):
        data = sse.data.strip()
        if data == "[DONE]":
            state.done = True
            break
        try:
            chunk = json.loads(data)
        except ValueError:
            raise bad_chunk(provider, data, "not JSON") from None
        if not isinstance(chunk, dict):
            raise bad_chunk(provider, data, "not an object")
        if chunk.get("error"):
            raise _stream_error(chunk["error"], provider)
        if state.response_id is None and isinstance(chunk.get("id"), str):
            state.response_id = chunk["id"]  # gen_ai.response.id of the chat span
        try:
            if chunk.get("usage"):
                state.usage = _usage(chunk["usage"])
            for choice in chunk.get("choices") or []:
                if choice.get("index", 0) != 0:
                    continue
                delta = choice.get("delta") or {}
                reasoning = delta.get("reasoning_content") or delta.get("reasoning")
                if reasoning:
                    yield acc.thinking(_as_text(reasoning))
                content = delta.get("content")
                if content:
                    yield acc.text(_as_text(content))
                for call in delta.get("tool_calls") or []:
                    for event in state.feed_call(call, acc):
                        yield event
                if choice.get("finish_reason"):
                    state.finish_reason = str(choice["finish_reason"])
        except (TypeError, AttributeError, ValueError) as exc:
            raise bad_chunk(provider, data, f"unexpected shape: {exc}") from None
    if not state.done and state.finish_reason is None:
        raise ModelUnavailable(
            f"{provider} stream ended before the reply was complete",
            hint="the server closed the connection mid-reply; try again",
        )


def _parse_completion(raw: bytes, acc: StreamAccumulator, provider: str) -> _StreamState:
    """A server that ignored ``stream: true`` and sent one JSON completion."""
    text = raw.decode("utf-8", "replace")
    try:
        data = json.loads(text)
        if data.get("error"):
            raise _stream_error(data["error"], provider)
        state = _StreamState(done=True)
        if isinstance(data.get("id"), str):
            state.response_id = data["id"]
        if data.get("usage"):
            state.usage = _usage(data["usage"])
        choice = data["choices"][0]
        message = choice.get("message") or {}
        reasoning = message.get("reasoning_content") or message.get("reasoning")
        if reasoning:
            state.events.append(acc.thinking(_as_text(reasoning)))
        if message.get("content"):
            state.events.append(acc.text(_as_text(message["content"])))
        for index, call in enumerate(message.get("tool_calls") or []):
            state.events.extend(state.feed_call({**call, "index": index}, acc))
        state.events.extend(state.finish_calls(acc))
        state.finish_reason = choice.get("finish_reason")
        return state
    except ModelError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        raise bad_chunk(provider, text, "not a chat completion") from None


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # content parts
        return "".join(p.get("text", "") for p in value if isinstance(p, dict))
    raise TypeError(f"expected text, got {type(value).__name__}")


def _usage(raw: Mapping[str, Any]) -> Usage:
    details = raw.get("prompt_tokens_details") or {}
    cached = details.get("cached_tokens") if isinstance(details, Mapping) else None
    return Usage(
        input_tokens=int(raw.get("prompt_tokens") or 0),
        output_tokens=int(raw.get("completion_tokens") or 0),
        cache_read_tokens=int(cached or raw.get("prompt_cache_hit_tokens") or 0),
    )


def _stream_error(error: Any, provider: str) -> ModelError:
    if isinstance(error, Mapping):
        message = str(error.get("message") or error)
        kind = f"{error.get('type', '')} {error.get('code', '')}".lower()
    else:
        message, kind = str(error), str(error).lower()
    text = f"{provider} reported an error in the stream: {message}"
    if "rate" in kind:
        return ModelRateLimited(text)
    if any(k in kind for k in ("server", "overload", "unavailable", "internal")):
        return ModelUnavailable(text)
    return ModelBadResponse(text)


# -- request conversion -------------------------------------------------------------------
def _tool_choice(choice: ToolChoice) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    return {"type": "function", "function": {"name": choice}}


def _response_format(fmt: ResponseFormat) -> dict[str, Any]:
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema", "text"):
        return dict(fmt)
    if isinstance(fmt, dict) and "type" in fmt and fmt.get("type") != "object":
        raise ConfigError(
            f"unsupported response_format type {fmt.get('type')!r}",
            hint="use a pydantic model, a JSON schema, {'type': 'json_object'} or {'type': 'json_schema', ...}",
        )
    if isinstance(fmt, dict):  # a bare JSON schema
        return {"type": "json_schema", "json_schema": {"name": "output", "schema": fmt}}
    name, schema = response_format_schema(fmt)
    return {"type": "json_schema", "json_schema": {"name": _safe_name(name), "schema": schema}}


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64]
    return cleaned or "output"


def to_openai_messages(messages: Sequence[Msg]) -> list[dict[str, Any]]:
    """Roost messages → chat-completions ``messages`` (tool results become ``role: tool``)."""
    out: list[dict[str, Any]] = []
    for msg in messages:
        if msg.role == "system":
            out.append({"role": "system", "content": _text_of(msg.content)})
            continue
        results = [b for b in msg.content if isinstance(b, ToolResultBlock)]
        if msg.role == "assistant":
            out.append(_assistant_message(msg))
        trailing_media: list[dict[str, Any]] = []
        for result in results:
            out.append(
                {
                    "role": "tool",
                    "tool_call_id": result.tool_use_id,
                    "content": _tool_result_text(result),
                }
            )
            media = [_media_part(b) for b in result.content if isinstance(b, ImageBlock)]
            if media:
                label = f"Images returned by tool {result.name or result.tool_use_id}:"
                trailing_media += [{"type": "text", "text": label}, *media]
        if msg.role != "assistant":
            parts = _user_parts(msg)
            if parts or trailing_media:
                out.append(_user_message(msg, [*trailing_media, *parts]))
    return out


def _assistant_message(msg: Msg) -> dict[str, Any]:
    text = "".join(b.text for b in msg.content if isinstance(b, TextBlock))
    calls = [b for b in msg.content if isinstance(b, ToolUseBlock)]
    message: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else "")}
    if calls:
        message["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                "function": {
                    "name": c.name,
                    "arguments": c.raw_input
                    if c.raw_input is not None
                    else json.dumps(c.input, ensure_ascii=False),
                },
            }
            for c in calls
        ]
    if msg.name and _NAME_OK.match(msg.name):
        message["name"] = msg.name
    return message


def _user_parts(msg: Msg) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for block in msg.content:
        if isinstance(block, TextBlock):
            parts.append({"type": "text", "text": block.text})
        elif isinstance(block, DataBlock):
            parts.append(
                {"type": "text", "text": json.dumps(block.data, ensure_ascii=False, default=str)}
            )
        elif isinstance(block, ImageBlock | AudioBlock):
            parts.append(_media_part(block))
    return parts


def _user_message(msg: Msg, parts: list[dict[str, Any]]) -> dict[str, Any]:
    content: Any = parts
    if all(p["type"] == "text" for p in parts):
        content = "".join(p["text"] for p in parts)  # plain string: every server accepts it
    message: dict[str, Any] = {"role": "user", "content": content}
    if msg.name and _NAME_OK.match(msg.name):
        message["name"] = msg.name
    return message


def _media_part(block: ImageBlock | AudioBlock) -> dict[str, Any]:
    if isinstance(block, ImageBlock):
        return {"type": "image_url", "image_url": {"url": block.as_data_url()}}
    if block.data is None:
        return {"type": "text", "text": f"[audio: {block.url}]"}
    fmt = (
        (block.media_type or "audio/wav")
        .split("/")[-1]
        .replace("mpeg", "mp3")
        .replace("x-wav", "wav")
    )
    return {"type": "input_audio", "input_audio": {"data": block.data, "format": fmt}}


def _tool_result_text(result: ToolResultBlock) -> str:
    parts: list[str] = []
    for block in result.content:
        if isinstance(block, TextBlock):
            parts.append(block.text)
        elif isinstance(block, DataBlock):
            parts.append(json.dumps(block.data, ensure_ascii=False, default=str))
        elif isinstance(block, ImageBlock):
            parts.append("[image attached below]")
        else:
            parts.append(f"[{block.type}]")
    text = "\n".join(parts)
    if result.is_error:
        prefix = f"Error ({result.code})" if result.code else "Error"
        return f"{prefix}: {text}" if text else prefix
    return text


def _text_of(blocks: Sequence[Any]) -> str:
    out: list[str] = []
    for block in blocks:
        if isinstance(block, TextBlock):
            out.append(block.text)
        elif isinstance(block, DataBlock):
            out.append(json.dumps(block.data, ensure_ascii=False, default=str))
    return "\n".join(out)
