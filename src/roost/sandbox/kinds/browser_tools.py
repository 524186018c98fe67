"""The ``browser_*`` agent tools, acting on the session's browser sandbox."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from roost.core import ImageBlock, SandboxError, TextBlock
from roost.sandbox.base import Sandbox, SandboxProvider
from roost.sandbox.kinds.base_tools import base_tools
from roost.tools import Tool


def _as_browser(sandbox: Sandbox) -> Any:
    if not all(hasattr(sandbox, m) for m in ("open", "extract_links", "tabs")):
        raise SandboxError(
            "the session's sandbox is not a browser sandbox",
            hint="acquire a sandbox of type 'browser' for the browser_* tools",
        )
    return sandbox


def _page_text(state: dict[str, Any]) -> str:
    status = f", HTTP {state['status']}" if state.get("status") is not None else ""
    return (
        f"tab {state.get('tab', 0)}: {state.get('title') or '(no title)'} <{state['url']}>{status}"
    )


def browser_tools(provider: SandboxProvider) -> list[Tool]:
    """The ``browser_*`` agent tools, acting on the session's browser sandbox."""

    async def browser() -> Any:
        return _as_browser(await provider())

    async def browser_open(url: str) -> str:
        """Open a URL (http, https, file) or a file of the sandbox workdir in the active tab.

        Args:
            url: Absolute URL, or a path relative to the sandbox workdir.
        """
        return _page_text(await (await browser()).open(url))

    async def browser_click(selector: str) -> str:
        """Click the first element matching a CSS selector (or text=..., role=...).

        Args:
            selector: e.g. 'a#next', 'text=Sign in', 'button[type=submit]'.
        """
        return _page_text(await (await browser()).click(selector))

    async def browser_type(selector: str, text: str, submit: bool = False) -> str:
        """Fill an input field with text, optionally pressing Enter afterwards.

        Args:
            selector: CSS selector of the input.
            text: The text to put in the field.
            submit: Press Enter after typing.
        """
        return _page_text(await (await browser()).type(selector, text, submit=submit))

    async def browser_extract_text(selector: str | None = None) -> str:
        """The visible text of the page, or of the first element matching selector.

        Args:
            selector: Optional CSS selector; the whole page when omitted.
        """
        text: str = await (await browser()).extract_text(selector)
        return text[:20_000] or "(no text)"

    async def browser_extract_links() -> str:
        """The links of the page as 'text -> href' lines."""
        links = await (await browser()).extract_links()
        return (
            "\n".join(f"{link['text'] or '(no text)'} -> {link['href']}" for link in links)
            or "(no links)"
        )

    async def browser_screenshot() -> list[TextBlock | ImageBlock]:
        """A PNG screenshot of the active tab's viewport."""
        sandbox = await browser()
        image = await sandbox.screenshot()
        return [TextBlock(text="screenshot of the active tab"), image]

    async def browser_back() -> str:
        """Go back in the active tab's history."""
        return _page_text(await (await browser()).back())

    async def browser_forward() -> str:
        """Go forward in the active tab's history."""
        return _page_text(await (await browser()).forward())

    async def browser_new_tab(url: str | None = None) -> str:
        """Open a new tab (optionally at a URL); it becomes the active tab.

        Args:
            url: Optional URL or workdir path to open in the new tab.
        """
        return _page_text(await (await browser()).new_tab(url))

    async def browser_switch_tab(index: int) -> str:
        """Make another tab the active one.

        Args:
            index: Tab index as listed by browser_tabs.
        """
        return _page_text(await (await browser()).switch_tab(index))

    async def browser_close_tab(index: int) -> str:
        """Close a tab (not the last one).

        Args:
            index: Tab index as listed by browser_tabs.
        """
        tabs = await (await browser()).close_tab(index)
        return _tabs_text(tabs)

    async def browser_tabs() -> str:
        """List the open tabs; the active one is marked with '*'."""
        return _tabs_text(await (await browser()).tabs())

    funcs: list[Callable[..., Any]] = [
        browser_open,
        browser_click,
        browser_type,
        browser_extract_text,
        browser_extract_links,
        browser_screenshot,
        browser_back,
        browser_forward,
        browser_new_tab,
        browser_switch_tab,
        browser_close_tab,
        browser_tabs,
    ]
    return [Tool.from_function(f) for f in funcs]


def _tabs_text(tabs: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{'*' if t['active'] else ' '} {t['index']}: {t['title'] or '(no title)'} <{t['url']}>"
        for t in tabs
    )


def toolset(provider: SandboxProvider) -> list[Tool]:
    """A browser sandbox's tools: the base tools and ``browser_*``."""
    return [*base_tools(provider), *browser_tools(provider)]
