"""The ``browser`` sandbox: headless Chromium INSIDE the sandbox isolation, driven with
Playwright from outside it.

Playwright is told that the browser executable is a generated wrapper script; the
wrapper enters the sandbox's cgroups, drops to its unprivileged uid and execs bwrap
around Debian's chromium, so the browser process tree has the sandbox's namespaces (no
network unless ``network=True``), uid, seccomp filter and limits. Playwright talks to it
over ``--remote-debugging-pipe`` (inherited fds), which needs no network at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import shutil
import stat
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from roost.core import (
    ImageBlock,
    InvalidRequest,
    SandboxError,
    SandboxTimeout,
    SandboxUnavailable,
    TextBlock,
)
from roost.sandbox._wrapped import WrappedSandbox
from roost.sandbox.backends import orphan_reaper, register_backend
from roost.sandbox.base import (
    Sandbox,
    SandboxInfo,
    SandboxSpec,
)
from roost.sandbox.tools import SandboxProvider, base_tools, register_toolset
from roost.tools import Tool

if TYPE_CHECKING:
    from roost.sandbox.bwrap import BwrapSandbox

__all__ = [
    "BROWSER_MIN_LIMITS",
    "CHROMIUM_FLAGS",
    "BrowserActionFailed",
    "BrowserNavigationFailed",
    "BrowserSandbox",
    "IsolatedCommand",
    "browser_spec",
    "browser_tools",
    "bwrap_isolation",
    "create_browser_sandbox",
    "find_chromium",
]

CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-dev-shm-usage",
    "--disable-breakpad",
    "--disable-crash-reporter",
    "--password-store=basic",
    "--use-mock-keychain",
]
"""Flags that keep Chromium quiet, offline-friendly and working inside the sandbox
(``--no-sandbox``: Chromium's own sandbox needs privileges the sandbox has dropped)."""

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


def find_chromium() -> str:
    """The Chromium binary to run inside the sandbox (Debian's real binary, not the
    ``/usr/bin/chromium`` shell wrapper, which reads host config files)."""
    for candidate in (
        os.environ.get("ROOST_CHROMIUM"),
        "/usr/lib/chromium/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise SandboxUnavailable(
        "Chromium is not installed", hint="apt-get install chromium (or set ROOST_CHROMIUM)"
    )


class IsolatedCommand:
    """How to start one more process inside an existing sandbox's isolation: the full
    argv (bwrap … program), its environment, and what the launcher applies before exec
    (cgroups, rlimits, uid drop, files handed over as fds)."""

    def __init__(
        self,
        argv: list[str],
        *,
        env: dict[str, str],
        procs_files: list[str],
        rlimits: dict[int, int],
        uid: int,
        gid: int,
        drop: bool,
        fd_files: dict[str, bytes],
        workdir_inside: str,
    ) -> None:
        self.argv = argv
        self.env = env
        self.procs_files = procs_files
        self.rlimits = rlimits
        self.uid = uid
        self.gid = gid
        self.drop = drop
        self.fd_files = fd_files
        """``{placeholder}`` in the argv → bytes the process reads from an inherited fd."""
        self.workdir_inside = workdir_inside


IsolationFactory = Callable[[list[str]], Awaitable[IsolatedCommand]]
"""Given the program argv, returns how to run it inside the sandbox."""


def write_launcher(directory: Path, command: IsolatedCommand) -> Path:
    """Write the wrapper script + launcher config into a root-only directory; returns the
    script to hand to Playwright as ``executable_path``."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(directory, 0o700)
    fd_files: dict[str, str] = {}
    for i, (placeholder, data) in enumerate(command.fd_files.items()):
        path = directory / f"fd{i}"
        path.write_bytes(data)
        fd_files[placeholder] = str(path)
    config = {
        "argv": command.argv,
        "env": command.env,
        "procs_files": command.procs_files,
        "rlimits": {str(k): v for k, v in command.rlimits.items()},
        "uid": command.uid,
        "gid": command.gid,
        "drop": command.drop,
        "fd_files": fd_files,
    }
    config_path = directory / "launch.json"
    config_path.write_text(json.dumps(config))
    launcher = Path(__file__).with_name("_browser_launcher.py")
    script = directory / "chromium"
    script.write_text(
        "#!/bin/sh\n"
        f'exec {_sh(sys.executable)} -I -S {_sh(str(launcher))} {_sh(str(config_path))} "$@"\n'
    )
    os.chmod(script, stat.S_IRWXU)
    return script


_EXTRA_BINDS = ("/etc/fonts", "/usr/share/fonts", "/var/cache/fontconfig")
"""Read-only paths Chromium needs beyond what a base sandbox binds (fonts)."""


def bwrap_isolation(sandbox: BwrapSandbox) -> IsolationFactory:
    """Run programs in the same isolation as a started bwrap sandbox: its uid, cgroups,
    rlimits, seccomp filter, workdir and network setting (a second bwrap instance)."""

    async def isolate(program: list[str]) -> IsolatedCommand:
        from roost.sandbox import _privdrop, _seccomp
        from roost.sandbox.bwrap import WORKDIR, sandbox_python

        lease = getattr(sandbox, "_lease", None)
        cgroup = getattr(sandbox, "_cgroup", None)
        if lease is None or cgroup is None or sandbox.workdir is None:
            raise SandboxError("the sandbox is not started", hint="call start() first")
        python, binds = sandbox_python()
        argv = sandbox._argv(python, binds, -1, -2)
        tail = [python, "-I", "-c"]
        if argv[-4:-1] != tail or "--seccomp" not in argv:
            raise SandboxError("unexpected bwrap command line shape; update browser.py")
        argv = argv[:-4]
        argv[argv.index("--seccomp") + 1] = "{seccomp_fd}"
        argv[argv.index("--ro-bind-data") + 1] = "{passwd_fd}"
        at = argv.index("--seccomp")
        for path in _EXTRA_BINDS:
            argv[at:at] = ["--ro-bind-try", path, path]
        limits = sandbox.spec.limits
        rlimits = {
            resource.RLIMIT_CORE: 0,
            resource.RLIMIT_FSIZE: limits.max_file_mb << 20,
            resource.RLIMIT_NOFILE: 4096,
        }
        if _privdrop.is_root():
            rlimits[resource.RLIMIT_NPROC] = limits.pids
        passwd = (
            f"root:x:0:0::/:/usr/sbin/nologin\n"
            f"sandbox:x:{lease.uid}:{lease.gid}::{WORKDIR}:/bin/sh\n"
        )
        env = sandbox._env()
        env.update(
            {"HOME": WORKDIR, "XDG_CONFIG_HOME": "/tmp/.config", "XDG_CACHE_HOME": "/tmp/.cache"}
        )
        return IsolatedCommand(
            [*argv, *program],
            env=env,
            procs_files=list(cgroup.procs_files),
            rlimits=rlimits,
            uid=lease.uid,
            gid=lease.gid,
            drop=_privdrop.is_root(),
            fd_files={"{seccomp_fd}": _seccomp.build_filter(), "{passwd_fd}": passwd.encode()},
            workdir_inside=WORKDIR,
        )

    return isolate


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
    from roost.sandbox import _privdrop
    from roost.sandbox.bwrap import BwrapSandbox

    spec = browser_spec(spec)
    inner = BwrapSandbox(spec, sandbox_id=sandbox_id)
    launcher_dir = _privdrop.runtime_dir() / "browser" / inner.id
    return BrowserSandbox(inner, bwrap_isolation(inner), launcher_dir=launcher_dir, timeout=timeout)


def _sh(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


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


# -- agent tools and backend registration -------------------------------------------------
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


def _bwrap_browser(spec: SandboxSpec) -> Sandbox:
    return create_browser_sandbox(spec)


async def _reap_browser(detail: dict[str, Any]) -> None:
    """A dead manager's browser sandbox: the bwrap reaper kills its cgroup (Chromium
    included); the launcher directory goes too."""
    reap = orphan_reaper("bwrap")
    if reap is not None:
        await reap(detail)
    workdir = detail.get("workdir")
    if workdir:
        from roost.sandbox import _privdrop

        launcher_dir = _privdrop.runtime_dir() / "browser" / Path(workdir).name
        await asyncio.to_thread(shutil.rmtree, launcher_dir, True)


register_backend("bwrap-browser", _bwrap_browser, reaper=_reap_browser)
register_toolset("browser", lambda provider: [*base_tools(provider), *browser_tools(provider)])
