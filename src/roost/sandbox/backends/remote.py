"""Clients of the sandbox service (``roost sandbox serve``): :class:`RemoteSandboxManager`
(acquire/release/list, like :class:`~roost.sandbox.SandboxManager`) and
:class:`RemoteSandbox`, the same :class:`~roost.sandbox.Sandbox` API over HTTP.

Registered as backend ``remote``: ``create_sandbox(spec, backend="remote")`` talks to
``ROOST_SANDBOX_URL`` with ``ROOST_SANDBOX_TOKEN``. Errors come back as the same typed
errors (same ``code``) the service raised. Limits are the service's policy per type; a
client cannot raise them.

Answers are read like frames from a sandbox (decision 0140): a body may not exceed what
the call allows (``MAX_ANSWER`` for JSON, the file limit for downloads), and a large one
is parsed on a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import json as jsonlib
from typing import Any, TypeVar, cast

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from roost.core import (
    ConfigError,
    ImageBlock,
    NotFound,
    SandboxUnavailable,
    error_from_dict,
    get_settings,
    new_id,
)
from roost.sandbox.base import (
    ExecResult,
    FileInfo,
    PythonResult,
    Sandbox,
    SandboxInfo,
    SandboxSpec,
    SandboxStatus,
    SandboxType,
)
from roost.sandbox.errors import SandboxClosed, SandboxProtocolError

__all__ = [
    "RemoteBrowserSandbox",
    "RemoteGuiSandbox",
    "RemoteSandbox",
    "RemoteSandboxManager",
]

_MARGIN = 30.0
"""Seconds the HTTP call may take beyond the sandbox call's own timeout."""
MAX_ANSWER = 64 << 20
"""Largest JSON answer read (a cell's result with images is at most ~25 MiB)."""
_PARSE_INLINE = 256 << 10
"""JSON answers above this size are parsed on a worker thread."""
_T = TypeVar("_T")


async def _read_capped(response: httpx.Response, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise SandboxProtocolError(
                f"the sandbox service sent more than {limit} bytes",
                hint="check the service; a sandbox answer is never this large",
            )
        chunks.append(chunk)
    return b"".join(chunks)


@functools.cache
def _adapter(shape: Any) -> TypeAdapter[Any]:
    return TypeAdapter(shape)


async def parse_answer(body: bytes, shape: type[_T]) -> _T:
    """``body`` validated as ``shape`` (off the event loop when large)."""
    adapter: TypeAdapter[_T] = _adapter(cast(Any, shape))
    try:
        if len(body) > _PARSE_INLINE:
            return await asyncio.to_thread(adapter.validate_json, body)
        return adapter.validate_json(body)
    except ValidationError as exc:
        raise SandboxProtocolError(
            f"the sandbox service sent a malformed answer: {exc.error_count()} error(s)"
        ) from None


class _Sandboxes(BaseModel):
    sandboxes: list[SandboxInfo]


class _Released(BaseModel):
    released: int


class _Files(BaseModel):
    files: list[FileInfo]


class _Result(BaseModel):
    result: Any = None


class RemoteSandboxManager:
    """Talks to one sandbox service. ``url``/``token`` default to ``ROOST_SANDBOX_URL``
    and ``ROOST_SANDBOX_TOKEN``."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        settings = get_settings()
        url = url or settings.sandbox_url
        if not token and settings.sandbox_token is not None:
            token = settings.sandbox_token.get_secret_value()
        if not url:
            raise ConfigError("no sandbox service URL", hint="pass url= or set ROOST_SANDBOX_URL")
        if not token:
            raise ConfigError(
                "no sandbox service token", hint="pass token= or set ROOST_SANDBOX_TOKEN"
            )
        self.url = url.rstrip("/")
        self._client = httpx.AsyncClient(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> RemoteSandboxManager:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        params: dict[str, str] | None = None,
        timeout: float | None = None,
        limit: int = MAX_ANSWER,
    ) -> bytes:
        """One call to the service; returns the body (at most ``limit`` bytes). A non-2xx
        answer raises the typed error it carries."""
        request = self._client.build_request(
            method,
            path,
            json=json,
            content=content,
            params=params,
            timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
        )
        try:
            response = await self._client.send(request, stream=True)
            try:
                body = await _read_capped(response, limit if response.is_success else 1 << 20)
            finally:
                await response.aclose()
        except httpx.TimeoutException as exc:
            raise SandboxUnavailable(
                f"the sandbox service at {self.url} did not answer in time ({exc!r})",
                hint="raise the client timeout or check the service",
            ) from exc
        except httpx.HTTPError as exc:
            raise SandboxUnavailable(
                f"the sandbox service at {self.url} is unreachable: {exc!r}",
                hint="start it with `roost sandbox serve` or fix ROOST_SANDBOX_URL",
            ) from exc
        if response.is_success:
            return body
        try:
            error = jsonlib.loads(body)["error"]
            if not isinstance(error, dict):
                raise TypeError(error)
        except (ValueError, KeyError, TypeError):
            error = {
                "code": "sandbox_error",
                "message": f"HTTP {response.status_code}: {body[:300].decode(errors='replace')}",
            }
        raise error_from_dict(error)

    async def call(self, shape: type[_T], method: str, path: str, **kwargs: Any) -> _T:
        """``request`` whose JSON answer is validated as ``shape``."""
        return await parse_answer(await self.request(method, path, **kwargs), shape)

    async def health(self) -> dict[str, Any]:
        return await self.call(dict[str, Any], "GET", "/v1/health")  # type: ignore[arg-type]

    async def list_sandboxes(self) -> list[SandboxInfo]:
        return (await self.call(_Sandboxes, "GET", "/v1/sandboxes")).sandboxes

    async def acquire(self, session_id: str, type: SandboxType = "base") -> RemoteSandbox:
        """The session's sandbox of ``type`` on the service (the same one every call)."""
        body = {"session_id": session_id, "type": type}
        info = await self.call(SandboxInfo, "POST", "/v1/sandboxes", json=body)
        cls = {"browser": RemoteBrowserSandbox, "gui": RemoteGuiSandbox}.get(
            info.type, RemoteSandbox
        )
        return cls(self, info)

    async def release(self, session_id: str, type: SandboxType | None = None) -> int:
        path = f"/v1/sessions/{session_id}/release"
        return (await self.call(_Released, "POST", path, json={"type": type})).released


class RemoteSandbox(Sandbox):
    """A sandbox living in a sandbox service. Obtain one from
    :meth:`RemoteSandboxManager.acquire`, or build one with :meth:`from_env` /
    ``create_sandbox(spec, backend="remote")`` and ``start()`` it."""

    backend = "remote"

    def __init__(
        self,
        manager: RemoteSandboxManager,
        info: SandboxInfo | None = None,
        *,
        spec: SandboxSpec | None = None,
        owns_manager: bool = False,
    ) -> None:
        self._manager = manager
        self._owns_manager = owns_manager
        self._info = info
        self.spec = spec or SandboxSpec(type=info.type if info else "base")
        self.id = info.id if info else ""
        self._session = info.session_id if info else None

    @classmethod
    def from_env(cls, spec: SandboxSpec | None = None) -> RemoteSandbox:
        spec = spec or SandboxSpec()
        sandbox_cls = {"browser": RemoteBrowserSandbox, "gui": RemoteGuiSandbox}.get(
            spec.type, RemoteSandbox
        )
        return sandbox_cls(RemoteSandboxManager(), spec=spec, owns_manager=True)

    @property
    def _path(self) -> str:
        if self._info is None:
            raise SandboxClosed("the remote sandbox is not started", hint="call start() first")
        if self._info.status is SandboxStatus.CLOSED:
            raise SandboxClosed(f"sandbox {self.id} is closed", hint="acquire a new sandbox")
        return f"/v1/sandboxes/{self.id}"

    async def start(self) -> None:
        if self._info is not None:
            return
        self._session = new_id("rsess")
        body = {"session_id": self._session, "type": self.spec.type}
        self._info = await self._manager.call(SandboxInfo, "POST", "/v1/sandboxes", json=body)
        self.id = self._info.id

    async def close(self) -> None:
        if self._info is not None and self._info.status is not SandboxStatus.CLOSED:
            try:
                await self._manager.request("DELETE", f"/v1/sandboxes/{self.id}")
            except SandboxClosed:
                pass
            except Exception as exc:
                if getattr(exc, "code", None) != "not_found":
                    raise
            self._info = self._info.model_copy(update={"status": SandboxStatus.CLOSED})
        if self._owns_manager:
            await self._manager.aclose()

    def info(self) -> SandboxInfo:
        if self._info is None:
            return SandboxInfo(
                id=self.id, type=self.spec.type, backend="remote", status=SandboxStatus.STARTING
            )
        detail = {
            **self._info.detail,
            "id": self.id,
            "service": self._manager.url,
            "remote_backend": self._info.backend,
        }
        return self._info.model_copy(update={"backend": "remote", "detail": detail})

    async def refresh(self) -> SandboxInfo:
        """Fetch the sandbox's current status from the service."""
        self._info = await self._manager.call(SandboxInfo, "GET", self._path)
        return self.info()

    async def health(self) -> SandboxStatus:
        """The status the service reports; ``closed`` once the service no longer has it,
        ``dead`` while the service is unreachable."""
        if self._info is None or self._info.status is SandboxStatus.CLOSED:
            return self.info().status
        try:
            return (await self.refresh()).status
        except NotFound:
            self._info = self._info.model_copy(update={"status": SandboxStatus.CLOSED})
        except SandboxUnavailable:
            return SandboxStatus.DEAD
        return self.info().status

    async def run_python(self, code: str, *, timeout: float = 30.0) -> PythonResult:
        return await self._manager.call(
            PythonResult,
            "POST",
            f"{self._path}/python",
            json={"code": code, "timeout": timeout},
            timeout=timeout + _MARGIN,
        )

    async def run_shell(self, command: str, *, timeout: float = 30.0) -> ExecResult:
        return await self._manager.call(
            ExecResult,
            "POST",
            f"{self._path}/shell",
            json={"command": command, "timeout": timeout},
            timeout=timeout + _MARGIN,
        )

    async def read_file(self, path: str) -> bytes:
        limit = self.spec.limits.max_file_mb << 20
        return await self._manager.request(
            "GET", f"{self._path}/file", params={"path": path}, limit=limit
        )

    async def write_file(self, path: str, data: bytes | str) -> FileInfo:
        raw = data.encode() if isinstance(data, str) else bytes(data)
        return await self._manager.call(
            FileInfo, "PUT", f"{self._path}/file", params={"path": path}, content=raw
        )

    async def list_files(self, path: str = ".") -> list[FileInfo]:
        path_ = f"{self._path}/files"
        return (await self._manager.call(_Files, "GET", path_, params={"path": path})).files

    async def delete_file(self, path: str) -> None:
        await self._manager.request("DELETE", f"{self._path}/file", params={"path": path})

    async def _action(self, kind: str, action: str, **kwargs: Any) -> Any:
        path = f"{self._path}/{kind}/{action}"
        return (await self._manager.call(_Result, "POST", path, json=kwargs, timeout=120.0)).result


class RemoteBrowserSandbox(RemoteSandbox):
    """A browser sandbox in the service: the methods of
    :class:`~roost.sandbox.kinds.browser.BrowserSandbox`, over HTTP."""

    async def open(self, url: str) -> dict[str, Any]:
        return cast(dict[str, Any], await self._action("browser", "open", url=url))

    async def click(self, selector: str, *, timeout: float | None = None) -> dict[str, Any]:
        return cast(
            dict[str, Any],
            await self._action("browser", "click", selector=selector, timeout=timeout),
        )

    async def type(
        self, selector: str, text: str, *, submit: bool = False, timeout: float | None = None
    ) -> dict[str, Any]:
        return cast(
            dict[str, Any],
            await self._action(
                "browser", "type", selector=selector, text=text, submit=submit, timeout=timeout
            ),
        )

    async def extract_text(
        self, selector: str | None = None, *, timeout: float | None = None
    ) -> str:
        return str(
            await self._action("browser", "extract_text", selector=selector, timeout=timeout)
        )

    async def extract_links(self) -> list[dict[str, str]]:
        return cast(list[dict[str, str]], await self._action("browser", "extract_links"))

    async def screenshot(self, *, full_page: bool = False) -> ImageBlock:
        return ImageBlock.model_validate(
            await self._action("browser", "screenshot", full_page=full_page)
        )

    async def back(self) -> dict[str, Any]:
        return cast(dict[str, Any], await self._action("browser", "back"))

    async def forward(self) -> dict[str, Any]:
        return cast(dict[str, Any], await self._action("browser", "forward"))

    async def new_tab(self, url: str | None = None) -> dict[str, Any]:
        return cast(dict[str, Any], await self._action("browser", "new_tab", url=url))

    async def switch_tab(self, index: int) -> dict[str, Any]:
        return cast(dict[str, Any], await self._action("browser", "switch_tab", index=index))

    async def close_tab(self, index: int) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]], await self._action("browser", "close_tab", index=index))

    async def tabs(self) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]], await self._action("browser", "tabs"))


class RemoteGuiSandbox(RemoteSandbox):
    """A desktop sandbox in the service: the methods of
    :class:`~roost.sandbox.kinds.gui.GuiSandbox`, over HTTP."""

    async def screenshot(self) -> ImageBlock:
        return ImageBlock.model_validate(await self._action("gui", "screenshot"))

    async def move(self, x: int, y: int) -> None:
        await self._action("gui", "move", x=x, y=y)

    async def click(
        self,
        x: int | None = None,
        y: int | None = None,
        *,
        button: str = "left",
        double: bool = False,
    ) -> None:
        await self._action("gui", "click", x=x, y=y, button=button, double=double)

    async def type(self, text: str, *, delay_ms: int = 2) -> None:
        await self._action("gui", "type", text=text, delay_ms=delay_ms)

    async def key(self, combo: str) -> None:
        await self._action("gui", "key", combo=combo)

    async def launch(self, program: str, args: list[str] | None = None) -> int:
        return int(await self._action("gui", "launch", program=program, args=args))

    async def windows(self, name: str = ".") -> list[dict[str, object]]:
        return cast(list[dict[str, object]], await self._action("gui", "windows", name=name))


async def reap(detail: dict[str, Any]) -> None:
    """A dead local manager's remote sandbox: release it on the service."""
    url, sandbox_id = detail.get("service"), detail.get("id")
    if not url or not sandbox_id:
        return
    async with RemoteSandboxManager(url) as manager:
        try:
            await manager.request("DELETE", f"/v1/sandboxes/{sandbox_id}")
        except Exception as exc:
            if getattr(exc, "code", None) != "not_found":
                raise
