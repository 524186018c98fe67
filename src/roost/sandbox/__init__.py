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
from roost.sandbox.manager import SandboxManager
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
]
