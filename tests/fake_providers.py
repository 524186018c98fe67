"""Real HTTP servers on 127.0.0.1 that speak the OpenAI chat-completions and the Anthropic
Messages protocols (streaming, tool calls split across chunks, usage, injected failures).

Reusable from any test: ``from fake_providers import FakeOpenAIServer, Reply`` (``tests/``
is on ``sys.path`` through its conftest).

    with FakeOpenAIServer() as server:
        server.script(Reply(text="hi"), Fail(429, retry_after=0))
        model = OpenAIChatModel("fake", base_url=server.url, api_key="k")
"""

from __future__ import annotations

import abc
import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


@dataclass
class Reply:
    """A successful streamed answer."""

    text: str = ""
    tool_calls: list[tuple[str, str, str]] = field(default_factory=list)
    """``(call_id, name, arguments JSON text)``; arguments are streamed in pieces."""
    thinking: str = ""
    signature: str = "sig-abc"
    usage: tuple[int, int] | None = (11, 7)
    """``(input, output)`` tokens; ``None`` sends no usage at all."""
    cached_tokens: int = 0
    chunk_size: int = 3
    delay: float = 0.0
    """Seconds between chunks."""
    finish: str | None = None
    stall_after_chunks: int | None = None
    """Go silent for ``stall_seconds`` after this many text chunks (a hung server)."""
    stall_seconds: float = 3.0


@dataclass
class Fail:
    """An HTTP error answer."""

    status: int
    message: str = "injected failure"
    retry_after: float | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Malformed:
    """Stream ``text_before`` then a chunk that is not JSON."""

    text_before: str = "partial"


@dataclass
class Drop:
    """Stream ``text_before`` then end the response without finishing the reply."""

    text_before: str = "cut"


@dataclass
class Stall:
    """Wait ``seconds`` before sending the response headers."""

    seconds: float
    then: Reply | None = None


@dataclass
class StreamError:
    """A 200 stream that carries a provider error event."""

    kind: str = "overloaded_error"
    message: str = "overloaded"
    text_before: str = ""


@dataclass
class Whole:
    """Answer with one JSON completion even though a stream was asked for (some servers do)."""

    reply: Reply


Scripted = Reply | Fail | Malformed | Drop | Stall | StreamError | Whole


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float


class AppServer:
    """Serve any ASGI app on a free 127.0.0.1 port from a background thread."""

    def __init__(self, app: Any) -> None:
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self.port = 0

    def start(self) -> AppServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)

    def __enter__(self) -> AppServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] if text else []


class _FakeServer(abc.ABC):
    """A Starlette app served by uvicorn in a background thread on a free port."""

    path = "/"

    def __init__(self, responder: Callable[[dict[str, Any]], Scripted] | None = None) -> None:
        self.requests: list[Recorded] = []
        self._script: list[Scripted] = []
        self._responder = responder
        self._lock = threading.Lock()
        self._app = AppServer(Starlette(routes=[Route(self.path, self._handle, methods=["POST"])]))

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> _FakeServer:
        self._app.start()
        return self

    def stop(self) -> None:
        self._app.stop()

    def __enter__(self) -> _FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._app.port

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- scripting ------------------------------------------------------------------------
    def script(self, *responses: Scripted) -> None:
        with self._lock:
            self._script.extend(responses)

    def _next(self, body: dict[str, Any]) -> Scripted:
        with self._lock:
            if self._script:
                return self._script.pop(0)
        if self._responder is not None:
            return self._responder(body)
        return Reply(text=f"echo: {self.last_user_text(body)}")

    def last_user_text(self, body: dict[str, Any]) -> str:
        for message in reversed(body.get("messages", [])):
            if message.get("role") == "user":
                content = message.get("content")
                if isinstance(content, str):
                    return content
                return "".join(p.get("text", "") for p in content if isinstance(p, dict))
        return ""

    async def _handle(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(
            Recorded(request.url.path, dict(request.headers), body, time.monotonic())
        )
        item = self._next(body)
        if isinstance(item, Stall):
            await asyncio.sleep(item.seconds)
            item = item.then or Reply(text="late")
        if isinstance(item, Fail):
            headers = dict(item.headers)
            if item.retry_after is not None:
                headers["retry-after"] = str(item.retry_after)
            return JSONResponse(self.error_body(item), status_code=item.status, headers=headers)
        if isinstance(item, Whole):
            return JSONResponse(self.whole_body(item.reply))
        return StreamingResponse(self.events(item), media_type="text/event-stream")

    @abc.abstractmethod
    def error_body(self, item: Fail) -> dict[str, Any]:
        """The provider's JSON error body for an injected HTTP failure."""

    def whole_body(self, reply: Reply) -> dict[str, Any]:
        """A non-streamed answer (only the OpenAI protocol has one in these tests)."""
        return {"error": {"message": "non-streamed answers are not scripted for this server"}}

    @abc.abstractmethod
    def events(self, item: Scripted) -> AsyncIterator[str]:
        """The SSE text of a scripted answer."""


class FakeOpenAIServer(_FakeServer):
    """``POST /v1/chat/completions`` with SSE chunks; ``url`` is the base URL (``…/v1``)."""

    path = "/v1/chat/completions"

    @property
    def url(self) -> str:
        return f"{self.base}/v1"

    def error_body(self, item: Fail) -> dict[str, Any]:
        return {"error": {"message": item.message, "type": "server_error", "code": item.status}}

    def whole_body(self, reply: Reply) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
        if reply.thinking:
            message["reasoning_content"] = reply.thinking
        if reply.tool_calls:
            message["tool_calls"] = [
                {"id": cid, "type": "function", "function": {"name": name, "arguments": args}}
                for cid, name, args in reply.tool_calls
            ]
        body: dict[str, Any] = {
            "id": "chatcmpl-whole",
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": "tool_calls" if reply.tool_calls else "stop",
                }
            ],
        }
        if reply.usage is not None:
            body["usage"] = {"prompt_tokens": reply.usage[0], "completion_tokens": reply.usage[1]}
        return body

    @staticmethod
    def _chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        payload = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "model": "fake",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(payload)}\n\n"

    async def events(self, item: Scripted) -> AsyncIterator[str]:
        if isinstance(item, Malformed | Drop | StreamError):
            yield self._chunk({"role": "assistant", "content": item.text_before})
            if isinstance(item, Malformed):
                yield 'data: {"choices": [{"delta": {"content": "x"\n\n'
            elif isinstance(item, StreamError):
                yield f"data: {json.dumps({'error': {'type': item.kind, 'message': item.message}})}\n\n"
            return
        assert isinstance(item, Reply)
        yield self._chunk({"role": "assistant"})
        for piece in _pieces(item.thinking, item.chunk_size):
            await asyncio.sleep(item.delay)
            yield self._chunk({"reasoning_content": piece})
        for n, piece in enumerate(_pieces(item.text, item.chunk_size)):
            if n == item.stall_after_chunks:
                await asyncio.sleep(item.stall_seconds)
            await asyncio.sleep(item.delay)
            yield self._chunk({"content": piece})
        for index, (call_id, name, args) in enumerate(item.tool_calls):
            head = {
                "index": index,
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": ""},
            }
            yield self._chunk({"tool_calls": [head]})
            for piece in _pieces(args, item.chunk_size):
                await asyncio.sleep(item.delay)
                yield self._chunk(
                    {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}
                )
        finish = item.finish or ("tool_calls" if item.tool_calls else "stop")
        yield self._chunk({}, finish)
        if item.usage is not None:
            usage = {
                "prompt_tokens": item.usage[0],
                "completion_tokens": item.usage[1],
                "total_tokens": sum(item.usage),
                "prompt_tokens_details": {"cached_tokens": item.cached_tokens},
            }
            yield f"data: {json.dumps({'id': 'chatcmpl-fake', 'choices': [], 'usage': usage})}\n\n"
        yield "data: [DONE]\n\n"


class FakeAnthropicServer(_FakeServer):
    """``POST /v1/messages`` with the Messages API event stream; ``url`` is the base URL."""

    path = "/v1/messages"

    @property
    def url(self) -> str:
        return self.base

    def error_body(self, item: Fail) -> dict[str, Any]:
        kind = {429: "rate_limit_error", 529: "overloaded_error"}.get(item.status, "api_error")
        if 400 <= item.status < 429:
            kind = "invalid_request_error"
        return {"type": "error", "error": {"type": kind, "message": item.message}}

    @staticmethod
    def _event(kind: str, payload: dict[str, Any]) -> str:
        return f"event: {kind}\ndata: {json.dumps({'type': kind, **payload})}\n\n"

    def _start(self, input_tokens: int, cached: int = 0) -> str:
        usage = {
            "input_tokens": input_tokens,
            "output_tokens": 1,
            "cache_read_input_tokens": cached,
            "cache_creation_input_tokens": 0,
        }
        message = {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": "claude-fake",
            "stop_reason": None,
            "usage": usage,
        }
        return self._event("message_start", {"message": message})

    async def events(self, item: Scripted) -> AsyncIterator[str]:
        if isinstance(item, Malformed | Drop | StreamError):
            yield self._start(5)
            yield self._event(
                "content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}
            )
            yield self._event(
                "content_block_delta",
                {"index": 0, "delta": {"type": "text_delta", "text": item.text_before}},
            )
            if isinstance(item, Malformed):
                yield 'event: content_block_delta\ndata: {"type": "content_block_delta", \n\n'
            elif isinstance(item, StreamError):
                yield self._event("error", {"error": {"type": item.kind, "message": item.message}})
            return
        assert isinstance(item, Reply)
        usage = item.usage or (0, 0)
        yield self._start(usage[0] - item.cached_tokens, item.cached_tokens)
        yield 'event: ping\ndata: {"type": "ping"}\n\n'
        index = 0
        if item.thinking:
            yield self._event(
                "content_block_start",
                {"index": index, "content_block": {"type": "thinking", "thinking": ""}},
            )
            for piece in _pieces(item.thinking, item.chunk_size):
                yield self._event(
                    "content_block_delta",
                    {"index": index, "delta": {"type": "thinking_delta", "thinking": piece}},
                )
            yield self._event(
                "content_block_delta",
                {"index": index, "delta": {"type": "signature_delta", "signature": item.signature}},
            )
            yield self._event("content_block_stop", {"index": index})
            index += 1
        if item.text:
            yield self._event(
                "content_block_start",
                {"index": index, "content_block": {"type": "text", "text": ""}},
            )
            for piece in _pieces(item.text, item.chunk_size):
                await asyncio.sleep(item.delay)
                yield self._event(
                    "content_block_delta",
                    {"index": index, "delta": {"type": "text_delta", "text": piece}},
                )
            yield self._event("content_block_stop", {"index": index})
            index += 1
        for call_id, name, args in item.tool_calls:
            yield self._event(
                "content_block_start",
                {
                    "index": index,
                    "content_block": {"type": "tool_use", "id": call_id, "name": name, "input": {}},
                },
            )
            for piece in _pieces(args, item.chunk_size):
                yield self._event(
                    "content_block_delta",
                    {"index": index, "delta": {"type": "input_json_delta", "partial_json": piece}},
                )
            yield self._event("content_block_stop", {"index": index})
            index += 1
        stop = item.finish or ("tool_use" if item.tool_calls else "end_turn")
        yield self._event(
            "message_delta",
            {
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": usage[1]},
            },
        )
        yield self._event("message_stop", {})
