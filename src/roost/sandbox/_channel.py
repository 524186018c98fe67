"""Host side of the kernel protocol: length-prefixed frames over the kernel's pipes,
requests multiplexed by id so shell and file calls run while a cell is busy.

Requests are ``marshal``-encoded (the kernel then needs no ``json``/``re`` import at
start-up); answers from the sandbox are JSON, because the host never unmarshals bytes
that untrusted code could have written (decision 0034)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import marshal
import struct
from typing import Any

from roost.sandbox.errors import SandboxProtocolError

_HDR = struct.Struct("!II")
_MAX_FRAME = 256 << 20
_MARSHAL_VERSION = 4
"""Plain dicts/str/int/float only: stable across Python 3.x, so the sandbox interpreter
may be another 3.x than the server's."""


class KernelGone(Exception):
    """The kernel process closed its pipes (it exited or was killed)."""


class KernelChannel:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._next_id = 1
        self._pending: dict[int, asyncio.Future[tuple[dict[str, Any], bytes]]] = {}
        self._ready: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._read_loop())
        self.closed = False

    async def wait_ready(self, timeout: float) -> dict[str, Any]:
        return await asyncio.wait_for(asyncio.shield(self._ready), timeout)

    def new_id(self) -> int:
        rid = self._next_id
        self._next_id += 1
        return rid

    def send(self, header: dict[str, Any], payload: bytes = b"") -> None:
        if self.closed:
            raise KernelGone
        raw = marshal.dumps(header, _MARSHAL_VERSION)
        self._writer.write(_HDR.pack(len(raw), len(payload)) + raw + payload)

    def expect(self, rid: int) -> asyncio.Future[tuple[dict[str, Any], bytes]]:
        fut: asyncio.Future[tuple[dict[str, Any], bytes]] = (
            asyncio.get_running_loop().create_future()
        )
        if self.closed:
            fut.set_exception(KernelGone())
        else:
            self._pending[rid] = fut
        return fut

    async def request(
        self, header: dict[str, Any], payload: bytes = b"", *, timeout: float | None = None
    ) -> tuple[dict[str, Any], bytes]:
        rid = self.new_id()
        fut = self.expect(rid)
        try:
            self.send({**header, "id": rid}, payload)
            if len(payload) > 65536:
                await self._writer.drain()
            return await asyncio.wait_for(fut, timeout)
        finally:
            self._pending.pop(rid, None)

    async def _read_loop(self) -> None:
        error: BaseException = KernelGone()
        try:
            while True:
                hlen, plen = _HDR.unpack(await self._reader.readexactly(_HDR.size))
                if hlen > _MAX_FRAME or plen > _MAX_FRAME:
                    error = SandboxProtocolError(f"kernel sent a {hlen + plen}-byte frame")
                    break
                header = json.loads(await self._reader.readexactly(hlen))
                payload = await self._reader.readexactly(plen) if plen else b""
                rid = header.get("id")
                if rid == 0 and not self._ready.done():
                    self._ready.set_result(header)
                    continue
                fut = self._pending.pop(rid, None) if isinstance(rid, int) else None
                if fut is not None and not fut.done():
                    fut.set_result((header, payload))
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        except ValueError as exc:
            error = SandboxProtocolError(f"kernel sent a malformed frame: {exc}")
        finally:
            self.closed = True
            if not self._ready.done():
                self._ready.set_exception(KernelGone())
                self._ready.exception()  # mark retrieved
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(error)
            self._pending.clear()

    async def aclose(self) -> None:
        self.closed = True
        with contextlib.suppress(Exception):
            self._writer.close()
        self._task.cancel()
        with contextlib.suppress(BaseException):
            await self._task
