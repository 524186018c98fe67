"""Errors of the HTTP service; each has a stable ``code`` and the HTTP ``status`` it maps to.

A missing (or someone else's) session or run is the store's ``SessionNotFound`` /
``RunNotFound``: one class per code, so catching one catches every such error.
"""

from __future__ import annotations

from roost.core import Conflict, NotFound, RoostError


class AgentNotFound(NotFound):
    """No agent with that name is registered on this app."""

    code = "agent_not_found"


class TaskNotFound(NotFound):
    """No background task with that id."""

    code = "task_not_found"


class RunNotActive(Conflict):
    """The run already finished, so it cannot be canceled or approved."""

    code = "run_not_active"


class RouteNotFound(NotFound):
    """No route matches this path."""

    code = "route_not_found"


class MethodNotAllowed(Conflict):
    """The route exists but not for this HTTP method."""

    code = "method_not_allowed"
    status = 405


class ServerShuttingDown(RoostError):
    """The server is stopping and takes no new runs; retry on another replica."""

    code = "server_shutting_down"
    status = 503
    retryable = True


class UnsupportedMediaType(RoostError):
    """The request body is not JSON: its Content-Type names another format."""

    code = "unsupported_media_type"
    status = 415
