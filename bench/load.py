"""Load generator for the benchmarks: a raw asyncio HTTP/1.1 client for SSE streams.

A raw client (instead of httpx) keeps the generator's own CPU small, which matters on a
2-core machine where the generator shares the cores with the server under test: the less it
spends, the less it distorts throughput at concurrency 200. It speaks only what the servers
under test answer with: keep-alive HTTP/1.1, ``content-length`` or ``chunked`` bodies, and
SSE ``data:`` lines. Each worker owns one connection and reconnects when the server closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class HttpRequest:
    """One request to replay: the same bytes are sent for every run."""

    method: str
    path: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self, host: str) -> bytes:
        lines = [f"{self.method} {self.path} HTTP/1.1", f"host: {host}"]
        lines += [f"{name}: {value}" for name, value in self.headers.items()]
        if self.body or self.method in ("POST", "PUT", "PATCH"):
            lines.append(f"content-length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


@dataclass
class HttpResponse:
    """A fully read response; ``first_byte`` is the monotonic time the body started."""

    status: int
    headers: dict[str, str]
    body: bytes
    first_byte: float
    keep_alive: bool

    def sse_data(self) -> list[bytes]:
        """The payloads of the SSE ``data:`` lines, in order."""
        out = []
        for line in self.body.split(b"\n"):
            if line.startswith(b"data:"):
                out.append(line[5:].strip())
        return out

    def sse_event_names(self) -> list[bytes]:
        """The names of the SSE ``event:`` lines, in order (empty when the stream has none)."""
        return [line[6:].strip() for line in self.body.split(b"\n") if line.startswith(b"event:")]


Validator = Callable[[HttpResponse], bool]


class LoadError(Exception):
    """The server under test broke the protocol (bad status line, truncated body)."""


class Connection:
    """One keep-alive HTTP/1.1 connection that reconnects when the server closes it."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or parts.hostname is None or parts.port is None:
            raise ValueError(f"need http://host:port, got {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port
        self.host_header = f"{self.host}:{self.port}"
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection(
                self.host, self.port, limit=1 << 20
            )
        return self._reader, self._writer

    async def send(self, request: HttpRequest) -> HttpResponse:
        """Send one request and read the whole response (retrying once on a stale socket)."""
        for attempt in (0, 1):
            reader, writer = await self._connect()
            try:
                writer.write(request.encode(self.host_header))
                await writer.drain()
                response = await self._read(reader)
            except (ConnectionError, asyncio.IncompleteReadError) as exc:
                await self.close()
                if attempt == 1:
                    raise LoadError(f"connection failed: {exc!r}") from exc
                continue
            if not response.keep_alive:
                await self.close()
            return response
        raise AssertionError("unreachable")

    async def _read(self, reader: asyncio.StreamReader) -> HttpResponse:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        try:
            version, status, *_ = lines[0].split(" ", 2)
            code = int(status)
        except ValueError as exc:
            raise LoadError(f"bad status line {lines[0]!r}") from exc
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name:
                headers[name.strip().lower()] = value.strip()
        keep_alive = headers.get("connection", "").lower() != "close" and version == "HTTP/1.1"
        if "content-length" in headers:
            first = time.perf_counter()
            body = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body, first = await self._read_chunked(reader)
        else:
            first = time.perf_counter()
            body = await reader.read()
            keep_alive = False
        return HttpResponse(code, headers, body, first, keep_alive)

    async def _read_chunked(self, reader: asyncio.StreamReader) -> tuple[bytes, float]:
        parts: list[bytes] = []
        first = 0.0
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip(), 16)
            if not first:
                first = time.perf_counter()
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                return b"".join(parts), first
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile ``q`` in [0, 100] (NaN for no values)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


Scenario = Callable[[Connection, int], Awaitable[HttpResponse]]
"""One run as a sequence of requests on a worker's connection (e.g. create a session, then
stream a run in it); its latency covers all of them and its last response is validated."""


@dataclass
class LoadReport:
    """What one load run measured; times in milliseconds, throughput in runs per second."""

    concurrency: int
    requests: int
    ok: int
    errors: int
    wall_s: float
    throughput_rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    ttfb_p50_ms: float
    events_per_run: float
    first_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


async def run_load(
    base_url: str,
    request: HttpRequest | Callable[[int], HttpRequest] | None = None,
    *,
    scenario: Scenario | None = None,
    total: int,
    concurrency: int,
    validate: Validator | None = None,
) -> LoadReport:
    """Send ``total`` requests from ``concurrency`` workers, each on its own connection.

    A run is either one ``request`` (fixed, or built from the run's index) or a ``scenario``.
    It counts as ok when the last status is 200 and ``validate`` (given the last response)
    returns True; otherwise it is an error and the first error's description is kept.
    """
    if total < 1 or concurrency < 1:
        raise ValueError("total and concurrency must be >= 1")
    if (request is None) == (scenario is None):
        raise ValueError("pass exactly one of request and scenario")
    if scenario is None:
        fixed = request

        async def single(conn: Connection, index: int) -> HttpResponse:
            assert fixed is not None
            return await conn.send(fixed(index) if callable(fixed) else fixed)

        scenario = single
    run_one = scenario
    latencies: list[float] = []
    ttfbs: list[float] = []
    events: list[int] = []
    errors = 0
    first_error: str | None = None
    next_index = 0

    async def worker() -> None:
        nonlocal errors, first_error, next_index
        conn = Connection(base_url)
        try:
            while next_index < total:
                index = next_index
                next_index += 1
                started = time.perf_counter()
                try:
                    response = await run_one(conn, index)
                except (LoadError, OSError, ValueError) as exc:
                    errors += 1
                    first_error = first_error or repr(exc)
                    await asyncio.sleep(0.01)
                    continue
                done = time.perf_counter()
                if response.status != 200 or (validate is not None and not validate(response)):
                    errors += 1
                    if first_error is None:
                        first_error = f"HTTP {response.status}: {response.body[-300:]!r}"
                    continue
                latencies.append(done - started)
                ttfbs.append(response.first_byte - started)
                events.append(response.body.count(b"data:"))
        finally:
            await conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, total))))
    wall = time.perf_counter() - started
    ms = [x * 1000 for x in latencies]
    return LoadReport(
        concurrency=concurrency,
        requests=total,
        ok=len(latencies),
        errors=errors,
        wall_s=round(wall, 4),
        throughput_rps=round(len(latencies) / wall, 2) if wall > 0 else 0.0,
        p50_ms=round(percentile(ms, 50), 3),
        p90_ms=round(percentile(ms, 90), 3),
        p99_ms=round(percentile(ms, 99), 3),
        mean_ms=round(sum(ms) / len(ms), 3) if ms else math.nan,
        ttfb_p50_ms=round(percentile([x * 1000 for x in ttfbs], 50), 3),
        events_per_run=round(sum(events) / len(events), 2) if events else 0.0,
        first_error=first_error,
    )


async def fetch(base_url: str, request: HttpRequest, timeout: float = 5.0) -> HttpResponse:
    """One request on a fresh connection (health checks, setup calls)."""
    conn = Connection(base_url)
    try:
        return await asyncio.wait_for(conn.send(request), timeout)
    finally:
        await conn.close()
