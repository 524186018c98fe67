"""Isolated code, files, browser and desktop for agents (the ``Sandbox`` API, the
bubblewrap default backend, pools, the session manager and the agent tools)."""

from roost.sandbox.backends import (
    DEFAULT_BACKEND,
    backend_names,
    create_sandbox,
    register_backend,
)
from roost.sandbox.base import (
    ExecResult,
    FileInfo,
    PythonResult,
    Sandbox,
    SandboxInfo,
    SandboxLimits,
    SandboxSpec,
    SandboxStatus,
    SandboxType,
)
from roost.sandbox.bindings import (
    InMemorySandboxBindingStore,
    SandboxBinding,
    SandboxBindingStore,
)
from roost.sandbox.bwrap import BwrapSandbox
from roost.sandbox.errors import (
    SandboxBackendUnknown,
    SandboxClosed,
    SandboxDead,
    SandboxError,
    SandboxFileNotFound,
    SandboxFileTooLarge,
    SandboxPathInvalid,
    SandboxPoolExhausted,
    SandboxProtocolError,
    SandboxQuotaExceeded,
    SandboxTimeout,
    SandboxUnavailable,
)
from roost.sandbox.manager import SandboxManager, release_session
from roost.sandbox.pool import SandboxPool
from roost.sandbox.process import UnsafeProcessSandbox

__all__ = [
    "DEFAULT_BACKEND",
    "BwrapSandbox",
    "ExecResult",
    "FileInfo",
    "InMemorySandboxBindingStore",
    "PythonResult",
    "Sandbox",
    "SandboxBackendUnknown",
    "SandboxBinding",
    "SandboxBindingStore",
    "SandboxClosed",
    "SandboxDead",
    "SandboxError",
    "SandboxFileNotFound",
    "SandboxFileTooLarge",
    "SandboxInfo",
    "SandboxLimits",
    "SandboxManager",
    "SandboxPathInvalid",
    "SandboxPool",
    "SandboxPoolExhausted",
    "SandboxProtocolError",
    "SandboxQuotaExceeded",
    "SandboxSpec",
    "SandboxStatus",
    "SandboxTimeout",
    "SandboxType",
    "SandboxUnavailable",
    "UnsafeProcessSandbox",
    "backend_names",
    "create_sandbox",
    "register_backend",
    "release_session",
]


_LAZY = {
    "BrowserSandbox": "roost.sandbox.browser",
    "create_browser_sandbox": "roost.sandbox.browser",
    "GuiSandbox": "roost.sandbox.gui",
    "create_gui_sandbox": "roost.sandbox.gui",
    "DockerSandbox": "roost.sandbox.docker",
    "KubernetesSandbox": "roost.sandbox.kubernetes",
    "RemoteSandbox": "roost.sandbox.remote",
    "RemoteSandboxManager": "roost.sandbox.remote",
    "create_app": "roost.sandbox.server",
    "sandbox_toolkit": "roost.sandbox.tools",
    "register_sandbox_tools": "roost.sandbox.tools",
}
__all__ += list(_LAZY)


def __getattr__(name: str) -> object:
    # backends with heavy or optional dependencies load on first use
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'roost.sandbox' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
