"""The ``browser`` sandbox: headless Chromium INSIDE the sandbox isolation, driven with
Playwright from outside it.

Playwright is told that the browser executable is a generated wrapper script
(:mod:`browser_launch`); the wrapper enters the sandbox's cgroups, drops to its
unprivileged uid and execs bwrap around Debian's chromium, so the browser process tree
has the sandbox's namespaces (no network unless ``network=True``), uid, seccomp filter
and limits. Playwright talks to it over ``--remote-debugging-pipe`` (inherited fds),
which needs no network at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from roost.core import (
    ImageBlock,
    InvalidRequest,
    SandboxError,
    SandboxTimeout,
    SandboxUnavailable,
)
from roost.sandbox.backends.bwrap import BwrapSandbox, IsolatedCommand
from roost.sandbox.base import Sandbox, SandboxInfo, SandboxSpec
from roost.sandbox.isolation.privdrop import runtime_dir
from roost.sandbox.kinds.browser_launch import CHROMIUM_FLAGS, find_chromium, write_launcher
from roost.sandbox.kinds.wrapped import WrappedSandbox

__all__ = [
    "BROWSER_MIN_LIMITS",
    "BrowserActionFailed",
    "BrowserNavigationFailed",
    "BrowserSandbox",
    "browser_spec",
    "create_browser_sandbox",
]

IsolationFactory = Callable[[list[str]], Awaitable[IsolatedCommand]]
"""Given the program argv, returns how to run it inside the sandbox."""
_MAX_TEXT = 200_000
_SUPERSEDED = ("interrupted by another navigation", "net::ERR_ABORTED")
"""A goto that lost a race with Chromium's own error page: worth one more try."""
_T = TypeVar("_T")


class BrowserNavigationFailed(SandboxError):
    """The page could not be loaded (unreachable host, no network, bad URL)."""

    code = "browser_navigation_failed"
    status = 502


class BrowserActionFailed(SandboxError):
    """A browser action failed (no element matches the selector, no such tab …)."""

    code = "browser_action_failed"
    status = 422


BROWSER_MIN_LIMITS: dict[str, float] = {"memory_mb": 1024, "pids": 512, "cpu": 2.0}
"""Chromium runs ~110 threads and ~150 MB for one tab and starts several processes at
once: limits a browser sandbox gets unless the caller set them explicitly."""


def browser_spec(spec: SandboxSpec | None) -> SandboxSpec:
    """The spec with type ``browser`` and Chromium-sized limits where none were given."""
    spec = spec or SandboxSpec()
    unset = {k: v for k, v in BROWSER_MIN_LIMITS.items() if k not in spec.limits.model_fields_set}
    limits = spec.limits.model_copy(update=unset)
    return spec.model_copy(update={"type": "browser", "limits": limits})


def create_browser_sandbox(
    spec: SandboxSpec | None = None, *, sandbox_id: str | None = None, timeout: float = 30.0
) -> BrowserSandbox:
    """A browser sandbox on the default (bwrap) backend."""
    inner = BwrapSandbox(browser_spec(spec), sandbox_id=sandbox_id)
    return BrowserSandbox.around(inner, timeout=timeout)


class _SharedDriver:
    """One Playwright driver (a node process) per event loop, shared by every browser
    sandbox of the process: starting it costs ~0.5 s, a browser launch through it does
    not. Stopped when the last browser sandbox closes."""

    def __init__(self) -> None:
        self._playwright: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._users = 0
        self._lock: asyncio.Lock | None = None

    async def acquire(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # A new event loop (tests, a restarted server): the old driver is unusable.
            self._playwright, self._loop, self._users = None, loop, 0
            self._lock = asyncio.Lock()
        assert self._lock is not None
        async with self._lock:
            if self._playwright is None:
                try:
                    from playwright.async_api import async_playwright
                except ImportError as exc:  # pragma: no cover - playwright is an extra
                    raise SandboxUnavailable(
                        "the browser sandbox needs Playwright",
                        hint="pip install 'roost[browser]'",
                    ) from exc
                self._playwright = await async_playwright().start()
            self._users += 1
            return self._playwright

    async def release(self) -> None:
        if self._loop is not asyncio.get_running_loop() or self._lock is None:
            return
        async with self._lock:
            self._users -= 1
            if self._users <= 0 and self._playwright is not None:
                playwright, self._playwright, self._users = self._playwright, None, 0
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(playwright.stop(), 10)


_DRIVER = _SharedDriver()


class BrowserSandbox(WrappedSandbox):
    """A sandbox with a headless browser: the wrapped sandbox's API plus ``open``,
    ``click``, ``type``, ``extract_text``, ``extract_links``, ``screenshot``, ``back``,
    ``forward`` and tabs. Every action is serialised (one page is driven at a time)."""

    @classmethod
    def around(cls, inner: Sandbox, *, timeout: float = 30.0) -> BrowserSandbox:
        """A browser in the isolation of ``inner``, a (not yet started) bwrap sandbox."""
        if not isinstance(inner, BwrapSandbox):
            raise SandboxUnavailable(
                "browser sandboxes run on the bwrap backend only",
                hint="use backend 'bwrap' for type 'browser'",
            )
        launcher_dir = runtime_dir() / "browser" / inner.id
        return cls(inner, inner.isolated, launcher_dir=launcher_dir, timeout=timeout)

    def __init__(
        self,
        inner: Sandbox,
        isolate: IsolationFactory,
        *,
        launcher_dir: Path,
        viewport: tuple[int, int] = (1280, 800),
        timeout: float = 30.0,
    ) -> None:
        super().__init__(inner)
        self._isolate = isolate
        self._launcher_dir = launcher_dir
        self.viewport = viewport
        self.timeout = timeout
        self._lock = asyncio.Lock()
        self._playwright: Any = None
        self._browser: Any = None
        self._context: Any = None
        self._pages: list[Any] = []
        self._active = 0
        self._workdir_inside = "/"
        self._restarts_seen = 0
        self._started = False

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        await self.inner.start()
        if self._browser is not None:
            return
        try:
            await self._launch()
        except BaseException:
            await self._shutdown_browser()
            await self.inner.close()
            raise

    async def _launch(self) -> None:
        self._restarts_seen = self._restarts()
        self._started = True
        command = await self._isolate([find_chromium()])
        self._workdir_inside = command.workdir_inside
        script = await asyncio.to_thread(write_launcher, self._launcher_dir, command)
        self._playwright = await _DRIVER.acquire()
        try:
            self._browser = await self._playwright.chromium.launch(
                executable_path=str(script),
                args=CHROMIUM_FLAGS,
                headless=True,
                timeout=self.timeout * 1000,
                chromium_sandbox=False,
                handle_sigint=False,
                handle_sigterm=False,
                handle_sighup=False,
            )
        except Exception as exc:
            raise SandboxError(
                f"Chromium did not start in the sandbox: {_first_line(exc)}",
                hint="raise limits.memory_mb (Chromium needs ~300 MB) and limits.pids (~64)",
            ) from exc
        self._context = await self._browser.new_context(
            viewport={"width": self.viewport[0], "height": self.viewport[1]},
            accept_downloads=False,
            service_workers="block",
        )
        self._context.set_default_timeout(self.timeout * 1000)
        self._pages = [await self._context.new_page()]
        self._active = 0

    async def _shutdown_browser(self) -> None:
        browser, playwright = self._browser, self._playwright
        self._browser = self._playwright = self._context = None
        self._pages = []
        if browser is not None:
            # Already gone with the sandbox: nothing left to release.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(browser.close(), 10)
        if playwright is not None:
            await _DRIVER.release()
        await asyncio.to_thread(shutil.rmtree, self._launcher_dir, True)

    async def close(self) -> None:
        await self._shutdown_browser()
        await self.inner.close()

    def info(self) -> SandboxInfo:
        info = self.inner.info()
        detail = {**info.detail, "tabs": len(self._pages), "active_tab": self._active}
        return info.model_copy(update={"type": "browser", "detail": detail})

    # -- browser --------------------------------------------------------------------------
    def _alive(self) -> bool:
        return (
            self._browser is not None
            and bool(self._browser.is_connected())
            and self._restarts() == self._restarts_seen
        )

    async def _ensure_browser(self) -> None:
        """Relaunch Chromium when it died or the sandbox was restarted (a restart kills
        every process in it): tabs are gone, workdir files stay."""
        if self._browser is None and self._playwright is None and not self._started:
            raise SandboxError("the browser is not running", hint="call start() first")
        if self._alive():
            return
        await self._shutdown_browser()
        await self._launch()

    def _page(self) -> Any:
        if self._browser is None or not self._pages:
            raise SandboxError("the browser is not running", hint="call start() first")
        return self._pages[self._active]

    async def _run(self, what: str, action: Callable[[], Awaitable[_T]]) -> _T:
        from playwright.async_api import Error as PlaywrightError
        from playwright.async_api import TimeoutError as PlaywrightTimeout

        async with self._lock:
            await self._ensure_browser()
            try:
                return await action()
            except PlaywrightTimeout as exc:
                raise SandboxTimeout(
                    f"{what} timed out after {self.timeout}s: {_first_line(exc)}",
                    hint="check the selector, or that the page finished loading",
                ) from exc
            except PlaywrightError as exc:
                message = _first_line(exc)
                if "net::" in message or "Navigation" in message or "goto" in message:
                    offline = "net::" in message and "file://" not in message
                    hint = (
                        "this sandbox has no network; create it with network=True"
                        if offline and not self.spec.network
                        else "check the URL (file:// URLs see only the sandbox's files)"
                    )
                    raise BrowserNavigationFailed(f"{what} failed: {message}", hint=hint) from exc
                raise BrowserActionFailed(f"{what} failed: {message}") from exc

    def _url(self, url: str) -> str:
        """Absolute URLs pass through; a bare path means a file in the sandbox workdir."""
        if not url:
            raise InvalidRequest("url is empty", hint="e.g. https://example.com or index.html")
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if scheme in ("http", "https", "file", "about", "data"):
            return url
        if scheme:
            raise InvalidRequest(
                f"URL scheme {scheme!r} is not allowed", hint="use http, https, file or a path"
            )
        if url.startswith("/") or ".." in url.split("/"):
            raise InvalidRequest(
                f"{url!r} is not a workdir path", hint="use a path relative to the workdir"
            )
        return "file://" + self._workdir_inside.rstrip("/") + "/" + url

    async def _state(self, page: Any) -> dict[str, Any]:
        return {"url": page.url, "title": await page.title(), "tab": self._active}

    async def open(self, url: str) -> dict[str, Any]:
        """Navigate the active tab; returns url, title and HTTP status."""
        target = self._url(url)

        async def go() -> dict[str, Any]:
            from playwright.async_api import Error as PlaywrightError

            page = self._page()
            for attempt in (1, 2, 3):
                try:
                    response = await page.goto(target, wait_until="load")
                    break
                except PlaywrightError as exc:
                    # A failed navigation loads Chromium's error page; let it settle so
                    # the next goto is not "interrupted by another navigation".
                    with _suppress_timeout():
                        await page.wait_for_load_state("load", timeout=5000)
                    if "interrupted by another navigation" in str(exc) and page.url == target:
                        response = None  # superseded by a navigation to the same page
                        break
                    superseded = any(m in str(exc) for m in _SUPERSEDED)
                    if attempt == 3 or not superseded:
                        raise
            state = await self._state(page)
            state["status"] = response.status if response is not None else None
            return state

        return await self._run(f"open {target}", go)

    def _ms(self, timeout: float | None) -> float:
        if timeout is not None and not 0 < timeout <= 600:
            raise InvalidRequest("timeout must be between 0 and 600 seconds")
        return (timeout if timeout is not None else self.timeout) * 1000

    async def click(self, selector: str, *, timeout: float | None = None) -> dict[str, Any]:
        """Click the first element matching a CSS/Playwright selector (waiting up to
        ``timeout`` seconds for it to appear)."""
        ms = self._ms(timeout)

        async def act() -> dict[str, Any]:
            page = self._page()
            await page.locator(selector).first.click(timeout=ms)
            with _suppress_timeout():
                await page.wait_for_load_state("load", timeout=5000)
            return await self._state(page)

        return await self._run(f"click {selector!r}", act)

    async def type(
        self, selector: str, text: str, *, submit: bool = False, timeout: float | None = None
    ) -> dict[str, Any]:
        """Fill the first input matching ``selector`` with text (Enter when ``submit``)."""
        ms = self._ms(timeout)

        async def act() -> dict[str, Any]:
            page = self._page()
            field = page.locator(selector).first
            await field.fill(text, timeout=ms)
            if submit:
                await field.press("Enter")
                with _suppress_timeout():
                    await page.wait_for_load_state("load", timeout=5000)
            return await self._state(page)

        return await self._run(f"type into {selector!r}", act)

    async def extract_text(
        self, selector: str | None = None, *, timeout: float | None = None
    ) -> str:
        """Visible text of the page, or of the first element matching ``selector``."""
        ms = self._ms(timeout)

        async def act() -> str:
            page = self._page()
            text: str = await page.locator(selector or "body").first.inner_text(timeout=ms)
            return text[:_MAX_TEXT]

        return await self._run("extract text", act)

    async def extract_links(self) -> list[dict[str, str]]:
        """Links of the page: text and absolute href."""

        async def act() -> list[dict[str, str]]:
            links: list[dict[str, str]] = await self._page().eval_on_selector_all(
                "a[href]",
                "els => els.map(a => ({text: (a.innerText || '').trim(), href: a.href}))",
            )
            return links[:2000]

        return await self._run("extract links", act)

    async def screenshot(self, *, full_page: bool = False) -> ImageBlock:
        """The active tab's viewport (or whole page) as a PNG image block."""

        async def act() -> ImageBlock:
            png = await self._page().screenshot(type="png", full_page=full_page)
            return ImageBlock.from_bytes(png, "image/png")  # type: ignore[no-any-return]

        return await self._run("screenshot", act)

    async def back(self) -> dict[str, Any]:
        async def act() -> dict[str, Any]:
            page = self._page()
            await page.go_back(wait_until="load")
            return await self._state(page)

        return await self._run("back", act)

    async def forward(self) -> dict[str, Any]:
        async def act() -> dict[str, Any]:
            page = self._page()
            await page.go_forward(wait_until="load")
            return await self._state(page)

        return await self._run("forward", act)

    async def new_tab(self, url: str | None = None) -> dict[str, Any]:
        """Open a tab (and navigate it when ``url`` is given); it becomes the active tab."""

        async def act() -> dict[str, Any]:
            page = await self._context.new_page()
            self._pages.append(page)
            self._active = len(self._pages) - 1
            return await self._state(page)

        state = await self._run("new tab", act)
        return await self.open(url) if url else state

    def _check_tab(self, index: int) -> None:
        if not 0 <= index < len(self._pages):
            raise BrowserActionFailed(
                f"no tab {index}; there are {len(self._pages)}",
                hint="tabs() lists the open tabs",
            )

    async def switch_tab(self, index: int) -> dict[str, Any]:
        self._check_tab(index)

        async def act() -> dict[str, Any]:
            self._active = index
            page = self._pages[index]
            await page.bring_to_front()
            return await self._state(page)

        return await self._run("switch tab", act)

    async def close_tab(self, index: int) -> list[dict[str, Any]]:
        """Close a tab; the last tab cannot be closed (open another first)."""
        self._check_tab(index)
        if len(self._pages) == 1:
            raise BrowserActionFailed("cannot close the last tab", hint="open a new tab first")

        async def act() -> None:
            page = self._pages.pop(index)
            await page.close()
            if self._active >= len(self._pages) or self._active > index:
                self._active = max(0, self._active - 1)

        await self._run("close tab", act)
        return await self.tabs()

    async def tabs(self) -> list[dict[str, Any]]:
        async def act() -> list[dict[str, Any]]:
            return [
                {"index": i, "url": p.url, "title": await p.title(), "active": i == self._active}
                for i, p in enumerate(self._pages)
            ]

        return await self._run("tabs", act)


class _suppress_timeout:
    """Ignore Playwright's TimeoutError (waiting for a load that may not come)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        from playwright.async_api import TimeoutError as PlaywrightTimeout

        return exc_type is not None and issubclass(exc_type, PlaywrightTimeout)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
