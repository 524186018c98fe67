"""``LocalModel``: the embedded default model, a llama.cpp server that Roost owns.

The server runs in a child process (``roost.models._local_server``, see decision 0020)
on 127.0.0.1 with a random port and a generated API key, and is reached through
:class:`OpenAIChatModel`, the same code path as vLLM or Ollama in production. It starts
lazily on first use, is shared by every ``LocalModel`` of the process with the same model
file and parameters, and stops at exit. A server that died makes the next call fail with
``ModelUnavailable`` (so a gateway can fall back) and the call after that restart it.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import secrets
import select
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, ClassVar

import httpx

from roost.core import (
    ConfigError,
    Event,
    ModelBadResponse,
    ModelUnavailable,
    Msg,
)
from roost.core.settings import get_settings
from roost.models.base import BaseChatModel, ModelRequest
from roost.models.catalogue import CATALOGUE, get_entry
from roost.models.install import check_gguf, resolve_model_path
from roost.models.openai import OpenAIChatModel

_LOG_TAIL = 800
_LOG_ROTATE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class ServerConfig:
    """What makes two ``LocalModel`` instances share one server."""

    model_path: str
    n_ctx: int
    n_threads: int
    n_parallel: int


class LocalServer:
    """One llama.cpp child process; start and stop are thread-safe and idempotent."""

    def __init__(self, config: ServerConfig, *, startup_timeout: float) -> None:
        self.config = config
        self.startup_timeout = startup_timeout
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None
        self.base_url: str | None = None
        self._api_key: str | None = None
        self.generation = 0
        """Incremented at every (re)start, so clients know to reconnect."""
        self.ready_seconds: float | None = None

    # -- state ----------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def api_key(self) -> str | None:
        return self._api_key

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def dead(self) -> bool:
        """Started once and exited since (crash, OOM kill, ``kill -9``)."""
        return self._proc is not None and self._proc.poll() is not None

    def rss_bytes(self) -> int | None:
        """Resident memory of the server process (Linux ``/proc``), for benchmarks."""
        if not self.running() or self.pid is None:
            return None
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            return None
        return None

    # -- lifecycle ------------------------------------------------------------------------
    def ensure_running(self) -> tuple[str, str, int]:
        """Start the server if needed (blocking); return ``(base_url, api_key, generation)``."""
        with self._lock:
            if self.running() and self.base_url and self._api_key:
                return self.base_url, self._api_key, self.generation
            self._reap()
            self._start()
            assert self.base_url is not None and self._api_key is not None
            return self.base_url, self._api_key, self.generation

    def take_death(self, grace: float = 0.0) -> str | None:
        """If the process died, forget it (so the next use restarts) and say how.

        ``grace``: a killed server closes its sockets a moment before it can be reaped,
        so after a dropped connection wait that long for the exit to show.
        """
        with self._lock:
            proc = self._proc
            if proc is not None and grace > 0:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(grace)
            if not self.dead():
                return None
            return self._reap()

    def stop(self, timeout: float = 10.0) -> None:
        """Close the child's stdin (it stops cleanly); kill it if it does not."""
        with self._lock:
            proc = self._proc
            if proc is None:
                return
            if proc.poll() is None:
                with contextlib.suppress(OSError):
                    assert proc.stdin is not None
                    proc.stdin.close()
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            self._reap()

    def _reap(self) -> str | None:
        proc, self._proc = self._proc, None
        self.base_url = None
        self._api_key = None
        if proc is None:
            return None
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        code = proc.poll()
        if code is None:
            proc.kill()
            code = proc.wait()
        return f"pid {proc.pid} exited with {_describe_exit(code)}"

    def _start(self) -> None:
        settings = get_settings()
        log_dir = settings.home / "logs"
        log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._log_path = log_dir / "local-model.log"
        with contextlib.suppress(OSError):
            if self._log_path.stat().st_size > _LOG_ROTATE_BYTES:
                os.replace(self._log_path, self._log_path.with_name("local-model.log.1"))
        api_key = secrets.token_urlsafe(24)
        env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
        started = time.monotonic()
        fd = os.open(self._log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            proc = subprocess.Popen(
                # Run the file as a script (-P: its directory is not put on sys.path), so
                # the child does not pay for importing roost: ~0.4 s off time-to-ready.
                [sys.executable, "-P", str(Path(__file__).with_name("_local_server.py"))],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=fd,
                env=env,
                start_new_session=True,
            )
        finally:
            os.close(fd)
        self._proc = proc
        assert proc.stdin is not None and proc.stdout is not None
        request = {
            "model_path": self.config.model_path,
            "n_ctx": self.config.n_ctx * self.config.n_parallel,
            "n_threads": self.config.n_threads,
            "n_parallel": self.config.n_parallel,
            "api_key": api_key,
        }
        try:
            proc.stdin.write((json.dumps(request) + "\n").encode())
            proc.stdin.flush()
            answer = _read_line(proc.stdout, started + self.startup_timeout)
            if answer is None:
                raise ModelUnavailable(
                    f"local model server did not start within {self.startup_timeout:.0f}s "
                    f"({self._exit_or_running(proc)}); log: {self.log_tail()}",
                    hint="check the log, free memory, or raise startup_timeout",
                )
            reply = json.loads(answer)
            if "address" not in reply:
                raise ModelUnavailable(
                    f"local model server failed to start: {reply.get('error', reply)}; "
                    f"log: {self.log_tail()}",
                    hint="is the file a valid GGUF model that fits in memory?",
                )
            base_url = str(reply["address"]).rstrip("/")
            _wait_healthy(base_url, started + self.startup_timeout)
        except BaseException:
            self._reap()
            raise
        self.base_url = base_url
        self._api_key = api_key
        self.generation += 1
        self.ready_seconds = time.monotonic() - started

    def _exit_or_running(self, proc: subprocess.Popen[bytes]) -> str:
        code = proc.poll()
        return "still loading" if code is None else f"exited with {_describe_exit(code)}"

    def log_tail(self) -> str:
        if self._log_path is None:
            return "(no log)"
        try:
            with self._log_path.open("rb") as fh:
                fh.seek(0, os.SEEK_END)
                fh.seek(max(0, fh.tell() - _LOG_TAIL))
                return fh.read().decode(errors="replace").strip().replace("\n", " | ")
        except OSError:
            return "(no log)"


def _describe_exit(code: int) -> str:
    if code < 0:
        import signal

        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"code {code}"


def _read_line(stream: IO[bytes], deadline: float) -> str | None:
    """One line from the child's stdout, or ``None`` at the deadline or on EOF."""
    buffer = b""
    while not buffer.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        readable, _, _ = select.select([stream], [], [], min(remaining, 0.5))
        if not readable:
            continue
        chunk = os.read(stream.fileno(), 4096)
        if not chunk:
            return None
        buffer += chunk
    return buffer.decode(errors="replace").strip()


def _wait_healthy(base_url: str, deadline: float) -> None:
    """``/health`` answers 503 while the model loads and 200 once it can serve."""
    last = "no answer"
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            try:
                response = client.get(f"{base_url}/health")
                if response.status_code == 200:
                    return
                last = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            time.sleep(0.05)
    raise ModelUnavailable(f"local model server at {base_url} never became healthy ({last})")


# --- process-wide registry -------------------------------------------------------------
_SERVERS: dict[ServerConfig, LocalServer] = {}
_REGISTRY_LOCK = threading.Lock()


def _server_for(config: ServerConfig, startup_timeout: float) -> LocalServer:
    with _REGISTRY_LOCK:
        server = _SERVERS.get(config)
        if server is None:
            server = LocalServer(config, startup_timeout=startup_timeout)
            _SERVERS[config] = server
        return server


def _stop_all() -> None:
    with _REGISTRY_LOCK:
        servers = list(_SERVERS.values())
    for server in servers:
        server.stop()


atexit.register(_stop_all)


def default_threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


class LocalModel(BaseChatModel):
    """The embedded llama.cpp model; works offline, with no API key.

    ``n_ctx`` is the context per request; the server reserves ``n_ctx * n_parallel``
    tokens so ``n_parallel`` requests (agents sharing the model) run side by side.
    """

    provider = "local"
    preferred_tool_mode: ClassVar[str] = "decision"
    """Small models call tools reliably only through schema-constrained decisions."""

    def __init__(
        self,
        name: str | None = None,
        *,
        path: str | os.PathLike[str] | None = None,
        n_threads: int | None = None,
        n_ctx: int = 4096,
        n_parallel: int = 2,
        startup_timeout: float = 120.0,
        request_timeout: float = 300.0,
    ) -> None:
        if name is not None and path is not None:
            raise ConfigError("give LocalModel a catalogue name or a path, not both")
        threads = default_threads() if n_threads is None else n_threads
        for label, value in (("n_threads", threads), ("n_ctx", n_ctx), ("n_parallel", n_parallel)):
            if value < 1:
                raise ConfigError(f"LocalModel {label} must be at least 1, got {value}")
        settings = get_settings()
        self._name = name
        self._path: Path | None = None
        if path is not None:
            self._path = check_gguf(Path(path).expanduser()).resolve()
            self.model_name = _catalogue_name(self._path) or self._path.stem
        elif name is None and settings.local_model:
            self.model_name = Path(settings.local_model).stem
        else:
            # Validate the name now; whether it is installed is checked on first use, so a
            # LocalModel can sit in a fallback chain (or be built before `ensure_model`).
            self.model_name = get_entry(name or settings.local_model_name).name
        self.n_ctx, self.n_threads, self.n_parallel = n_ctx, threads, n_parallel
        self.startup_timeout = startup_timeout
        self.request_timeout = request_timeout
        self._delegate: OpenAIChatModel | None = None
        self._delegate_generation = -1

    def __repr__(self) -> str:
        return f"LocalModel(model={self.model_name!r})"

    @property
    def model_path(self) -> Path:
        """The GGUF file; raises ``ModelNotInstalled`` (with the fix) if it is missing."""
        if self._path is None:
            self._path = resolve_model_path(self._name).resolve()
        return self._path

    @property
    def config(self) -> ServerConfig:
        return ServerConfig(str(self.model_path), self.n_ctx, self.n_threads, self.n_parallel)

    @property
    def server(self) -> LocalServer:
        """The shared server process behind this model (may not be started yet)."""
        return _server_for(self.config, self.startup_timeout)

    async def start(self) -> LocalServer:
        """Start the server now instead of on the first request (e.g. to warm up)."""
        server = self.server
        await asyncio.to_thread(server.ensure_running)
        return server

    @classmethod
    async def shutdown_all(cls) -> None:
        """Stop every local server of this process (also done at interpreter exit)."""
        await asyncio.to_thread(_stop_all)

    async def aclose(self) -> None:
        delegate, self._delegate = self._delegate, None
        if delegate is not None:
            await delegate.aclose()

    async def request_stream(
        self, messages: Sequence[Msg], request: ModelRequest
    ) -> AsyncIterator[Event]:
        server = self.server
        # Never block the event loop on the server lock (a start may hold it for seconds).
        death = await asyncio.to_thread(server.take_death) if server.dead() else None
        if death is not None:
            raise ModelUnavailable(
                f"the local model server died ({death}); it restarts on the next call",
                hint=f"server log: {server.log_tail()}",
            )
        delegate = await self._client(server)
        try:
            async for event in delegate.request_stream(messages, request):
                yield event
        except (ModelUnavailable, ModelBadResponse, httpx.TransportError) as exc:
            death = await asyncio.to_thread(server.take_death, 1.0)
            if death is not None:
                raise ModelUnavailable(
                    f"the local model server died during the request ({death}); "
                    "it restarts on the next call",
                    hint=f"server log: {server.log_tail()}",
                ) from exc
            raise

    async def _client(self, server: LocalServer) -> OpenAIChatModel:
        base_url, api_key, generation = await asyncio.to_thread(server.ensure_running)
        if self._delegate is None or self._delegate_generation != generation:
            if self._delegate is not None:
                with contextlib.suppress(Exception):
                    await self._delegate.aclose()
            self._delegate = OpenAIChatModel(
                self.model_name,
                base_url=f"{base_url}/v1",
                api_key=api_key,
                timeout=self.request_timeout,
                max_retries=0,
                provider=self.provider,
            )
            self._delegate_generation = generation
        return self._delegate


def _catalogue_name(path: Path) -> str | None:
    for entry in CATALOGUE.values():
        if path.name == entry.filename:
            return entry.name
    return None
