"""The GUI sandbox: a real Xvfb desktop inside bwrap, xdotool input, framebuffer shots."""

from __future__ import annotations

import asyncio
import struct
import zlib
from pathlib import Path

import pytest

from roost.core import InvalidRequest
from roost.sandbox import SandboxSpec, create_sandbox
from roost.sandbox.kinds.gui import GuiSandbox, create_gui_sandbox
from roost.sandbox.tools import sandbox_toolkit


def _png_pixels(png: bytes) -> tuple[int, int, bytes]:
    """Width, height and raw RGB rows (filter bytes stripped) of our own PNGs."""
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", png[16:24])
    idat = b""
    pos = 8
    while pos < len(png):
        length = struct.unpack(">I", png[pos : pos + 4])[0]
        kind = png[pos + 4 : pos + 8]
        if kind == b"IDAT":
            idat += png[pos + 8 : pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = 1 + width * 3
    assert len(raw) == height * stride
    return width, height, b"".join(raw[y * stride + 1 : (y + 1) * stride] for y in range(height))


async def _wait_gone(sandbox: GuiSandbox, name: str) -> None:
    for _ in range(100):
        if not await sandbox.windows(name):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"window {name!r} still open")


async def test_desktop_launch_screenshot_and_keyboard() -> None:
    sandbox = create_gui_sandbox(SandboxSpec(), sandbox_id=None)
    async with sandbox:
        assert sandbox.display is not None and sandbox.info().type == "gui"
        width, height, before = _png_pixels((await sandbox.screenshot()).to_bytes())
        assert (width, height) == (1280, 800)
        assert set(before) == {0}, "an empty Xvfb screen is black"

        pid = await sandbox.launch(
            "xmessage", ["-default", "okay", "-geometry", "+40+40", "hello from roost"]
        )
        assert pid > 0
        window = await sandbox.wait_for_window("xmessage")
        assert (window["x"], window["y"]) == (40, 40)
        _, _, after = _png_pixels((await sandbox.screenshot()).to_bytes())
        assert after != before and 255 in after, "the white xmessage window is on screen"

        # Without a window manager focus follows the pointer: hover, then Return = okay.
        await sandbox.move(int(window["x"]) + 5, int(window["y"]) + 5)
        await sandbox.key("Return")
        await _wait_gone(sandbox, "xmessage")

        await sandbox.launch("xmessage", ["-geometry", "+10+10", "second"])
        await sandbox.wait_for_window("xmessage")
        await sandbox.click(15, 15)
        await sandbox.type("typed text")

        with pytest.raises(InvalidRequest):
            await sandbox.click(5000, 10)
        with pytest.raises(InvalidRequest):
            await sandbox.key("ctrl+c; rm -rf /")
        with pytest.raises(InvalidRequest):
            await sandbox.launch("no-such-program-xyz")
        with pytest.raises(InvalidRequest):
            await sandbox.click(10, None)

        # Xvfb and the launched programs run in the sandbox, as its uid.
        uid = sandbox.info().detail["uid"]
        cgroup_pids = set()
        for path in sandbox.info().detail["cgroups"]:
            procs = Path(path) / "cgroup.procs"
            if procs.exists():
                cgroup_pids.update(int(p) for p in procs.read_text().split())
        xvfb = [p for p in cgroup_pids if b"Xvfb" in _cmdline(p)]
        assert xvfb and all(_uid(p) == uid for p in xvfb)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _uid(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return next(int(x.split()[1]) for x in status.splitlines() if x.startswith("Uid:"))


async def test_desktop_comes_back_after_the_sandbox_restarts() -> None:
    sandbox = create_gui_sandbox()
    async with sandbox:
        first = sandbox.display
        restart = sandbox.inner.restart  # type: ignore[attr-defined]
        await restart("test restart")
        assert first is not None
        # A live X server again: a new program gets a window.
        await sandbox.launch("xmessage", ["after restart"])
        assert (await sandbox.wait_for_window("xmessage"))["width"] > 0
        assert (await sandbox.screenshot()).to_bytes().startswith(b"\x89PNG")


async def test_desktop_comes_back_after_xvfb_is_killed_inside() -> None:
    async with create_gui_sandbox() as sandbox:
        killed = await sandbox.run_shell("kill -9 $(pidof Xvfb) && echo killed")
        assert killed.stdout.strip() == "killed"
        await sandbox.move(10, 10)
        await sandbox.launch("xmessage", ["back again"])
        assert await sandbox.wait_for_window("xmessage")


async def test_gui_backend_and_agent_tools() -> None:
    sandbox = create_sandbox(SandboxSpec(type="gui"), backend="bwrap")
    assert isinstance(sandbox, GuiSandbox)
    async with sandbox:

        async def provide() -> GuiSandbox:
            return sandbox

        toolkit = sandbox_toolkit(provide, types=("gui",))
        assert {"gui_screenshot", "gui_click", "gui_launch", "execute_shell"} <= set(toolkit.names)
        launched = await toolkit.call("gui_launch", program="xmessage", args=["tool test"])
        assert not launched.is_error and "pid" in launched.text
        await sandbox.wait_for_window("xmessage")
        listed = await toolkit.call("gui_windows")
        assert "xmessage" in listed.text
        shot = await toolkit.call("gui_screenshot")
        assert shot.content[-1].type == "image"
        bad = await toolkit.call("gui_key", combo="$(reboot)")
        assert bad.is_error and bad.code == "invalid_request"
