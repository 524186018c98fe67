"""The browser sandbox: real Chromium inside bwrap isolation, driven by Playwright."""

from __future__ import annotations

import asyncio
import functools
import http.server
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from roost.core import InvalidRequest
from roost.sandbox import SandboxLimits, SandboxSpec
from roost.sandbox.kinds.browser import (
    BrowserActionFailed,
    BrowserNavigationFailed,
    BrowserSandbox,
    browser_spec,
    create_browser_sandbox,
)
from roost.sandbox.tools import sandbox_toolkit

PAGE_A = """<html><head><title>Page A</title></head><body>
<h1>Hello Roost</h1><p id=msg>first page</p>
<a href="b.html">to page B</a> <a href="https://example.invalid/x">external</a>
<form action="b.html"><input id=q name=q></form>
</body></html>"""
PAGE_B = "<html><head><title>Page B</title></head><body><p>second page</p></body></html>"


def _sandbox_processes(sandbox: BrowserSandbox) -> dict[int, tuple[int, str]]:
    """pid -> (real uid, command line) of every process in the sandbox's cgroups."""
    detail = sandbox.info().detail
    out: dict[int, tuple[int, str]] = {}
    for path in detail["cgroups"]:
        procs = Path(path) / "cgroup.procs"
        if not procs.exists():
            continue
        for line in procs.read_text().split():
            pid = int(line)
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            uid = next(int(x.split()[1]) for x in status.splitlines() if x.startswith("Uid:"))
            out[pid] = (uid, cmdline.decode(errors="replace"))
    return out


async def test_browser_actions_on_workdir_pages_and_isolation() -> None:
    sandbox = create_browser_sandbox()
    async with sandbox:
        await sandbox.write_file("a.html", PAGE_A)
        await sandbox.write_file("b.html", PAGE_B)

        state = await sandbox.open("a.html")
        assert state == {
            "url": "file:///workspace/a.html",
            "title": "Page A",
            "tab": 0,
            "status": 200,
        }
        assert await sandbox.extract_text("#msg") == "first page"
        assert "Hello Roost" in await sandbox.extract_text()
        links = await sandbox.extract_links()
        assert {"text": "to page B", "href": "file:///workspace/b.html"} in links
        assert len(links) == 2

        typed = await sandbox.type("#q", "roost", submit=True)
        assert typed["title"] == "Page B" and "q=roost" in typed["url"]
        assert (await sandbox.back())["title"] == "Page A"
        assert (await sandbox.forward())["title"] == "Page B"
        assert (await sandbox.back())["title"] == "Page A"
        assert (await sandbox.click("text=to page B"))["title"] == "Page B"

        png = (await sandbox.screenshot()).to_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 1000

        tab = await sandbox.new_tab("a.html")
        assert tab["tab"] == 1 and tab["title"] == "Page A"
        tabs = await sandbox.tabs()
        assert [(t["title"], t["active"]) for t in tabs] == [("Page B", False), ("Page A", True)]
        assert (await sandbox.switch_tab(0))["title"] == "Page B"
        assert [t["title"] for t in await sandbox.close_tab(1)] == ["Page B"]
        with pytest.raises(BrowserActionFailed):
            await sandbox.close_tab(0)
        with pytest.raises(BrowserActionFailed):
            await sandbox.switch_tab(5)
        with pytest.raises(InvalidRequest):
            await sandbox.open("javascript:alert(1)")
        with pytest.raises(InvalidRequest):
            await sandbox.open("../../etc/passwd")

        # Chromium runs inside the sandbox: in its cgroups, as its unprivileged uid.
        processes = _sandbox_processes(sandbox)
        chromium = [pid for pid, (_, cmd) in processes.items() if "chromium" in cmd]
        assert chromium, processes
        uid = sandbox.info().detail["uid"]
        assert {u for u, _ in processes.values()} == {uid}
        if os.geteuid() == 0:
            assert uid != 0
        # The browser's own view of the filesystem is the sandbox's: no host files.
        with pytest.raises(BrowserNavigationFailed) as hidden:
            await sandbox.open("file:///etc/shadow")
        assert "ERR_FILE_NOT_FOUND" in hidden.value.message

        # A crashed Chromium is started again by the next action; the kernel is untouched.
        await sandbox.run_python("kept = 1")
        main = [
            pid
            for pid, (_, cmd) in processes.items()
            if cmd.startswith("/usr/lib/chromium/chromium") and "--type=" not in cmd
        ]
        assert len(main) == 1
        os.kill(main[0], signal.SIGKILL)
        for _ in range(100):
            if not sandbox._browser.is_connected():  # type: ignore[union-attr]
                break
            await asyncio.sleep(0.05)
        assert (await sandbox.open("a.html"))["title"] == "Page A"
        assert (await sandbox.run_python("kept")).result == "1"
        processes = _sandbox_processes(sandbox)
    assert not [pid for pid in processes if _running(pid)], "closing kills every process"


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped by its (host) parent."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def host_http_server(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "index.html").write_text("<title>Host page</title><p>served by the host</p>")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    server.shutdown()
    server.server_close()


async def test_browser_with_network_loads_an_http_page(host_http_server: str) -> None:
    async with create_browser_sandbox(SandboxSpec(network=True)) as sandbox:
        state = await sandbox.open(host_http_server)
        assert state["status"] == 200 and state["title"] == "Host page"
        assert await sandbox.extract_text("p") == "served by the host"


def test_browser_spec_gets_chromium_sized_limits_unless_set() -> None:
    assert browser_spec(None).limits.memory_mb == 1024
    assert browser_spec(None).limits.pids == 512
    explicit = browser_spec(SandboxSpec(limits=SandboxLimits(memory_mb=700)))
    assert (explicit.type, explicit.limits.memory_mb, explicit.limits.pids) == ("browser", 700, 512)


async def test_browser_agent_tools_without_network(host_http_server: str) -> None:
    sandbox = create_browser_sandbox(SandboxSpec(network=False))
    async with sandbox:
        # No network: the host's loopback server (another net namespace) is unreachable.
        with pytest.raises(BrowserNavigationFailed) as err:
            await sandbox.open(host_http_server)
        assert "network=True" in (err.value.hint or "")

        async def provide() -> BrowserSandbox:
            return sandbox

        toolkit = sandbox_toolkit(provide, types=("browser",))
        assert {"execute_python", "browser_open", "browser_screenshot", "browser_tabs"} <= set(
            toolkit.names
        )
        await toolkit.call("write_file", path="p.html", content=PAGE_A)
        opened = await toolkit.call("browser_open", url="p.html")
        assert not opened.is_error and "Page A" in opened.text, opened.text
        links = await toolkit.call("browser_extract_links")
        assert "to page B -> file:///workspace/b.html" in links.text
        shot = await toolkit.call("browser_screenshot")
        assert shot.content[-1].type == "image"
        bad = await toolkit.call("browser_open", url="ftp://x")
        assert bad.is_error and bad.code == "invalid_request"
        offline = await toolkit.call("browser_open", url=host_http_server)
        assert offline.is_error and offline.code == "browser_navigation_failed"
