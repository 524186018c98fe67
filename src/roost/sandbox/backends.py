"""Sandbox backends by name, so the manager, the server and the CLI can choose one
from configuration (part B registers docker, kubernetes and remote here)."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from roost.sandbox.base import Sandbox, SandboxSpec
from roost.sandbox.errors import SandboxBackendUnknown

SandboxFactory = Callable[[SandboxSpec], Sandbox]
OrphanReaper = Callable[[dict[str, Any]], Awaitable[None]]
"""Cleans up a sandbox of a dead manager from its binding's ``detail``."""
DEFAULT_BACKEND = "bwrap"

_BACKENDS: dict[str, SandboxFactory] = {}
_REAPERS: dict[str, OrphanReaper] = {}


def register_backend(
    name: str, factory: SandboxFactory, *, reaper: OrphanReaper | None = None
) -> None:
    """Make ``factory(spec) -> Sandbox`` (not yet started) available as ``name``;
    ``reaper(detail)`` removes what such a sandbox leaves behind when its manager dies."""
    _BACKENDS[name] = factory
    if reaper is not None:
        _REAPERS[name] = reaper


def orphan_reaper(backend: str) -> OrphanReaper | None:
    return _REAPERS.get(backend)


# Backends that live in optional modules register themselves when imported.
_LAZY_MODULES = {
    "docker": "roost.sandbox.docker",
    "kubernetes": "roost.sandbox.kubernetes",
    "remote": "roost.sandbox.remote",
}


def backend_names() -> list[str]:
    return sorted(set(_BACKENDS) | set(_LAZY_MODULES))


def _load(name: str) -> SandboxFactory | None:
    if name not in _BACKENDS and name in _LAZY_MODULES:
        import importlib

        with contextlib.suppress(ImportError):
            importlib.import_module(_LAZY_MODULES[name])
    return _BACKENDS.get(name)


def create_sandbox(spec: SandboxSpec | None = None, backend: str = DEFAULT_BACKEND) -> Sandbox:
    """A new, not yet started sandbox from the named backend."""
    factory = _load(backend)
    if factory is None:
        raise SandboxBackendUnknown(
            f"no sandbox backend named {backend!r}",
            hint=f"choose one of {', '.join(backend_names())}",
        )
    return factory(spec or SandboxSpec())


def _bwrap(spec: SandboxSpec) -> Sandbox:
    """The default backend serves every sandbox type: browser and gui wrap a bwrap sandbox."""
    if spec.type == "browser":
        from roost.sandbox.browser import create_browser_sandbox

        return create_browser_sandbox(spec)
    if spec.type == "gui":
        from roost.sandbox.gui import create_gui_sandbox

        return create_gui_sandbox(spec)
    from roost.sandbox.bwrap import BwrapSandbox

    return BwrapSandbox(spec)


def _unsafe(spec: SandboxSpec) -> Sandbox:
    from roost.sandbox.process import UnsafeProcessSandbox

    return UnsafeProcessSandbox(spec)


async def _reap_local(detail: dict[str, Any]) -> None:
    from roost.sandbox.bwrap import reap_orphan

    await reap_orphan(detail)


register_backend("bwrap", _bwrap, reaper=_reap_local)
register_backend("unsafe-process", _unsafe, reaper=_reap_local)
