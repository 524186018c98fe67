"""Fixtures of the console tests: one served app and one headless Debian Chromium per
module (starting them is most of the cost), a fresh browser context per test."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from console_app import console_app
from server_support import ADMIN_KEY, Served, serve, stop


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The module's app, with a ROOST_HOME of its own: it starts before the per-test
    ROOST_HOME of tests/conftest.py, and keys it makes (the secret store's master key,
    the audit signing key) must not land in the real ~/.roost."""
    from roost.core.settings import get_settings

    db = tmp_path_factory.mktemp("console") / "roost.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ROOST_HOME", str(tmp_path_factory.mktemp("console-home")))
        get_settings.cache_clear()
        s = serve(console_app(ADMIN_KEY, f"sqlite:///{db}"))
        get_settings.cache_clear()
    yield s
    stop(s)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    playwright = pytest.importorskip("playwright.sync_api")
    from roost.sandbox.kinds.browser_launch import find_chromium

    try:
        executable = find_chromium()
    except Exception as exc:  # no Debian chromium: say so
        pytest.skip(f"Debian chromium is not installed: {exc}")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, console: Served) -> Iterator[Any]:
    context = browser.new_context(base_url=console.url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    p = context.new_page()
    yield p
    context.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the tests save screenshots: ``ROOST_CONSOLE_SCREENSHOTS`` (docs/console is
    made that way) or a temporary folder."""
    wanted = os.environ.get("ROOST_CONSOLE_SCREENSHOTS")
    path = Path(wanted) if wanted else tmp_path_factory.mktemp("shots")
    path.mkdir(parents=True, exist_ok=True)
    return path
