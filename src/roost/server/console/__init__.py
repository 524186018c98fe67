"""The web console: a small single-page app (plain ES modules, uPlot for charts) served by
the Roost server itself at ``/`` and ``/console/…``, every file inside the package
(decision 0210). It reads only the authenticated ``/v1`` API."""

from __future__ import annotations

from roost.server.console.routes import PAGES, is_public, pages_for, routes

__all__ = ["PAGES", "is_public", "pages_for", "routes"]
