"""A loopback TCP forwarder in front of a real server (Redis) that a test can cut and
restore, to see what Roost does when the network to Redis fails mid-traffic."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from urllib.parse import urlsplit


class TcpProxy:
    """Forwards ``127.0.0.1:<port>`` to ``target``; ``cut()`` drops every connection and
    refuses new ones until ``restore()``."""

    def __init__(self, target_url: str) -> None:
        parts = urlsplit(target_url)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 6379)
        self._path = parts.path
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._writers: set[asyncio.StreamWriter] = set()
        self._cut = False
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", 0), self._loop
        ).result(10)
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}{self._path}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._cut:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            for w in (writer, up_writer):
                self._writers.discard(w)
                w.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()

    def cut(self) -> None:
        def drop() -> None:
            self._cut = True
            for w in list(self._writers):
                w.transport.abort()

        self._run(drop)

    def restore(self) -> None:
        def allow() -> None:
            self._cut = False

        self._run(allow)

    def close(self) -> None:
        self.cut()
        self._run(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the proxy's loop and wait: the change holds when this returns."""

        async def call() -> None:
            fn()

        asyncio.run_coroutine_threadsafe(call(), self._loop).result(10)
