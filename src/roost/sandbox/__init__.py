"""Isolated code, files, browser and desktop for agents: the ``Sandbox`` API, the one
registry of backends and sandbox types, pools, the session manager and the agent tools.

Layout: ``isolation/`` (cgroups, uid drop, seccomp, workdirs, the in-sandbox kernel and
its channel), ``backends/`` (bwrap, unsafe-process, docker, kubernetes, remote),
``kinds/`` (browser, gui, the agent tools of each type), ``service/`` (the HTTP service
and the MCP server). Public names are re-exported here.
"""

from typing import TYPE_CHECKING

from roost.sandbox.backends.bwrap import BwrapSandbox
from roost.sandbox.backends.process import UnsafeProcessSandbox
from roost.sandbox.base import (
    ExecResult,
    FileInfo,
    PythonResult,
    Sandbox,
    SandboxInfo,
    SandboxLimits,
    SandboxProvider,
    SandboxSpec,
    SandboxStatus,
    SandboxType,
)
from roost.sandbox.bindings import (
    InMemorySandboxBindingStore,
    SandboxBinding,
    SandboxBindingStore,
)
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
from roost.sandbox.registry import (
    DEFAULT_BACKEND,
    SandboxRegistry,
    backend_names,
    create_sandbox,
    register_backend,
    registry,
)

if TYPE_CHECKING:
    from roost.sandbox.backends.docker import DockerSandbox
    from roost.sandbox.backends.docker_spec import DockerConfig
    from roost.sandbox.backends.k8s_manifests import KubernetesConfig
    from roost.sandbox.backends.kubernetes import KubernetesSandbox
    from roost.sandbox.backends.remote import RemoteSandbox, RemoteSandboxManager
    from roost.sandbox.kinds.browser import BrowserSandbox, create_browser_sandbox
    from roost.sandbox.kinds.gui import GuiSandbox, create_gui_sandbox
    from roost.sandbox.service.server import create_app
    from roost.sandbox.tools import register_sandbox_tools, sandbox_toolkit

__all__ = [
    "DEFAULT_BACKEND",
    "BrowserSandbox",
    "BwrapSandbox",
    "DockerConfig",
    "DockerSandbox",
    "ExecResult",
    "FileInfo",
    "GuiSandbox",
    "InMemorySandboxBindingStore",
    "KubernetesConfig",
    "KubernetesSandbox",
    "PythonResult",
    "RemoteSandbox",
    "RemoteSandboxManager",
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
    "SandboxProvider",
    "SandboxQuotaExceeded",
    "SandboxRegistry",
    "SandboxSpec",
    "SandboxStatus",
    "SandboxTimeout",
    "SandboxType",
    "SandboxUnavailable",
    "UnsafeProcessSandbox",
    "backend_names",
    "create_app",
    "create_browser_sandbox",
    "create_gui_sandbox",
    "create_sandbox",
    "register_backend",
    "register_sandbox_tools",
    "registry",
    "release_session",
    "sandbox_toolkit",
]


_LAZY = {
    "BrowserSandbox": "roost.sandbox.kinds.browser",
    "create_browser_sandbox": "roost.sandbox.kinds.browser",
    "GuiSandbox": "roost.sandbox.kinds.gui",
    "create_gui_sandbox": "roost.sandbox.kinds.gui",
    "DockerConfig": "roost.sandbox.backends.docker_spec",
    "DockerSandbox": "roost.sandbox.backends.docker",
    "KubernetesConfig": "roost.sandbox.backends.k8s_manifests",
    "KubernetesSandbox": "roost.sandbox.backends.kubernetes",
    "RemoteSandbox": "roost.sandbox.backends.remote",
    "RemoteSandboxManager": "roost.sandbox.backends.remote",
    "create_app": "roost.sandbox.service.server",
    "sandbox_toolkit": "roost.sandbox.tools",
    "register_sandbox_tools": "roost.sandbox.tools",
}


def __getattr__(name: str) -> object:
    # backends with heavy or optional dependencies load on first use
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'roost.sandbox' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
