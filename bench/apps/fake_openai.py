"""A fake OpenAI-compatible chat-completions server for benchmarks.

Both Roost and the peer talk to this server so that each pays the same model-client cost and
neither is measured against a real model. It is a raw asyncio HTTP/1.1 server (no framework)
with every response pre-rendered, so that it costs almost no CPU and can run as a separate
process whose CPU is not counted against either server under test.

Routes:
- ``POST /v1/chat/completions`` (and ``/chat/completions``): with ``"stream": true`` it streams
  a fixed reply of ``--chunks`` content chunks (default 20) then a usage chunk and
  ``data: [DONE]``; without it, one JSON completion with the same text.
- ``GET /v1/models``: one model.
- ``GET /health``: ``ok``; ``GET /stats``: number of completions served (JSON).

Run::

    python -m bench.apps.fake_openai --port 0        # prints "listening on http://127.0.0.1:PORT"
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys

CHUNKS = 20
WORDS = [
    "Roost",
    " and",
    " the",
    " peer",
    " both",
    " stream",
    " this",
    " fixed",
    " reply",
    " from",
    " a",
    " fake",
    " model",
    " so",
    " that",
    " only",
    " the",
    " servers",
    " differ",
    ".",
]


def reply_pieces(chunks: int = CHUNKS) -> list[str]:
    """The text pieces of the fixed reply, one per streamed chunk."""
    return [WORDS[i % len(WORDS)] for i in range(chunks)]


def _chunk(model: str, delta: dict[str, object], finish: str | None) -> bytes:
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


def render_stream(model: str, chunks: int = CHUNKS) -> bytes:
    """The whole SSE body of a streamed completion (role, N content chunks, finish, usage)."""
    parts = [_chunk(model, {"role": "assistant", "content": ""}, None)]
    parts += [_chunk(model, {"content": piece}, None) for piece in reply_pieces(chunks)]
    parts.append(_chunk(model, {}, "stop"))
    usage = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": model,
        "choices": [],
        "usage": {"prompt_tokens": 12, "completion_tokens": chunks, "total_tokens": 12 + chunks},
    }
    parts.append(b"data: " + json.dumps(usage, separators=(",", ":")).encode() + b"\n\n")
    parts.append(b"data: [DONE]\n\n")
    return b"".join(parts)


def render_completion(model: str, chunks: int = CHUNKS) -> bytes:
    """A non-streamed completion with the same text."""
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(reply_pieces(chunks))},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": chunks, "total_tokens": 12 + chunks},
    }
    return json.dumps(body, separators=(",", ":")).encode()


def _response(status: str, content_type: bytes, body: bytes) -> bytes:
    head = (
        b"HTTP/1.1 " + status.encode() + b"\r\n"
        b"content-type: " + content_type + b"\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n"
        b"cache-control: no-cache\r\n\r\n"
    )
    return head + body


class FakeOpenAI:
    """The server: pre-rendered responses cached per model name."""

    def __init__(self, chunks: int = CHUNKS, chunk_delay: float = 0.0) -> None:
        self.chunks = chunks
        self.chunk_delay = chunk_delay
        self.served = 0
        self._streams: dict[str, bytes] = {}
        self._completions: dict[str, bytes] = {}

    def _stream_for(self, model: str) -> bytes:
        cached = self._streams.get(model)
        if cached is None:
            cached = _response("200 OK", b"text/event-stream", render_stream(model, self.chunks))
            self._streams[model] = cached
        return cached

    def _completion_for(self, model: str) -> bytes:
        cached = self._completions.get(model)
        if cached is None:
            body = render_completion(model, self.chunks)
            cached = _response("200 OK", b"application/json", body)
            self._completions[model] = cached
        return cached

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve keep-alive HTTP/1.1 requests on one connection until the client closes it."""
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.split(b"\r\n")
                method, _, rest = lines[0].partition(b" ")
                path = rest.partition(b" ")[0].split(b"?")[0]
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(b":")
                    if name:
                        headers[name.strip().lower()] = value.strip()
                body = await self._read_body(reader, headers)
                response, streamed = self._route(method, path, body)
                if streamed and self.chunk_delay > 0:
                    await self._write_slowly(writer, response)
                else:
                    writer.write(response)
                await writer.drain()
                if headers.get(b"connection", b"").lower() == b"close":
                    return
        except ConnectionError:
            return
        finally:
            writer.close()

    async def _read_body(self, reader: asyncio.StreamReader, headers: dict[bytes, bytes]) -> bytes:
        length = headers.get(b"content-length")
        if length is not None:
            return await reader.readexactly(int(length))
        if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            parts: list[bytes] = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")
                    return b"".join(parts)
                parts.append(await reader.readexactly(size))
                await reader.readexactly(2)
        return b""

    def _route(self, method: bytes, path: bytes, body: bytes) -> tuple[bytes, bool]:
        if method == b"POST" and path in (b"/v1/chat/completions", b"/chat/completions"):
            try:
                request = json.loads(body or b"{}")
            except ValueError:
                return _response("400 Bad Request", b"application/json", b'{"error":"json"}'), False
            model = str(request.get("model") or "fake-model")
            self.served += 1
            if request.get("stream"):
                return self._stream_for(model), True
            return self._completion_for(model), False
        if method == b"GET" and path in (b"/v1/models", b"/models"):
            body = b'{"object":"list","data":[{"id":"fake-model","object":"model","owned_by":"bench"}]}'
            return _response("200 OK", b"application/json", body), False
        if method == b"GET" and path == b"/health":
            return _response("200 OK", b"text/plain", b"ok"), False
        if method == b"GET" and path == b"/stats":
            stats = json.dumps({"served": self.served}).encode()
            return _response("200 OK", b"application/json", stats), False
        return _response("404 Not Found", b"application/json", b'{"error":"not found"}'), False

    async def _write_slowly(self, writer: asyncio.StreamWriter, response: bytes) -> None:
        head, _, body = response.partition(b"\r\n\r\n")
        writer.write(head + b"\r\n\r\n")
        for event in body.split(b"\n\n"):
            if event:
                writer.write(event + b"\n\n")
                await writer.drain()
                await asyncio.sleep(self.chunk_delay)


async def serve(host: str, port: int, chunks: int, chunk_delay: float) -> None:
    """Listen until SIGTERM/SIGINT; print the bound address on stdout first."""
    app = FakeOpenAI(chunks, chunk_delay)
    server = await asyncio.start_server(app.handle, host, port, backlog=2048, reuse_address=True)
    bound = server.sockets[0].getsockname()
    print(f"listening on http://{bound[0]}:{bound[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake OpenAI-compatible server for benchmarks")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--chunks", type=int, default=CHUNKS, help="content chunks per reply")
    parser.add_argument(
        "--chunk-delay-ms", type=float, default=0.0, help="sleep between streamed chunks"
    )
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1") and not os.environ.get(
        "FAKE_OPENAI_ALLOW_REMOTE"
    ):
        sys.exit("refusing to listen off loopback; set FAKE_OPENAI_ALLOW_REMOTE=1 to force")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port, args.chunks, args.chunk_delay_ms / 1000))


if __name__ == "__main__":
    main()
