"""Host side of the kernel protocol: length-prefixed frames over a stream to the
sandbox's supervisor, requests multiplexed by id so shell and file calls run while a
cell is busy.

Every byte from the sandbox is hostile until checked (decision 0140): a header is a
small flat JSON object (at most ``MAX_HEADER`` bytes); bulk data arrives as raw payload
"parts" whose lengths the header lists, and a payload may not exceed what the request
it answers allows (``expect(rid, limit)``). Nothing large is ever parsed: the cost of a
frame is linear in its size and bounded by the request. A frame that breaks a rule (too
big, malformed, unsolicited, parts that do not add up) ends the channel with
``SandboxProtocolError`` and calls ``on_violation``, which kills that sandbox.

Requests are ``marshal``-encoded (the kernel then needs no ``json``/``re`` import at
start-up); the host never unmarshals bytes from a sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import marshal
import struct
from collections.abc import Callable
from typing import Any

from roost.sandbox.errors import SandboxProtocolError

_HDR = struct.Struct("!II")
_MARSHAL_VERSION = 4
"""Plain dicts/str/int/float only: stable across Python 3.x, so the sandbox interpreter
may be another 3.x than the server's."""

MAX_HEADER = 64 << 10
TEXT_CAP = 1 << 20
"""Bytes of one text output; the kernel cuts the rest (``kernel._TEXT_CAP``)."""
EXEC_LIMIT = 4 * (TEXT_CAP + 128) + (16 << 20)
"""Payload of a cell's answer: four texts and at most 16 MiB of images."""
SHELL_LIMIT = 2 * (TEXT_CAP + 128)
LIST_LIMIT = 16 << 20
_MAX_PARTS = 80
_SCALARS = (str, int, float, bool, type(None))

Parts = list[tuple[str, bytes]]
Frame = tuple[dict[str, Any], Parts]


class KernelGone(Exception):
    """The kernel closed its channel (it exited or was killed)."""


class _Violation(Exception):
    """A frame broke the protocol; the message says how."""


def parse_header(raw: bytes) -> dict[str, Any]:
    """A frame header: a JSON object of scalars (plus ``parts``) with an integer id."""
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise _Violation(f"malformed header ({type(exc).__name__})") from None
    if not isinstance(header, dict):
        raise _Violation("the header is not a JSON object")
    for key, value in header.items():
        if key != "parts" and not isinstance(value, _SCALARS):
            raise _Violation(f"header field {key[:40]!r} is not a scalar")
    rid = header.get("id")
    if not isinstance(rid, int) or isinstance(rid, bool):
        raise _Violation("the header has no integer id")
    return header


def part_lengths(header: dict[str, Any], payload_len: int) -> list[tuple[str, int]]:
    """The payload's parts as (name, length); they must add up to the payload."""
    parts = header.get("parts", [])
    if not isinstance(parts, list) or len(parts) > _MAX_PARTS:
        raise _Violation("bad parts list")
    out: list[tuple[str, int]] = []
    for part in parts:
        if (
            not isinstance(part, list)
            or len(part) != 2
            or not isinstance(part[0], str)
            or type(part[1]) is not int
            or part[1] < 0
        ):
            raise _Violation("bad part entry")
        out.append((part[0][:40], part[1]))
    if sum(n for _, n in out) != payload_len:
        raise _Violation(f"parts do not add up to the {payload_len}-byte payload")
    return out


class KernelChannel:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        on_violation: Callable[[str], None] | None = None,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._on_violation = on_violation
        self._next_id = 1
        self._pending: dict[int, tuple[asyncio.Future[Frame] | None, int]] = {}
        """id -> (waiter, largest payload allowed); a None waiter gave up (timeout):
        its late answer is read within the limit and dropped."""
        loop = asyncio.get_running_loop()
        self._ready: asyncio.Future[Frame] = loop.create_future()
        self._pending[0] = (self._ready, 0)
        self._task = asyncio.create_task(self._read_loop())
        self.closed = False
        self.error: BaseException | None = None
        """Why the channel ended: ``KernelGone`` or ``SandboxProtocolError``."""

    async def wait_ready(self, timeout: float) -> dict[str, Any]:
        header, _ = await asyncio.wait_for(asyncio.shield(self._ready), timeout)
        return header

    def new_id(self) -> int:
        rid = self._next_id
        self._next_id += 1
        return rid

    def send(self, header: dict[str, Any], payload: bytes = b"") -> None:
        if self.closed:
            raise KernelGone
        raw = marshal.dumps(header, _MARSHAL_VERSION)
        self._writer.write(_HDR.pack(len(raw), len(payload)) + raw + payload)

    def expect(self, rid: int, limit: int = 0) -> asyncio.Future[Frame]:
        """A future for the answer to ``rid``, whose payload may be up to ``limit`` bytes."""
        fut: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        if self.closed:
            fut.set_exception(KernelGone())
        else:
            self._pending[rid] = (fut, limit)
        return fut

    def abandon(self, rid: int) -> None:
        """The caller no longer waits for ``rid``: a late answer is dropped."""
        entry = self._pending.get(rid)
        if entry is not None:
            fut, limit = entry
            if fut is not None and fut.done():
                del self._pending[rid]
            else:
                self._pending[rid] = (None, limit)

    async def request(
        self,
        header: dict[str, Any],
        payload: bytes = b"",
        *,
        timeout: float | None = None,
        limit: int = 0,
    ) -> Frame:
        rid = self.new_id()
        fut = self.expect(rid, limit)
        try:
            self.send({**header, "id": rid}, payload)
            if len(payload) > 65536:
                await self._writer.drain()
            return await asyncio.wait_for(fut, timeout)
        finally:
            self.abandon(rid)

    async def _read_loop(self) -> None:
        error: BaseException = KernelGone()
        fut: asyncio.Future[Frame] | None = None
        try:
            while True:
                fut = None
                hlen, plen = _HDR.unpack(await self._reader.readexactly(_HDR.size))
                if hlen > MAX_HEADER:
                    raise _Violation(f"a {hlen}-byte header (limit {MAX_HEADER})")
                header = parse_header(await self._reader.readexactly(hlen))
                rid = header["id"]
                entry = self._pending.pop(rid, None)
                if entry is None:
                    raise _Violation(f"an answer to id {rid}, which was not asked")
                fut, limit = entry
                if plen > limit:
                    raise _Violation(f"a {plen}-byte payload for id {rid} (limit {limit})")
                lengths = part_lengths(header, plen)
                payload = await self._reader.readexactly(plen) if plen else b""
                parts: Parts = [(lengths[0][0], payload)] if len(lengths) == 1 else []
                at = 0
                for name, n in lengths if len(lengths) > 1 else ():
                    parts.append((name, payload[at : at + n]))
                    at += n
                if fut is not None and not fut.done():
                    fut.set_result((header, parts))
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        except _Violation as exc:
            error = SandboxProtocolError(
                f"the sandbox sent a bad frame: {exc}; it was killed",
                hint="retry: the sandbox is replaced (variables are lost, files are kept)",
            )
            if self._on_violation is not None:
                self._on_violation(str(exc))
        finally:
            self.closed = True
            self.error = error
            waiters = [fut, *(f for f, _ in self._pending.values())]
            self._pending.clear()
            for waiter in waiters:
                if waiter is not None and not waiter.done():
                    waiter.set_exception(error)
                    waiter.exception()  # retrieved: a waiter may have given up already

    async def wait_closed(self) -> BaseException | None:
        """Wait until the sandbox side ends the channel; returns why (see ``error``)."""
        await asyncio.shield(self._task)
        return self.error

    async def aclose(self) -> None:
        self.closed = True
        with contextlib.suppress(Exception):
            self._writer.close()
        self._task.cancel()
        with contextlib.suppress(BaseException):
            await self._task


def text(parts: Parts, name: str) -> str | None:
    """The part ``name`` as text (None when absent); bad UTF-8 becomes U+FFFD."""
    for part, data in parts:
        if part == name:
            return data.decode("utf-8", "replace")
    return None


def data(parts: Parts, name: str) -> bytes:
    for part, value in parts:
        if part == name:
            return value
    return b""
