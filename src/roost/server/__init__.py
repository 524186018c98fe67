"""The agent service: ``AgentApp`` (ASGI), the streaming protocol, runs, auth, OpenAI API.

``from roost.server import AgentApp`` is cheap: Starlette, the store and huey are
imported when the app starts, not here.
"""

from typing import TYPE_CHECKING

from roost._lazy import lazy_names
from roost.server.app import AgentApp, AgentSpec, BusyPolicy
from roost.server.auth import Principal
from roost.server.context import AgentContext
from roost.server.errors import (
    AgentNotFound,
    MethodNotAllowed,
    RouteNotFound,
    RunNotActive,
    ServerShuttingDown,
    TaskNotFound,
    UnsupportedMediaType,
)
from roost.server.observer import RunInfo, RunObserver

if TYPE_CHECKING:
    from roost.store import RunNotFound, SessionNotFound

__getattr__ = lazy_names(__name__, {"RunNotFound": "roost.store", "SessionNotFound": "roost.store"})

__all__ = [
    "AgentApp",
    "AgentContext",
    "AgentNotFound",
    "AgentSpec",
    "BusyPolicy",
    "MethodNotAllowed",
    "Principal",
    "RouteNotFound",
    "RunInfo",
    "RunNotActive",
    "RunNotFound",
    "RunObserver",
    "ServerShuttingDown",
    "SessionNotFound",
    "TaskNotFound",
    "UnsupportedMediaType",
]
