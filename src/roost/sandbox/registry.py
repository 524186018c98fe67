"""The one registry of sandbox code: each backend name has a factory and an orphan
reaper, each sandbox type (``base``, ``filesystem``, ``browser``, ``gui``) its agent
tools and how it is built on a base sandbox. The manager, the pool, the service, the
tools and the CLI all ask it; built-in entries import their module on first use.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from roost.sandbox.base import Sandbox, SandboxProvider, SandboxSpec
from roost.sandbox.errors import SandboxBackendUnknown, SandboxError, SandboxUnavailable

if TYPE_CHECKING:
    from roost.tools import Tool

SandboxFactory = Callable[[SandboxSpec], Sandbox]
OrphanReaper = Callable[[dict[str, Any]], Awaitable[None]]
"""Cleans up a sandbox of a dead manager from its binding's ``detail``."""
ToolsetFactory = Callable[[SandboxProvider], "list[Tool]"]
DEFAULT_BACKEND = "bwrap"


@dataclass(frozen=True)
class Backend:
    factory: SandboxFactory
    """``factory(spec)``: a new, not yet started sandbox."""
    reaper: OrphanReaper | None = None
    typed: bool = False
    """It builds every sandbox type itself (the remote service): no wrapping here."""


@dataclass(frozen=True)
class Kind:
    toolset: ToolsetFactory
    """The agent tools of this type (``toolset(provider)``)."""
    wrap: Callable[[Sandbox], Sandbox] | None = None
    """Builds a sandbox of this type around a started-later base sandbox."""
    spec: Callable[[SandboxSpec], SandboxSpec] | None = None
    """Adjusts the spec first (e.g. the browser's larger limits)."""
    backends: Collection[str] | None = None
    """The backends it runs on (None: every one)."""


class SandboxRegistry:
    def __init__(self) -> None:
        self._backends: dict[str, Backend] = {}
        self._kinds: dict[str, Kind] = {}

    def add_backend(
        self,
        name: str,
        factory: SandboxFactory,
        *,
        reaper: OrphanReaper | None = None,
        typed: bool = False,
    ) -> None:
        self._backends[name] = Backend(factory, reaper, typed)

    def add_kind(
        self,
        type: str,
        toolset: ToolsetFactory,
        *,
        wrap: Callable[[Sandbox], Sandbox] | None = None,
        spec: Callable[[SandboxSpec], SandboxSpec] | None = None,
        backends: Collection[str] | None = None,
    ) -> None:
        self._kinds[type] = Kind(toolset, wrap, spec, backends)

    def backend_names(self) -> list[str]:
        return sorted(self._backends)

    def backend(self, name: str) -> Backend:
        backend = self._backends.get(name)
        if backend is None:
            raise SandboxBackendUnknown(
                f"no sandbox backend named {name!r}",
                hint=f"choose one of {', '.join(self.backend_names())}",
            )
        return backend

    def kind(self, type: str) -> Kind:
        kind = self._kinds.get(type)
        if kind is None:
            raise SandboxError(
                f"no sandbox type {type!r}", hint=f"use one of {', '.join(sorted(self._kinds))}"
            )
        return kind

    def create(self, spec: SandboxSpec, backend: str = DEFAULT_BACKEND) -> Sandbox:
        """A new, not yet started sandbox of ``spec.type`` on ``backend``."""
        entry = self.backend(backend)
        if entry.typed:
            return entry.factory(spec)
        kind = self.kind(spec.type)
        if kind.backends is not None and backend not in kind.backends:
            raise SandboxUnavailable(
                f"{spec.type} sandboxes run on the {', '.join(kind.backends)} backend only",
                hint=f"use backend {next(iter(kind.backends))!r} for type {spec.type!r}",
            )
        sandbox = entry.factory(kind.spec(spec) if kind.spec else spec)
        return kind.wrap(sandbox) if kind.wrap else sandbox

    def reaper(self, backend: str) -> OrphanReaper | None:
        entry = self._backends.get(backend)
        return entry.reaper if entry else None

    def tools(self, type: str, provider: SandboxProvider) -> list[Tool]:
        return self.kind(type).toolset(provider)


def _lazy(target: str) -> Any:
    """``"module:attr.attr"``, imported when first called (optional, heavy modules)."""

    def call(*args: Any) -> Any:
        module, _, path = target.partition(":")
        found: Any = functools.reduce(getattr, path.split("."), importlib.import_module(module))
        return found(*args)

    return call


_B = "roost.sandbox.backends."
_K = "roost.sandbox.kinds."
registry = SandboxRegistry()
registry.add_backend("bwrap", _lazy(_B + "bwrap:BwrapSandbox"), reaper=_lazy(_B + "bwrap:reap"))
registry.add_backend(
    "unsafe-process", _lazy(_B + "process:UnsafeProcessSandbox"), reaper=_lazy(_B + "bwrap:reap")
)
registry.add_backend("docker", _lazy(_B + "docker:DockerSandbox"), reaper=_lazy(_B + "docker:reap"))
registry.add_backend(
    "kubernetes", _lazy(_B + "kubernetes:KubernetesSandbox"), reaper=_lazy(_B + "kubernetes:reap")
)
registry.add_backend(
    "remote",
    _lazy(_B + "remote:RemoteSandbox.from_env"),
    reaper=_lazy(_B + "remote:reap"),
    typed=True,
)
registry.add_kind("base", _lazy(_K + "base_tools:base_tools"))
registry.add_kind("filesystem", _lazy(_K + "base_tools:file_tools"))
registry.add_kind(
    "browser",
    _lazy(_K + "browser_tools:toolset"),
    wrap=_lazy(_K + "browser:BrowserSandbox.around"),
    spec=_lazy(_K + "browser:browser_spec"),
    backends=("bwrap",),
)
registry.add_kind("gui", _lazy(_K + "gui_tools:toolset"), wrap=_lazy(_K + "gui:GuiSandbox"))


def register_backend(
    name: str, factory: SandboxFactory, *, reaper: OrphanReaper | None = None
) -> None:
    """Make ``factory(spec) -> Sandbox`` (not yet started) available as ``name``;
    ``reaper(detail)`` removes what such a sandbox leaves behind when its manager dies."""
    registry.add_backend(name, factory, reaper=reaper)


def backend_names() -> list[str]:
    return registry.backend_names()


def create_sandbox(spec: SandboxSpec | None = None, backend: str = DEFAULT_BACKEND) -> Sandbox:
    """A new, not yet started sandbox from the named backend."""
    return registry.create(spec or SandboxSpec(), backend)
